"""Tornado request handlers: the JSON HTTP API, health, metrics and the client's pages."""
