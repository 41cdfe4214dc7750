"""The web side of Tidings: HTTP endpoints (for now the WebSub callback)."""
