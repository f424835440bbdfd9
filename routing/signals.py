"""How the hub tells routing that something changed. Sent only after the change has committed.

The routing engine (routing/core) and its adapter connect receivers here; the hub sends without knowing
who listens, so the hub never imports routing's internals.
"""

from __future__ import annotations

from django.dispatch import Signal

# conversation_id: int, reason: "new" | "reopened" | "transferred" | "unassigned" | "woken"
conversation_needs_agent = Signal()
# conversation_id: int
conversation_resolved = Signal()
# user_id: int, presence: str
agent_presence_changed = Signal()
# conversation_id: int, agent_id: int (assigned to that agent, by an accepted offer, a transfer or by hand;
# not sent for routing's own assignments without an offer, which the router already knows)
conversation_assigned = Signal()
# conversation_id: int, agent_id: int
offer_declined = Signal()
# conversation_id: int (a call in it ended: whether it holds its agent exclusively is read again)
call_ended = Signal()
# conversation_id: int. Something routing reads of a conversation changed while it stays unresolved: it was
# snoozed or woken (a snoozed conversation waits for its time, not for an agent, and holds no capacity), or
# reopened with its agent, or its priority, escalation, or its customer's tier or language changed. Routing
# reads the conversation as it is when it acts, so these may arrive in any order and more than once.
conversation_changed = Signal()
