"""Who may see what. Every read of a conversation by a user goes through here (404, not 403, for the rest)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet
from django.http import Http404

from hub.models import AgentProfile, Conversation, Customer


class NotAnAgent(PermissionError):
    pass


def agent_of(user: User | AnonymousUser) -> AgentProfile:
    agent = getattr(user, "agent", None) if user.is_authenticated else None
    if agent is None:
        raise NotAnAgent("this account has no agent profile")
    return agent


def sees_everything(user: User | AnonymousUser) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    agent = getattr(user, "agent", None)
    return bool(agent and agent.sees_everything)


def visible_conversations(user: User | AnonymousUser) -> QuerySet[Conversation]:
    """Conversations `user` may see: supervisors and admins all; agents those of their teams, those with no
    team (the shared inbox) and those assigned to them."""
    qs = Conversation.objects.all()
    if sees_everything(user):
        return qs
    agent = getattr(user, "agent", None)
    if agent is None:
        return qs.none()
    team_ids = list(agent.teams.values_list("id", flat=True))
    return qs.filter(Q(team__in=team_ids) | Q(team__isnull=True) | Q(assignee_id=user.pk))


def access_conversation(user: User | AnonymousUser, conversation_id: int | str,
                        *, for_update: bool = False) -> Conversation:
    qs = visible_conversations(user)
    if for_update:
        qs = qs.select_for_update(no_key=True)
    try:
        return qs.get(pk=int(conversation_id))
    except (Conversation.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such conversation") from exc


def visible_customers(user: User | AnonymousUser) -> QuerySet[Customer]:
    """Customers `user` may see: everyone for supervisors; for agents, customers with a conversation they may
    see. Merged-away customers are hidden from lists."""
    qs = Customer.objects.filter(merged_into__isnull=True)
    if sees_everything(user):
        return qs
    conv_customer_ids = visible_conversations(user).values("customer_id")
    return qs.filter(pk__in=conv_customer_ids)


def access_customer(user: User | AnonymousUser, customer_id: int | str) -> Customer:
    qs = Customer.objects.all()
    if not sees_everything(user):
        qs = qs.filter(pk__in=visible_conversations(user).values("customer_id"))
    try:
        return qs.get(pk=int(customer_id))
    except (Customer.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such customer") from exc
