"""Finding ONVIF devices on the local network (WS-Discovery) and watching them:
messages.py (the protocol's messages), probe.py (probing and collecting answers), add.py
(monitors for what was found), command.py (`ronda discover`)."""
