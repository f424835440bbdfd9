"""Customer profile changes, and merging two customers (recorded, and undoable)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from hub import audit
from hub.actions import ActionError
from hub.actions.conversations import routing_changed_after_commit
from hub.events import schema
from hub.events.publish import publish
from hub.models import (
    AgentProfile,
    Attachment,
    Change,
    Conversation,
    Customer,
    CustomerMerge,
    Identity,
    Message,
    RoutingEntry,
    Tag,
)

logger = logging.getLogger(__name__)

EDITABLE = {"display_name", "language", "value_tier", "notes"}


def _audience(*customers: Customer) -> set[int]:
    """Everyone who may see one of these customers' conversations, in two queries whatever their number."""
    rows = list(Conversation.objects.filter(customer__in=customers).values_list("team_id", "assignee_id"))
    team_ids = {team for team, _ in rows if team is not None}
    q = Q(role__in=[AgentProfile.Role.SUPERVISOR, AgentProfile.Role.ADMIN]) | Q(teams__in=team_ids)
    if any(team is None for team, _ in rows):
        q |= Q(role=AgentProfile.Role.AGENT)  # a conversation with no team is everyone's
    ids = set(AgentProfile.objects.filter(q).values_list("user_id", flat=True))
    return ids | {assignee for _, assignee in rows if assignee is not None}


def _tell_routing(*customers: Customer) -> None:
    """The customers' tier or language changed: their conversations waiting for an agent move in line."""
    for conversation_id in RoutingEntry.objects.filter(conversation__customer__in=customers).values_list(
            "conversation_id", flat=True):
        routing_changed_after_commit(conversation_id)


def do_update_customer(actor: User, customer: Customer, changes: dict[str, Any],
                       tags: list[str] | None = None) -> Customer:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ActionError(f"cannot change {', '.join(sorted(unknown))}")
    if "value_tier" in changes and changes["value_tier"] not in Customer.Tier.values:
        raise ActionError("value_tier must be standard, gold or vip", field="value_tier")
    with transaction.atomic():
        c = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
        changed = [k for k, v in changes.items() if getattr(c, k) != v]
        for key in changed:
            setattr(c, key, changes[key])
        if tags is not None:
            clean = sorted({t.strip()[:64] for t in tags if t.strip()})
            if clean != sorted(c.tags.values_list("name", flat=True)):
                c.tags.set([Tag.objects.get_or_create(name=n)[0] for n in clean])
                changed.append("tags")
        if not changed:
            return c
        c.save()
        audit.record("customer.updated", actor, customer=c, changed=changed)
        publish(schema.CustomerUpdated(customer_id=c.pk, changed=changed), _audience(c), customer_id=c.pk)
        if {"value_tier", "language"} & set(changed):
            _tell_routing(c)
    return c


def _refresh_figures(customer: Customer) -> None:
    agg = Conversation.objects.filter(customer=customer).aggregate(
        n=Count("id"), first=Min("created_at"), last=Max("last_message_at"))
    messages = Message.objects.filter(conversation__customer=customer).count()
    customer.conversations_count = agg["n"] or 0
    customer.messages_count = messages
    customer.first_contact_at = agg["first"]
    customer.last_contact_at = agg["last"]
    customer.save(update_fields=["conversations_count", "messages_count", "first_contact_at",
                                 "last_contact_at", "updated_at"])


