"""The chat's shared routing snapshot (web/chat_state.py): one read of routing serves every waiting visitor
of a process for a moment, and a visitor who just joined the line is never answered from before it."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from routing import adapter
from web import chat_state


@pytest.mark.django_db
def test_the_snapshot_is_shared_for_a_moment_and_read_again_for_a_newcomer(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[Any] = []
    real = adapter.load

    def counting(now: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(now)
        return real(now, *args, **kwargs)

    monkeypatch.setattr(chat_state.adapter, "load", counting)
    now = timezone.now()
    first = chat_state.routing_snapshot(now)
    assert chat_state.routing_snapshot(now) is first and len(loads) == 1
    chat_state.routing_snapshot(now, must_know=987654)  # not in the snapshot's line: read again
    assert len(loads) == 2
    monkeypatch.setattr(chat_state, "SNAPSHOT_SECONDS", 0.0)
    chat_state.routing_snapshot(now)
    assert len(loads) == 3
