"""The web process: JSON API, websocket feed, admin pages, /health and /metrics."""
