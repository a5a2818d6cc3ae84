"""Live feeds: the WebSocket handler, the local subscription registry and the brokers."""
