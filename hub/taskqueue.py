"""Running background tasks: on Celery when a broker is configured, otherwise in-process.

The in-process runner is what `make run` uses: one daemon thread with a timer heap. It honours the task's
own retry policy (autoretry_for, retry_backoff, retry_backoff_max, max_retries), so a task behaves the same
on both. `sync` mode (tests) runs a task at once and keeps its retries in a list for the test to drain.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)


@dataclass
class _PeriodicTask:
    seconds: float
    func: Callable[[], Any]
    name: str = "periodic"


@dataclass(order=True)
class _Job:
    due: float
    order: int
    task: Task | _PeriodicTask = field(compare=False)
    args: tuple[Any, ...] = field(compare=False)
    retries: int = field(default=0, compare=False)


class InProcessRunner:
    def __init__(self) -> None:
        self._heap: list[_Job] = []
        self._cond = threading.Condition()
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._periodic: list[tuple[float, Callable[[], Any]]] = []
        self.sync = False

    def submit(self, task: Task, args: tuple[Any, ...], countdown: float = 0, retries: int = 0) -> None:
        job = _Job(time.monotonic() + countdown, next(self._counter), task, args, retries)
        if self.sync and countdown == 0:
            self._run(job)
            return
        with self._cond:
            heapq.heappush(self._heap, job)
            self._cond.notify()
        if not self.sync:
            self._ensure_thread()

    def every(self, seconds: float, func: Callable[[], Any]) -> None:
        """Run `func` every `seconds` on the runner's thread (the embedded stand-in for Celery beat)."""
        with self._cond:
            self._periodic.append((seconds, func))
            heapq.heappush(self._heap, _Job(time.monotonic() + seconds, next(self._counter),
                                            _PeriodicTask(seconds, func), ()))
            self._cond.notify()
        self._ensure_thread()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def drain(self, ignore_countdown: bool = True, limit: int = 1000) -> int:
        """Run queued jobs now, in due order (tests). Returns how many ran."""
        ran = 0
        while ran < limit:
            with self._cond:
                if not self._heap:
                    break
                if not ignore_countdown and self._heap[0].due > time.monotonic():
                    break
                job = heapq.heappop(self._heap)
            self._run(job)
            ran += 1
        return ran

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="hub-tasks", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0].due > time.monotonic():
                    timeout = (self._heap[0].due - time.monotonic()) if self._heap else None
                    self._cond.wait(timeout)
                job = heapq.heappop(self._heap)
            self._run(job)

    def _run(self, job: _Job) -> None:
        task = job.task
        if isinstance(task, _PeriodicTask):
            try:
                close_old_connections()
                task.func()
            except Exception:
                logger.exception("periodic job %s failed", task.func)
            finally:
                close_old_connections()
                if not self.sync:
                    self.submit_job(_Job(time.monotonic() + task.seconds, next(self._counter), task, ()))
            return
        task.push_request(retries=job.retries, id=f"inprocess-{job.order}", args=job.args)
        try:
            close_old_connections()
            task.run(*job.args)
        except Exception as exc:
            autoretry = tuple(getattr(task, "autoretry_for", ()) or ())
            max_retries = task.max_retries if task.max_retries is not None else 0
            if autoretry and isinstance(exc, autoretry) and job.retries < max_retries:
                backoff = getattr(task, "retry_backoff", False)
                countdown = get_exponential_backoff_interval(
                    factor=int(backoff) if backoff else 3, retries=job.retries,
                    maximum=getattr(task, "retry_backoff_max", 600),
                    full_jitter=getattr(task, "retry_jitter", True),
                ) if backoff else 3
                logger.info("task %s%r failed (%s); retry %d in %ss", task.name, job.args, exc,
                            job.retries + 1, countdown)
                # Never run a retry inline, even with no delay: in sync mode a test drains them.
                self.submit_job(_Job(time.monotonic() + countdown, next(self._counter), task, job.args,
                                     job.retries + 1))
            else:
                logger.exception("task %s%r failed", task.name, job.args)
        finally:
            task.pop_request()
            close_old_connections()

    def submit_job(self, job: _Job) -> None:
        with self._cond:
            heapq.heappush(self._heap, job)
            self._cond.notify()
        if not self.sync:
            self._ensure_thread()



runner = InProcessRunner()


def enqueue(task: Task, *args: Any, countdown: float = 0) -> None:
    """Run `task(*args)` in the background. Call after commit (transaction.on_commit)."""
    mode = settings.TASK_MODE
    if mode == "celery":
        task.apply_async(args=args, countdown=countdown)
        return
    runner.sync = mode == "sync"
    runner.submit(task, args, countdown=countdown)
