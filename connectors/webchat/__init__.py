"""Web chat: the widget on customers' sites (web/static/web/widget.js) talking to /ws/chat/ (docs/chat.md).

The connector is small: visitors' messages arrive over the hub's own websocket, and an agent's reply needs
no provider (the visitor's connection reads it from the database). What is channel-specific and free of the
database lives here: the account's widget settings, visitor tokens, signed upload and attachment references,
identity verification and the checks on uploaded files.
"""
