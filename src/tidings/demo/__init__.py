"""The bundled offline demo: a small news site that Tidings can watch without internet."""
