"""Getting committed events onto the channel layer without making the writer wait.

The writer (a request, the in-process task runner, a Celery worker) is sync code. It hands the events to an
event loop and goes on:
- the loop of this process's ASGI server, once a consumer has connected here (`adopt_running_loop`). The
  in-memory channel layer keeps asyncio queues, which are only safe to use from the loop their consumers
  wait on; it is also the cheapest hop;
- otherwise a private loop on a daemon thread (a Celery worker or a process with no consumers, where only
  a cross-process layer such as channels-redis makes sense).
Events are pushed one batch at a time, in the order they were handed over, by a single drainer per loop.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Batch = Callable[[], Awaitable[None]]

_lock = threading.Lock()
_server_loop: asyncio.AbstractEventLoop | None = None
_private_loop: asyncio.AbstractEventLoop | None = None
_private_pid = 0  # a forked child (a Celery prefork worker) inherits the loop object but not its thread
_queues: dict[asyncio.AbstractEventLoop, asyncio.Queue[Batch]] = {}
_drainers: set[asyncio.Task[None]] = set()  # strong references: the loop only keeps weak ones


def adopt_running_loop() -> None:
    """Called from a consumer: pushes from any thread of this process now go to this loop."""
    global _server_loop
    loop = asyncio.get_running_loop()
    with _lock:
        _server_loop = loop


def _usable(loop: asyncio.AbstractEventLoop | None) -> bool:
    return loop is not None and loop.is_running() and not loop.is_closed()


def _private() -> asyncio.AbstractEventLoop:
    global _private_loop, _private_pid
    with _lock:
        if _usable(_private_loop) and _private_pid == os.getpid():
            assert _private_loop is not None
            return _private_loop
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()

        threading.Thread(target=run, name="hub-event-pusher", daemon=True).start()
        started.wait(5)
        _private_loop, _private_pid = loop, os.getpid()
        return loop


def _target() -> asyncio.AbstractEventLoop:
    with _lock:
        server = _server_loop
    if _usable(server):
        assert server is not None
        return server
    return _private()


async def _drain(queue: asyncio.Queue[Batch]) -> None:
    while True:
        batch = await queue.get()
        try:
            await batch()
        except Exception:  # clients fill gaps from the database; never let the drainer die
            logger.exception("realtime push failed")


def _enqueue_on_loop(batch: Batch) -> None:
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = asyncio.Queue()
        task = loop.create_task(_drain(queue))
        _drainers.add(task)
        task.add_done_callback(_drainers.discard)
        # Forget queues of loops that are gone (test suites create many loops).
        for old in [lp for lp in _queues if lp.is_closed()]:
            _queues.pop(old, None)
    queue.put_nowait(batch)


def submit(batch: Batch) -> None:
    """Schedule `batch()` on the push loop, after every batch submitted before it."""
    loop = _target()
    try:
        loop.call_soon_threadsafe(_enqueue_on_loop, batch)
    except RuntimeError:  # the loop closed between the check and the call
        _private().call_soon_threadsafe(_enqueue_on_loop, batch)


def flush(timeout: float = 2.0) -> bool:
    """Wait until what this process handed to its private loop has been pushed. A short-lived process (a
    management command, a script, a worker shutting down) would otherwise exit with its last events unsent,
    and clients would see them only with their next event or on reconnecting. Runs at exit; returns False
    if `timeout` passed first."""
    with _lock:
        loop = _private_loop if _private_pid == os.getpid() else None
    if loop is None or not _usable(loop):
        return True
    done = threading.Event()

    async def marker() -> None:  # queued after every batch submitted before it
        done.set()

    try:
        loop.call_soon_threadsafe(_enqueue_on_loop, marker)
    except RuntimeError:
        return True
    return done.wait(timeout)


atexit.register(flush)

