"""Routing's writes: a conversation entering a queue, offers made, answered, expired or withdrawn, and
assignments by routing. routing/adapter.py decides with the engine; these apply each decision in one
transaction and check it again under row locks, because several processes may route at once:

- the conversation's routing entry is locked (SKIP LOCKED: another router holding it is placing it);
- the agent's profile row is locked, and their load counted from the database under that lock, so two
  routers giving the same agent work are serialized and the second sees the first's commit.

A decision that no longer holds (the agent left, the conversation was answered meanwhile) is skipped;
the next routing round decides again from fresh state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from hub import audit
from hub.actions import ActionError, calls
from hub.actions.agents import do_set_presence
from hub.actions.conversations import assign_locked, do_assign
from hub.events import schema
from hub.events.payloads import conversation_data
from hub.events.publish import publish
from hub.models import AgentProfile, Conversation, RoutingEntry, RoutingOffer, RoutingQueue
from hub.querysets import only_row
from routing.core.engine import AgentRecord, can_take
from routing.signals import offer_declined

# An accept that reaches us this long after the offer's expiry still counts, if the offer is still open:
# the agent clicked in time and the network was slow.
ACCEPT_GRACE = dt.timedelta(seconds=2)
ACTIVE_STATUSES = (Conversation.Status.OPEN, Conversation.Status.PENDING)


def needs_agent(conv: Conversation) -> bool:
    """Whether routing should find the conversation an agent: nobody holds it, and it is neither resolved
    nor snoozed (a snoozed conversation waits for its time; the customer writing, or the time coming, wakes
    it)."""
    return conv.assignee_id is None and conv.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class OfferAnswer:
    offer: RoutingOffer
    conversation: Conversation | None  # assigned to the agent, when accepted


def _routing_transaction() -> None:
    """Called first in each routing transaction. Routing's writes are derived state: if the server
    crashed right after such a commit, the next round would rebuild an offer or assignment it lost, and
    clients resuming past the lost events are told to reload. So these commits do not wait for the disk
    (PostgreSQL's synchronous_commit off for this transaction only). That matters because every commit
    that publishes events holds the change counter until it is durable: with the disk flush inside that
    window, routing's several commits per conversation queued behind each other (docs/PERFORMANCE.md)."""
    # Only as the outermost transaction: inside a caller's transaction (ingestion's, say) SET LOCAL would
    # relax that caller's commit too.
    if connection.vendor == "postgresql" and not connection.savepoint_ids:
        with connection.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit TO OFF")


def _skip_locked() -> bool:
    return bool(connection.features.has_select_for_update_skip_locked)


def agent_record(profile: AgentProfile) -> AgentRecord:
    """The agent's current load as the engine counts it, read from the database: open and pending
    conversations assigned to them, plus their pending offer."""
    record = AgentRecord(profile.user_id, profile.presence, frozenset(), {}, dict(profile.capacity or {}),
                         0.0, 0.0, profile.missed_offers)
    # One statement for both halves; it runs under the agent's lock in every offer and assignment.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, channel, 0 FROM hub_conversation WHERE assignee_id = %s AND status IN (%s, %s) "
            "UNION ALL SELECT e.conversation_id, c.channel, 1 FROM hub_routingentry e "
            "JOIN hub_routingoffer o ON o.id = e.offer_id JOIN hub_conversation c ON c.id = e.conversation_id "
            "WHERE e.state = %s AND o.agent_id = %s",
            [profile.user_id, *ACTIVE_STATUSES, RoutingEntry.State.OFFERED, profile.user_id])
        rows = cur.fetchall()
    held = [(int(cid), str(channel)) for cid, channel, offered in rows if not offered]
    # As routing/adapter.load counts it: a voice conversation is exclusive only while its call lasts.
    for channel in calls.held_channels(held).values():
        record.load[channel] = record.load.get(channel, 0) + 1
        record.total += 1
    for cid, channel, offered in rows:
        if offered:
            record.load[channel] = record.load.get(channel, 0) + 1
            record.total += 1
            record.offer = int(cid)
    return record


def last_agent_of(conversation: Conversation) -> int | None:
    """Who last handled this customer: the sticky agent of a returning customer."""
    return (Conversation.objects.filter(customer_id=conversation.customer_id, assignee__isnull=False)
            .order_by("-assigned_at", "-id").values_list("assignee_id", flat=True).first())


