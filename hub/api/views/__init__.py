"""API views, one module per resource. A view parses input, reads through hub.access and calls one action."""
