"""Django admin: configuration (channel accounts, teams, agents, tags) is edited here; conversation data is
read-only, because every change to it goes through hub actions (audit log, events, change numbers)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from hub.actions import ActionError
from hub.actions.agents import check_capacity, do_update_agent_routing
from hub.actions.canned import FIELDS as CANNED_FIELDS
from hub.actions.canned import do_create_canned, do_delete_canned, do_update_canned
from hub.actions.routing_config import (
    QUEUE_FIELDS,
    check_queue_change,
    do_create_queue,
    do_delete_queue,
    do_update_queue,
)
from hub.models import (
    AgentProfile,
    AgentSkill,
    AuditLog,
    CannedResponse,
    ChannelAccount,
    Conversation,
    Customer,
    CustomerMerge,
    Identity,
    Message,
    RoutingOffer,
    RoutingQueue,
    Tag,
    Team,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChannelAccount)
class ChannelAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "channel", "address", "team", "is_default", "active")
    list_filter = ("channel", "active", "is_default")
    search_fields = ("name", "address")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)


class AgentSkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 1


class AgentProfileForm(forms.ModelForm):
    class Meta:
        model = AgentProfile
        fields = ["user", "display_name", "role", "teams", "capacity", "language"]

    def clean_capacity(self) -> dict[str, int]:
        """The API's check (hub/actions/agents.py): routing must never meet a capacity it cannot read."""
        raw = self.cleaned_data.get("capacity")
        try:
            checked = check_capacity({} if raw is None else raw)
        except ActionError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return {channel: units for channel, units in checked.items() if units is not None}


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    """Skills, capacity and teams are saved through do_update_agent_routing (checked, audited, and routing
    reloads at once); presence and routing's own bookkeeping are read-only here."""

    form = AgentProfileForm
    list_display = ("display_name", "user", "role", "presence", "language")
    list_filter = ("role", "presence", "teams")
    search_fields = ("display_name", "user__username")
    filter_horizontal = ("teams",)
    # Presence changes are events (use the inbox or the API); the rest is routing's own bookkeeping.
    readonly_fields = ("presence", "presence_changed_at", "idle_since", "last_routed_at", "missed_offers")
    inlines = [AgentSkillInline]

    def save_model(self, request: HttpRequest, obj: AgentProfile, form: Any, change: bool) -> None:
        if change:  # the new capacity is saved with the skills and teams, in save_related
            obj.capacity = AgentProfile.objects.filter(pk=obj.pk).values_list("capacity", flat=True).get()
        obj.save()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        skills: dict[str, int] = {}
        for formset in formsets:
            if formset.model is not AgentSkill:
                formset.save()
                continue
            for row in formset.forms:
                data = getattr(row, "cleaned_data", None) or {}
                if data.get("skill") and not data.get("DELETE"):
                    skills[data["skill"].strip()] = data["level"]
            # What formset.save() would leave for the admin's history message; the audit log has the change.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        agent = form.instance
        wanted = form.cleaned_data.get("capacity") or {}
        capacity = {**{channel: None for channel in (agent.capacity or {})}, **wanted}
        actor = request.user if isinstance(request.user, User) else None
        do_update_agent_routing(actor, agent, skills=skills, capacity=capacity,
                                teams=[team.pk for team in form.cleaned_data.get("teams", [])])


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "address", "display_name", "verified", "created_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "value_tier", "language", "conversations_count", "last_contact_at")
    list_filter = ("value_tier", "language")
    search_fields = ("display_name", "identities__address")
    inlines = [IdentityInline]


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("id", "subject", "customer", "channel", "status", "priority", "team", "assignee",
                    "last_message_at")
    list_filter = ("status", "channel", "team", "priority")
    search_fields = ("subject", "customer__display_name")
    list_select_related = ("customer", "team", "assignee")


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation", "direction", "author_kind", "status", "created_at")
    list_filter = ("direction", "status", "kind")
    list_select_related = ("conversation",)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "conversation", "customer")
    list_filter = ("action",)


@admin.register(CustomerMerge)
class CustomerMergeAdmin(ReadOnlyAdmin):
    list_display = ("merged_at", "source", "target", "merged_by", "undone_at")


# JSON settings a cleared admin textarea leaves empty (None): they mean "none" in the queue's configuration.
_EMPTY_JSON: dict[str, type[list[Any]] | type[dict[str, Any]]] = {
    "channels": list, "languages": list, "auto_assign_channels": list, "relaxation": list, "required_skills": dict,
    "offer_timeouts": dict,
}


class RoutingQueueForm(forms.ModelForm):
    class Meta:
        model = RoutingQueue
        fields = list(QUEUE_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for field, kind in _EMPTY_JSON.items():
            if field in cleaned and cleaned[field] is None:
                cleaned[field] = kind()
        if self.errors:
            return cleaned  # a field the form could not read: nothing complete to check
        try:
            # The API's validation, so that routing never meets a configuration it would misread.
            check_queue_change(self.instance if self.instance.pk else None,
                               {f: cleaned[f] for f in QUEUE_FIELDS if f in cleaned})
        except ActionError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        return cleaned


@admin.register(RoutingQueue)
class RoutingQueueAdmin(admin.ModelAdmin):
    """Saved and deleted through the routing configuration actions (audit log; waiting conversations move
    out of a queue that is deactivated or removed, and a referenced queue is deactivated, not deleted)."""

    form = RoutingQueueForm
    list_display = ("name", "order", "team", "strategy", "active")
    list_filter = ("active", "strategy", "team")
    search_fields = ("name",)
    list_select_related = ("team",)

    def save_model(self, request: HttpRequest, obj: RoutingQueue, form: Any, change: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        values = {f: form.cleaned_data[f] for f in QUEUE_FIELDS if f in form.cleaned_data}
        if change:
            do_update_queue(actor, obj, values)
        else:
            obj.pk = do_create_queue(actor, values).pk  # the admin's message and redirect need the id

    def delete_model(self, request: HttpRequest, obj: RoutingQueue) -> None:
        actor = request.user if isinstance(request.user, User) else None
        try:
            if do_delete_queue(actor, obj) is not None:
                self.message_user(request, f"{obj} is referred to by conversations or offers: it was deactivated "
                                  "instead of deleted.", messages.WARNING)
        except ActionError as exc:
            self.message_user(request, f"{obj}: {exc}", messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RoutingQueue]) -> None:
        for queue in queryset:
            self.delete_model(request, queue)


@admin.register(RoutingOffer)
class RoutingOfferAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation", "agent", "queue", "outcome", "created_at", "expires_at", "closed_at")
    list_filter = ("outcome", "queue")
    list_select_related = ("conversation", "agent", "queue")


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    """Saved and deleted through hub/actions/canned.py (validation, audit log)."""

    list_display = ("shortcut", "title", "team", "updated_at")
    list_filter = ("team",)
    search_fields = ("shortcut", "title", "text")
    list_select_related = ("team",)

    def save_model(self, request: HttpRequest, obj: CannedResponse, form: Any, change: bool) -> None:
        actor = request.user if isinstance(request.user, User) else None
        values = {f: form.cleaned_data[f] for f in CANNED_FIELDS if f in form.cleaned_data}
        try:
            if change:
                do_update_canned(actor, obj, {f: v for f, v in values.items() if f in form.changed_data})  # type: ignore[arg-type]
            else:
                obj.pk = do_create_canned(actor, values).pk  # type: ignore[arg-type]
        except ActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: CannedResponse) -> None:
        actor = request.user if isinstance(request.user, User) else None
        try:
            do_delete_canned(actor, obj)  # type: ignore[arg-type]
        except ActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