def do_enter_queue(conversation_id: int, queue: RoutingQueue, *, out_of_hours: bool,
                   now: dt.datetime | None = None) -> RoutingEntry | None:
    """The conversation needs an agent: it waits in `queue` (or, out of hours, for its opening, and the
    customer gets the queue's automatic answer once). Nothing happens when it is assigned, resolved, or
    already routed (its entry is returned)."""
    arrived = do_enter_chosen_queue(conversation_id, lambda conv: (queue, out_of_hours), now=now)
    return arrived[0] if arrived is not None else None


def do_enter_chosen_queue(conversation_id: int, choose: Callable[[Conversation], tuple[RoutingQueue, bool]],
                          now: dt.datetime | None = None) -> tuple[RoutingEntry, Conversation] | None:
    """do_enter_queue, with the queue (and whether it is out of hours) chosen by `choose` from the
    conversation as read under its row lock, with its customer. Returns the entry and that conversation;
    None when the conversation needs no agent (assigned, resolved or snoozed)."""
    now = now or timezone.now()
    with transaction.atomic():
        _routing_transaction()
        # One read for the lock, the queue's choice (team, channel, the customer's language and tier) and
        # whether routing already has it: this runs for every new conversation.
        conv = only_row(Conversation.objects.select_for_update(no_key=True, of=("self",))
                        .select_related("customer", "routing").filter(pk=conversation_id))
        if conv is None or not needs_agent(conv):
            return None
        existing: RoutingEntry | None = getattr(conv, "routing", None)
        if existing is not None:
            return existing, conv
        queue, out_of_hours = choose(conv)
        # A customer's first conversation has nobody who handled them before (counted at ingestion).
        sticky = last_agent_of(conv) if conv.customer.conversations_count != 1 else None
        entry = RoutingEntry.objects.create(
            conversation=conv, queue=queue, arrived_at=now, queue_since=now, sticky_agent_id=sticky,
            state=RoutingEntry.State.OUT_OF_HOURS if out_of_hours else RoutingEntry.State.WAITING)
        # The queue it waits in is the one its wallboard figures belong to, answered or not (docs/metrics.md).
        Conversation.objects.filter(pk=conv.pk).update(first_queued_at=conv.first_queued_at or now, queue=queue)
        audit.record("routing.queued", None, conversation=conv, queue=queue.pk, out_of_hours=out_of_hours)
        if out_of_hours and queue.out_of_hours_message.strip():
            _answer_out_of_hours(conv, queue.out_of_hours_message)
            entry.out_of_hours_answered = True
            entry.save(update_fields=["out_of_hours_answered"])
    return entry, conv


def _answer_out_of_hours(conv: Conversation, text: str) -> None:
    from hub.actions.outbound import do_send_auto_reply

    # Without an address to answer on (a channel with no reply path), the conversation still waits.
    with contextlib.suppress(ActionError):
        do_send_auto_reply(conv, text)


def do_move_queue(conversation_id: int, from_queue_id: int, to_queue: RoutingQueue, *, out_of_hours: bool,
                  reason: str, now: dt.datetime | None = None) -> bool:
    """Overflow: a conversation that waited too long moves to another queue, keeping its place by arrival."""
    now = now or timezone.now()
    with transaction.atomic():
        _routing_transaction()
        entry = (RoutingEntry.objects.select_for_update(no_key=True, skip_locked=_skip_locked())
                 .select_related("conversation").filter(pk=conversation_id, queue_id=from_queue_id,
                         state__in=[RoutingEntry.State.WAITING, RoutingEntry.State.OUT_OF_HOURS]).first())
        if entry is None:
            return False
        entry.queue = to_queue
        entry.queue_since = now
        entry.sticky_agent = None
        entry.state = RoutingEntry.State.OUT_OF_HOURS if out_of_hours else RoutingEntry.State.WAITING
        if out_of_hours and not entry.out_of_hours_answered and to_queue.out_of_hours_message.strip():
            _answer_out_of_hours(entry.conversation, to_queue.out_of_hours_message)
            entry.out_of_hours_answered = True
        entry.save()
        Conversation.objects.filter(pk=conversation_id).update(queue=to_queue)
        audit.record("routing.moved", None, conversation=entry.conversation, queue=to_queue.pk,
                     previous=from_queue_id, reason=reason)
    return True


def _lock_routable(conversation_id: int) -> RoutingEntry | None:
    """The conversation's entry, locked, if it is waiting for an agent and nobody else is placing it."""
    routable = [RoutingEntry.State.WAITING, RoutingEntry.State.OUT_OF_HOURS]
    entry = only_row(RoutingEntry.objects.select_for_update(no_key=True, skip_locked=_skip_locked())
                     .filter(pk=conversation_id, state__in=routable))
    if entry is None:
        return None
    # With its customer: the offer's event names them.
    conv = Conversation.objects.select_for_update(no_key=True, of=("self",)).select_related("customer").get(
        pk=conversation_id)
    if not needs_agent(conv):
        entry.delete()  # answered, closed or snoozed by other means meanwhile
        return None
    entry.conversation = conv
    return entry