def do_merge_customers(actor: User, source: Customer, target: Customer) -> CustomerMerge:
    """Move `source`'s identities and conversations to `target`; `source` stays, marked merged, so the
    merge can be undone exactly."""
    if source.pk == target.pk:
        raise ActionError("cannot merge a customer into itself")
    with transaction.atomic():
        locked = {c.pk: c for c in Customer.objects.select_for_update(no_key=True).filter(pk__in=[source.pk, target.pk])
                  .order_by("pk")}
        src, dst = locked[source.pk], locked[target.pk]
        if src.merged_into_id or dst.merged_into_id:
            raise ActionError("one of these customers is already merged into another")
        identity_ids = list(Identity.objects.filter(customer=src).values_list("id", flat=True))
        conversation_ids = list(Conversation.objects.filter(customer=src).values_list("id", flat=True))
        Identity.objects.filter(pk__in=identity_ids).update(customer=dst)
        Conversation.objects.filter(pk__in=conversation_ids).update(customer=dst, updated_at=timezone.now())
        src.merged_into = dst
        src.save(update_fields=["merged_into", "updated_at"])
        if not dst.display_name and src.display_name:
            dst.display_name = src.display_name
        tiers = [Customer.Tier.STANDARD, Customer.Tier.GOLD, Customer.Tier.VIP]
        if tiers.index(src.value_tier) > tiers.index(dst.value_tier):  # type: ignore[arg-type]
            dst.value_tier = src.value_tier
        dst.lifetime_value = (Customer.objects.filter(pk__in=[src.pk, dst.pk])
                              .aggregate(v=Sum("lifetime_value"))["v"]) or 0
        dst.save()
        _refresh_figures(dst)
        merge = CustomerMerge.objects.create(source=src, target=dst, identity_ids=identity_ids,
                                             conversation_ids=conversation_ids, merged_by=actor,
                                             data_before={"target_value_tier": target.value_tier,
                                                          "target_lifetime_value": str(target.lifetime_value),
                                                          "target_display_name": target.display_name})
        audit.record("customer.merged", actor, customer=dst, source=src.pk, merge=merge.pk,
                     identities=identity_ids, conversations=conversation_ids)
        publish(schema.CustomersMerged(merge_id=merge.pk, source_id=src.pk, target_id=dst.pk, undone=False,
                                       conversation_ids=conversation_ids),
                _audience(dst), customer_id=dst.pk)
        _tell_routing(dst)
    return merge


def do_unmerge(actor: User, merge: CustomerMerge) -> CustomerMerge:
    """Undo a merge: what moved moves back, and the target's figures are restored."""
    with transaction.atomic():
        m = CustomerMerge.objects.select_for_update(no_key=True).get(pk=merge.pk)
        if m.undone_at is not None:
            raise ActionError("this merge was already undone")
        src = Customer.objects.select_for_update(no_key=True).get(pk=m.source_id)
        dst = Customer.objects.select_for_update(no_key=True).get(pk=m.target_id)
        Identity.objects.filter(pk__in=m.identity_ids, customer=dst).update(customer=src)
        Conversation.objects.filter(pk__in=m.conversation_ids, customer=dst).update(
            customer=src, updated_at=timezone.now())
        src.merged_into = None
        src.save(update_fields=["merged_into", "updated_at"])
        before = m.data_before or {}
        if "target_value_tier" in before:
            dst.value_tier = before["target_value_tier"]
            dst.lifetime_value = before["target_lifetime_value"]
            dst.display_name = before["target_display_name"]
            dst.save()
        _refresh_figures(src)
        _refresh_figures(dst)
        m.undone_at = timezone.now()
        m.undone_by = actor
        m.save(update_fields=["undone_at", "undone_by"])
        audit.record("customer.unmerged", actor, customer=src, target=dst.pk, merge=m.pk)
        publish(schema.CustomersMerged(merge_id=m.pk, source_id=src.pk, target_id=dst.pk, undone=True,
                                       conversation_ids=list(m.conversation_ids)),
                _audience(src, dst), customer_id=src.pk)
        _tell_routing(src, dst)
    return m


def do_delete_customer(actor: User, customer: Customer) -> list[int]:
    """Erase a customer at their request: identities, conversations, messages, notes and attachment files
    go, and so do the change-log entries that copied their messages (the search index and every agent's
    view drop them on the `customer.deleted` event). The audit log keeps that it happened, not what was
    said. Returns the erased conversations' ids."""
    with transaction.atomic():
        c = Customer.objects.select_for_update().get(pk=customer.pk)
        audience = _audience(c)
        conversation_ids = list(Conversation.objects.filter(customer=c).values_list("id", flat=True))
        files = list(Attachment.objects.filter(message__conversation_id__in=conversation_ids)
                     .values_list("file", flat=True))
        Change.objects.filter(Q(conversation_id__in=conversation_ids) | Q(customer_id=c.pk)).delete()
        Conversation.objects.filter(pk__in=conversation_ids).delete()
        Customer.objects.filter(merged_into=c).update(merged_into=None)
        c.delete()
        audit.record("customer.deleted", actor, customer_id=customer.pk, conversations=conversation_ids)
        publish(schema.CustomerDeleted(customer_id=customer.pk, conversation_ids=conversation_ids), audience)

        def remove_files() -> None:
            for name in files:
                try:
                    default_storage.delete(name)
                except OSError:
                    logger.warning("could not remove the erased attachment %s", name)

        transaction.on_commit(remove_files)
    return conversation_ids
