"""Start-up objects frozen out of the garbage collector's full passes (hub/gc_freeze.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from hub.gc_freeze import freeze_after_startup


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test run collects as before


def test_startup_objects_are_frozen_with_every_view_loaded(unfrozen: None) -> None:
    import sys

    frozen = freeze_after_startup()
    assert frozen == gc.get_freeze_count() > 10_000
    assert "hub.api.views.conversation_actions" in sys.modules  # loaded before, not in the first request


def test_the_web_process_freezes_before_it_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.cli import server

    order: list[str] = []
    monkeypatch.setattr("hub.gc_freeze.freeze_after_startup", lambda: order.append("freeze") or 0)
    monkeypatch.setattr(server._Server, "run", lambda self: order.append("serve"))
    server._run_daphne(["tcp:port=0:interface=127.0.0.1"], on_ready=lambda: None, access_log=False, failure="")
    assert order == ["freeze", "serve"]


def test_a_worker_freezes_when_ready_and_in_each_pool_child(monkeypatch: pytest.MonkeyPatch) -> None:
    from celery import signals

    import hub.celery  # noqa: F401 - connects the receivers

    calls: list[Any] = []
    monkeypatch.setattr("hub.gc_freeze.freeze_after_startup", lambda: calls.append(1) or 0)
    signals.worker_ready.send(sender=None)
    signals.worker_process_init.send(sender=None)
    assert len(calls) == 2
