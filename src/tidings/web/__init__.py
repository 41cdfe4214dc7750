"""The web side of Tidings: the REST API under /api/v1 with accounts (``auth``, ``security``),
alert feeds, WebSub callbacks; ``app.create_app`` assembles them."""
