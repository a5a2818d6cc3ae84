"""voting: a self-hosted, horizontally scalable real-time voting server."""

__version__ = "0.1.0"
