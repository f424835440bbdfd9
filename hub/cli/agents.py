"""API tokens from the command line (`hub token`). Agents are created by hub.actions.agents.do_create_agent."""

from __future__ import annotations


def api_token(username: str) -> str:
    """The user's API token, created on first request."""
    from hub.api.tokens import token_for

    return token_for(username)