def _lock_agent_with_room(agent_id: int, channel: str, *, offer: bool) -> AgentProfile | None:
    profile = only_row(AgentProfile.objects.select_for_update(no_key=True, of=("self",)).filter(user_id=agent_id)
                       .select_related("user"))
    if profile is None or not profile.user.is_active:
        return None
    return profile if can_take(agent_record(profile), channel, offer=offer) else None


def _lock_pair(conversation_id: int, agent_id: int, *, offer: bool) -> tuple[RoutingEntry, AgentProfile] | None:
    """Both sides of a routing decision, locked, if both still hold: the conversation waits for an agent
    and the agent has room for it."""
    entry = _lock_routable(conversation_id)
    if entry is None:
        return None
    profile = _lock_agent_with_room(agent_id, entry.conversation.channel, offer=offer)
    return (entry, profile) if profile is not None else None


def do_offer(conversation_id: int, agent_id: int, queue_id: int, expires_at: dt.datetime,
             now: dt.datetime | None = None) -> RoutingOffer | None:
    """Offer the conversation to the agent until `expires_at`, if both are still free for it."""
    now = now or timezone.now()
    with transaction.atomic():
        _routing_transaction()
        locked = _lock_pair(conversation_id, agent_id, offer=True)
        if locked is None:
            return None
        entry, profile = locked
        conv = entry.conversation
        offer = RoutingOffer.objects.create(conversation=conv, agent_id=agent_id, queue_id=queue_id,
                                            created_at=now, expires_at=expires_at)
        entry.state, entry.offer = RoutingEntry.State.OFFERED, offer
        entry.save(update_fields=["state", "offer"])
        AgentProfile.objects.filter(pk=profile.pk).update(last_routed_at=now)
        publish(schema.OfferCreated(offer_id=offer.pk, conversation=conversation_data(conv), expires_at=expires_at),
                [agent_id], conversation_id=conv.pk, customer_id=conv.customer_id)
    return offer


def do_route_assign(conversation_id: int, agent_id: int, queue_id: int | None,
                    now: dt.datetime | None = None) -> Conversation | None:
    """Assign without an offer (channels where nobody waits on the line), if both are still free."""
    now = now or timezone.now()
    with transaction.atomic():
        _routing_transaction()
        locked = _lock_pair(conversation_id, agent_id, offer=False)
        if locked is None:
            return None
        return _assign(*locked, reason="routing", now=now)


def _assign(entry: RoutingEntry, profile: AgentProfile, *, reason: str, now: dt.datetime) -> Conversation:
    """The entry's conversation, locked and read with its customer by the caller, goes to the agent."""
    conv = entry.conversation
    conv.queue_id = entry.queue_id  # saved with the assignment
    entry.delete()
    AgentProfile.objects.filter(pk=profile.pk).update(last_routed_at=now, missed_offers=0)
    return assign_locked(None, conv, profile.user, reason=reason)


def round_after_commit() -> None:
    """A change that alters what routing can do (an answered offer, a queue's configuration): a routing
    round runs once this transaction commits."""
    def enqueue_round() -> None:
        from hub import tasks
        from hub.taskqueue import enqueue

        enqueue(tasks.routing_tick, time.time())

    transaction.on_commit(enqueue_round)


def _close(offer: RoutingOffer, outcome: str, now: dt.datetime) -> None:
    _close_row(offer, outcome, now)
    _publish_closed(offer, outcome)


def _close_row(offer: RoutingOffer, outcome: str, now: dt.datetime) -> None:
    offer.outcome, offer.closed_at = outcome, now
    offer.save(update_fields=["outcome", "closed_at"])


def _publish_closed(offer: RoutingOffer, outcome: str) -> None:
    publish(schema.OfferClosed(offer_id=offer.pk, conversation_id=offer.conversation_id,
                               outcome=outcome),  # type: ignore[arg-type]  # one of the Outcome values
            [offer.agent_id], conversation_id=offer.conversation_id)


