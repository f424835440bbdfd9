"""Narrowing lists: the inbox filters and the customer search. Callers pass querysets that hub.access has
already limited to what the user may see."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db.models import Q, QuerySet

from hub.identities import InvalidAddress, normalize_address
from hub.models import Conversation, Customer


def filter_conversations(conversations: QuerySet[Conversation], filters: dict[str, Any]) -> QuerySet[Conversation]:
    """Apply ConversationFilterSerializer's validated data; `None` for assignee or team means "none"."""
    if filters.get("status"):
        conversations = conversations.filter(status=filters["status"])
    if "channel" in filters:
        conversations = conversations.filter(channel=filters["channel"])
    if "assignee" in filters:
        conversations = conversations.filter(assignee_id=filters["assignee"])
    if "team" in filters:
        conversations = conversations.filter(team_id=filters["team"])
    if "customer" in filters:
        conversations = conversations.filter(customer_id=filters["customer"])
    return conversations


def search_customers(customers: QuerySet[Customer], query: str) -> QuerySet[Customer]:
    """Customers whose name contains `query`, or with an address matching it. Addresses are stored
    normalized (hub/identities.py), so the query is normalized the same way: "+1 (415) 555-0100" finds
    +14155550100 and "Ann@Example.com" finds ann@example.com."""
    query = query.strip()
    if not query:
        return customers
    match = Q(display_name__icontains=query) | Q(identities__address__icontains=query)
    for kind in ("email", "phone"):
        with contextlib.suppress(InvalidAddress):
            match |= Q(identities__kind=kind, identities__address=normalize_address(kind, query))
    # The identity join yields one row per matching address; a customer belongs in the list once.
    return customers.filter(pk__in=Customer.objects.filter(match).values("pk"))
