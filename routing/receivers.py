"""The hub's signals (sent after commit) turned into routing tasks: in the background with Celery or the
in-process runner, at once in tests (HUB_TASK_MODE=sync)."""

from __future__ import annotations

import time
from typing import Any

from routing import signals


def _enqueue(task_name: str, *args: Any) -> None:
    # Imported late: the task module imports the adapter, which imports the hub's actions that send these.
    from hub import tasks
    from hub.taskqueue import enqueue

    enqueue(getattr(tasks, task_name), *args)


def _needs_agent(sender: Any, conversation_id: int, reason: str = "new", **kwargs: Any) -> None:
    _enqueue("routing_needs_agent", conversation_id, reason)


def _resolved(sender: Any, conversation_id: int, **kwargs: Any) -> None:
    _enqueue("routing_resolved", conversation_id)


def _presence(sender: Any, user_id: int, presence: str, **kwargs: Any) -> None:
    _enqueue("routing_presence", user_id, presence)


def _assigned(sender: Any, conversation_id: int, agent_id: int, **kwargs: Any) -> None:
    _enqueue("routing_assigned", conversation_id, agent_id)


def _declined(sender: Any, conversation_id: int, agent_id: int, **kwargs: Any) -> None:
    _enqueue("routing_declined", conversation_id, agent_id)


def _changed(sender: Any, conversation_id: int, **kwargs: Any) -> None:
    _enqueue("routing_changed", conversation_id)


def _call_ended(sender: Any, conversation_id: int, **kwargs: Any) -> None:
    _enqueue("routing_tick", time.time())  # whether a call holds its agent is read by a reload


def connect() -> None:
    signals.conversation_needs_agent.connect(_needs_agent, dispatch_uid="routing.needs_agent")
    signals.conversation_resolved.connect(_resolved, dispatch_uid="routing.resolved")
    signals.agent_presence_changed.connect(_presence, dispatch_uid="routing.presence")
    signals.conversation_assigned.connect(_assigned, dispatch_uid="routing.assigned")
    signals.offer_declined.connect(_declined, dispatch_uid="routing.declined")
    signals.call_ended.connect(_call_ended, dispatch_uid="routing.call_ended")
    signals.conversation_changed.connect(_changed, dispatch_uid="routing.changed")
