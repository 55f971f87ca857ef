"""One ronda process: the service (scheduler, store, notifications) and the web face wired
together, above both."""
