"""/api/v1/: every route of the REST API. Ids are numbers (`<int:...>`): anything else is a JSON 404."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from hub.api.errors import not_found
from hub.api.views import (
    agents,
    attachments,
    conversation_actions,
    conversations,
    customers,
    inbox,
    me,
    messages,
    metrics,
    routing,
    search,
)

urlpatterns: list[URLPattern] = [
    path("me/", me.Me.as_view(), name="api-me"),
    path("conversations/", conversations.ConversationList.as_view(), name="api-conversations"),
    path("conversations/<int:pk>/", conversations.ConversationDetail.as_view(), name="api-conversation"),
    path("conversations/<int:pk>/messages/", messages.ConversationMessages.as_view(), name="api-messages"),
    path("conversations/<int:pk>/notes/", messages.ConversationNotes.as_view(), name="api-notes"),
    path("conversations/<int:pk>/assign/", conversation_actions.Assign.as_view(), name="api-assign"),
    path("conversations/<int:pk>/transfer/", conversation_actions.Transfer.as_view(), name="api-transfer"),
    path("conversations/<int:pk>/resolve/", conversation_actions.Resolve.as_view(), name="api-resolve"),
    path("conversations/<int:pk>/reopen/", conversation_actions.Reopen.as_view(), name="api-reopen"),
    path("conversations/<int:pk>/snooze/", conversation_actions.Snooze.as_view(), name="api-snooze"),
    path("conversations/<int:pk>/tags/", conversation_actions.SetTags.as_view(), name="api-tags"),
    path("conversations/<int:pk>/priority/", conversation_actions.SetPriority.as_view(), name="api-priority"),
    path("conversations/<int:pk>/queue/", conversation_actions.MoveToQueue.as_view(), name="api-move-to-queue"),
    path("customers/", customers.CustomerList.as_view(), name="api-customers"),
    path("customers/<int:pk>/", customers.CustomerDetail.as_view(), name="api-customer"),
    path("customers/<int:pk>/merge/", customers.CustomerMergeInto.as_view(), name="api-customer-merge"),
    path("customers/merges/<int:pk>/undo/", customers.CustomerUnmerge.as_view(), name="api-customer-unmerge"),
    path("agents/", agents.AgentList.as_view(), name="api-agents"),
    path("agents/<int:pk>/", agents.AgentDetail.as_view(), name="api-agent"),
    path("agents/<int:pk>/presence/", agents.AgentPresence.as_view(), name="api-agent-presence"),
    path("teams/", agents.TeamList.as_view(), name="api-teams"),
    path("teams/<int:pk>/", agents.TeamDetail.as_view(), name="api-team"),
    path("attachments/<int:pk>/", attachments.AttachmentDownload.as_view(), name="api-attachment"),
    path("routing/queues/", routing.QueueList.as_view(), name="api-routing-queues"),
    path("routing/queues/<int:pk>/", routing.QueueDetail.as_view(), name="api-routing-queue"),
    path("routing/queues/<int:pk>/waiting/", routing.QueueWaiting.as_view(), name="api-routing-queue-waiting"),
    path("offers/", routing.OfferList.as_view(), name="api-offers"),
    path("offers/<int:pk>/accept/", routing.OfferAccept.as_view(), name="api-offer-accept"),
    path("offers/<int:pk>/decline/", routing.OfferDecline.as_view(), name="api-offer-decline"),
    path("search/", search.Search.as_view(), name="api-search"),
    path("search/export.csv", search.SearchExport.as_view(), name="api-search-export"),
    path("inbox/", inbox.InboxList.as_view(), name="api-inbox"),
    path("conversations/<int:pk>/timeline/", inbox.ConversationTimeline.as_view(), name="api-timeline"),
    path("conversations/<int:pk>/read/", inbox.MarkRead.as_view(), name="api-mark-read"),
    path("customers/<int:pk>/profile/", inbox.CustomerProfile.as_view(), name="api-customer-profile"),
    path("canned-responses/", inbox.CannedList.as_view(), name="api-canned-responses"),
    path("canned-responses/<int:pk>/", inbox.CannedDetail.as_view(), name="api-canned-response"),
    path("metrics/wallboard/", metrics.Wallboard.as_view(), name="api-metrics-wallboard"),
    re_path(r"^.*$", not_found, name="api-not-found"),
]