def _lock_open_offer(offer_id: int, agent: User | None = None) -> tuple[RoutingOffer, RoutingEntry | None]:
    offers = RoutingOffer.objects.select_for_update(no_key=True)
    if agent is not None:
        offers = offers.filter(agent=agent)
    offer = only_row(offers.filter(pk=offer_id))
    if offer is None:
        raise ActionError("no such offer", field="offer")
    # The conversation is locked with its entry; its customer is read (an accepted offer's events name
    # them) but not locked.
    entry = only_row(RoutingEntry.objects.select_for_update(no_key=True, of=("self", "conversation"))
                     .select_related("conversation__customer")
                     .filter(pk=offer.conversation_id, state=RoutingEntry.State.OFFERED, offer_id=offer.pk))
    return offer, entry


def do_accept_offer(agent: User, offer_id: int, now: dt.datetime | None = None) -> OfferAnswer:
    now = now or timezone.now()
    with transaction.atomic():
        _routing_transaction()
        offer, entry = _lock_open_offer(offer_id, agent)
        if offer.outcome != RoutingOffer.Outcome.PENDING or entry is None:
            raise ActionError(f"this offer is no longer open ({offer.outcome})", field="offer")
        if now > offer.expires_at + ACCEPT_GRACE:
            raise ActionError("this offer has expired", field="offer")
        if not needs_agent(entry.conversation):  # snoozed or resolved before routing withdrew the offer
            raise ActionError("this conversation no longer needs an agent", field="offer")
        profile = (AgentProfile.objects.select_for_update(no_key=True, of=("self",)).select_related("user")
                   .get(user=agent))
        # Every write first, the events last: publishing locks the change counter that every other writer
        # waits for, until this commit (hub/events/publish.py). Publishing the close first held it through
        # the whole assignment, 5 ms here and far longer in a busy web process (docs/PERFORMANCE.md).
        _close_row(offer, RoutingOffer.Outcome.ACCEPTED, now)
        conv = _assign(entry, profile, reason="offer_accepted", now=now)  # routing hears of it from do_assign
        _publish_closed(offer, RoutingOffer.Outcome.ACCEPTED)
    return OfferAnswer(offer, conv)


def do_decline_offer(agent: User, offer_id: int, now: dt.datetime | None = None) -> OfferAnswer:
    now = now or timezone.now()
    with transaction.atomic():
        _routing_transaction()
        offer, entry = _lock_open_offer(offer_id, agent)
        if offer.outcome != RoutingOffer.Outcome.PENDING or entry is None:
            raise ActionError(f"this offer is no longer open ({offer.outcome})", field="offer")
        _back_in_line(entry, offer, declined=True, now=now)
        AgentProfile.objects.filter(user=agent).update(missed_offers=0)
        _close(offer, RoutingOffer.Outcome.DECLINED, now)
        conversation_id, agent_id = offer.conversation_id, offer.agent_id
        transaction.on_commit(lambda: offer_declined.send(sender=RoutingOffer, conversation_id=conversation_id,
                                                          agent_id=agent_id))
    return OfferAnswer(offer, None)


def _back_in_line(entry: RoutingEntry, offer: RoutingOffer, *, declined: bool, now: dt.datetime) -> None:
    entry.state, entry.offer = RoutingEntry.State.WAITING, None
    if declined:
        entry.declined = {**entry.declined, str(offer.agent_id): now.timestamp()}
    if entry.sticky_agent_id == offer.agent_id:
        entry.sticky_agent = None
    entry.save(update_fields=["state", "offer", "declined", "sticky_agent"])


def do_expire_offer(offer_id: int, now: dt.datetime | None = None) -> bool:
    """The offer rang out: the conversation goes back in line, and the agent's missed count goes up."""
    now = now or timezone.now()
    with transaction.atomic():
        _routing_transaction()
        offer, entry = _lock_open_offer(offer_id)
        if offer.outcome != RoutingOffer.Outcome.PENDING or offer.expires_at > now:
            return False
        if entry is not None:
            _back_in_line(entry, offer, declined=True, now=now)
        AgentProfile.objects.filter(user_id=offer.agent_id).update(missed_offers=F("missed_offers") + 1)
        _close(offer, RoutingOffer.Outcome.EXPIRED, now)
    return True


def do_withdraw_offer(offer_id: int, now: dt.datetime | None = None) -> bool:
    """The agent left or the conversation no longer needs an agent: the offer ends without counting
    against the agent."""
    now = now or timezone.now()
    with transaction.atomic():
        _routing_transaction()
        offer, entry = _lock_open_offer(offer_id)
        if offer.outcome != RoutingOffer.Outcome.PENDING:
            return False
        if entry is not None:
            if not needs_agent(entry.conversation):
                entry.delete()
            else:
                _back_in_line(entry, offer, declined=False, now=now)
        _close(offer, RoutingOffer.Outcome.WITHDRAWN, now)
    return True


