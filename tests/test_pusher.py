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


def test_flush_waits_for_what_was_handed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short-lived process (a script, a command) flushes at exit, so its last events are not lost."""
    monkeypatch.setattr(pusher, "_server_loop", None)  # as in a process that serves no websocket
    pushed: list[int] = []

    async def slow() -> None:
        await asyncio.sleep(0.2)
        pushed.append(1)

    pusher.submit(slow)
    assert pusher.flush(timeout=5)
    assert pushed == [1]


def test_flush_is_registered_to_run_at_exit() -> None:
    import subprocess
    import sys

    script = (
        "import asyncio, sys\n"
        "from hub.events import pusher\n"
        "async def late():\n"
        "    await asyncio.sleep(0.3)\n"
        "    sys.stdout.write('pushed'); sys.stdout.flush()\n"
        "pusher.submit(late)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout == "pushed"
