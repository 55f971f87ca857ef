"""Pure rules: how incidents move, their scope, when users' reports surge, maintenance
windows, heartbeat timing, and which monitors a status page shows. Functions of their
inputs and a moment passed in; nothing here imports the service, storage or web code."""
