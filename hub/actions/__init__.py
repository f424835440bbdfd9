"""Every write goes through here: check_* validates and authorizes, do_* changes data and then notifies.
Views, consumers, connectors and tasks parse input and call these."""


class ActionError(ValueError):
    """A request that cannot be carried out; the message is shown to the user (API: 400)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
