"""How the hub tells routing that something changed. Sent only after the change has committed.

The routing engine (routing/core) and its adapter connect receivers here; the hub sends without knowing
who listens, so the hub never imports routing's internals.
"""

from __future__ import annotations

from django.dispatch import Signal

# conversation_id: int, reason: "new" | "reopened" | "customer_message" | "transferred" | "unassigned"
conversation_needs_agent = Signal()
# conversation_id: int
conversation_resolved = Signal()
# user_id: int, presence: str
agent_presence_changed = Signal()
