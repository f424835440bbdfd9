from __future__ import annotations

import asyncio
import threading

import pytest

from hub.events import pusher


def _run_batch() -> list[int]:
    done = threading.Event()
    seen: list[int] = []

    async def batch() -> None:
        seen.append(1)
        done.set()

    pusher.submit(batch)
    assert done.wait(5)
    return seen


def test_batches_run_in_order_on_a_private_loop_without_a_server() -> None:
    order: list[int] = []
    done = threading.Event()

    def make(i: int) -> pusher.Batch:
        async def batch() -> None:
            await asyncio.sleep(0.01 if i % 2 else 0)  # later batches must still wait for earlier ones
            order.append(i)
            if i == 9:
                done.set()

        return batch

    for i in range(10):
        pusher.submit(make(i))
    assert done.wait(5)
    assert order == list(range(10))


def test_a_forked_child_starts_its_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run_batch() == [1]
    first = pusher._private_loop
    monkeypatch.setattr(pusher.os, "getpid", lambda: -1)  # as in a child after fork
    assert _run_batch() == [1]
    assert pusher._private_loop is not first


def test_a_failing_batch_does_not_stop_the_next(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("redis went away")

    pusher.submit(broken)
    assert _run_batch() == [1]
    assert "realtime push failed" in caplog.text