def do_leave_routing(conversation_id: int, now: dt.datetime | None = None) -> bool:
    """The conversation no longer needs an agent (resolved, snoozed, assigned by hand): its entry goes, and
    a pending offer of it is withdrawn. Checked under the conversation's lock, because the task that
    calls this may run after the conversation was reopened or woken, and entered its queue again."""
    found = list(RoutingEntry.objects.filter(pk=conversation_id).values_list("offer_id", flat=True)[:1])
    if not found:
        # Most conversations resolved were assigned, so routing has no entry: no transaction for that. One
        # entering a queue at this moment is dropped by the next load, or by whoever tries to place it.
        return False
    now = now or timezone.now()
    with transaction.atomic():
        _routing_transaction()
        # The lock order of every routing action: offer, then entry, then conversation.
        offers = RoutingOffer.objects.select_for_update(no_key=True)
        offer = only_row(offers.filter(pk=found[0])) if found[0] is not None else None
        entry = only_row(RoutingEntry.objects.select_for_update(no_key=True, of=("self", "conversation"))
                         .select_related("conversation").filter(pk=conversation_id))
        if entry is None or needs_agent(entry.conversation):
            return False
        offer_id = entry.offer_id
        if offer_id is not None and (offer is None or offer.pk != offer_id):
            offer = offers.get(pk=offer_id)  # offered again between the two reads
        entry.delete()
        if offer_id is not None and offer is not None and offer.outcome == RoutingOffer.Outcome.PENDING:
            _close(offer, RoutingOffer.Outcome.WITHDRAWN, now)
    return True


def do_set_away_after_misses(agent_id: int) -> bool:
    """After too many offers in a row let expire, the agent is set away (they are probably not there)."""
    with transaction.atomic():
        _routing_transaction()
        profile = AgentProfile.objects.select_for_update(no_key=True).filter(user_id=agent_id).first()
        if (profile is None or profile.presence != AgentProfile.Presence.AVAILABLE
                or profile.missed_offers < settings.HUB_ROUTING_MAX_MISSED_OFFERS):
            return False
        do_set_presence(None, profile, AgentProfile.Presence.AWAY, reason="missed_offers")
        audit.record("routing.agent_away", None, agent=agent_id, missed=profile.missed_offers)
    return True


def do_move_to_queue(actor: User | None, conversation: Conversation, queue: RoutingQueue,
                     now: dt.datetime | None = None) -> Conversation:
    """Send a conversation to a queue's line (an agent or supervisor transferring it there). A waiting
    conversation keeps its arrival time, so its place; an assigned one is unassigned and joins the line
    now; a pending offer of it is withdrawn."""
    if not queue.active:
        raise ActionError("that queue is not active", field="queue")
    now = now or timezone.now()
    offer_id = RoutingEntry.objects.filter(pk=conversation.pk).values_list("offer_id", flat=True).first()
    with transaction.atomic():
        # The lock order of every routing action: offer, then entry, then conversation.
        if offer_id is not None:
            RoutingOffer.objects.select_for_update(no_key=True).filter(pk=offer_id).first()
        entry = RoutingEntry.objects.select_for_update(no_key=True).filter(pk=conversation.pk).first()
        conv = Conversation.objects.select_for_update(no_key=True).get(pk=conversation.pk)
        if conv.status == Conversation.Status.RESOLVED:
            raise ActionError("a resolved conversation needs no agent; reopen it first", field="queue")
        if entry is not None and entry.offer_id is not None:
            do_withdraw_offer(entry.offer_id, now)
            entry.refresh_from_db()
        if conv.assignee_id is not None:
            if entry is not None:
                entry.delete()
            conv = do_assign(actor, conv, None, reason="moved_to_queue")
            entry = None
        out_of_hours = not queue.is_open_at(now)
        if entry is None:
            do_enter_queue(conv.pk, queue, out_of_hours=out_of_hours, now=now)
        elif entry.queue_id != queue.pk:
            do_move_queue(conv.pk, entry.queue_id, queue, out_of_hours=out_of_hours, reason="moved", now=now)
            RoutingEntry.objects.filter(pk=conv.pk).update(declined={})
        audit.record("routing.moved_to_queue", actor, conversation=conv, queue=queue.pk)
        round_after_commit()
    return conv


def do_requeue_from_agent(conversation_id: int, agent_id: int, reason: str) -> bool:
    """Take a conversation back from an agent (gone offline with it unanswered): unassigned, it needs an
    agent again and routing puts it back in line."""
    conv = Conversation.objects.filter(pk=conversation_id, assignee_id=agent_id).first()
    if conv is None:
        return False
    do_assign(None, conv, None, reason=reason)
    return True
