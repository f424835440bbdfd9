"""Reading a Slack request body: the Events API's JSON, or the form-encoded bodies of interactivity and
slash commands (`payload=<json>` / `team_id=...`), which the hub acknowledges without handling."""

from __future__ import annotations

import json
from typing import Any

from connectors.base import InboundRequest, MalformedRequest


def is_form(request: InboundRequest) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


def json_body(request: InboundRequest) -> dict[str, Any]:
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(f"the body is not JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise MalformedRequest("the body is not a JSON object")
    return payload


def team_id(request: InboundRequest) -> str | None:
    """The workspace a request is for. None (the default account) for url_verification, which names none."""
    if is_form(request):
        team: Any = request.form.get("team_id")
        if team is None and "payload" in request.form:
            try:
                interactive = json.loads(request.form["payload"])
            except ValueError as exc:
                raise MalformedRequest(f"the payload field is not JSON ({exc})") from exc
            found = interactive.get("team") if isinstance(interactive, dict) else None
            team = found.get("id") if isinstance(found, dict) else None
    else:
        team = json_body(request).get("team_id")
    if team is None:
        return None
    if not isinstance(team, str) or not team.strip():
        raise MalformedRequest("team_id must be a non-empty string")
    return team.strip()


def event_id(request: InboundRequest) -> str | None:
    if is_form(request):
        return None
    payload = json_body(request)
    found = payload.get("event_id")
    if payload.get("type") != "event_callback" or found is None:
        return None
    if not isinstance(found, str) or not found or len(found) > 255:
        raise MalformedRequest("event_id must be a string of 1 to 255 characters")
    return found
