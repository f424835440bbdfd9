"""The unified conversation model. One module per domain; import models from here."""

from hub.models.agents import AgentProfile, AgentSkill, Team
from hub.models.audit import AuditLog, CustomerMerge
from hub.models.changes import Change, ChangeCounter, EventCursor, EventDelivery
from hub.models.channels import ChannelAccount, OptOut, WebhookDelivery
from hub.models.conversations import Conversation, Note, Tag, ThreadKey
from hub.models.customers import Customer, Identity
from hub.models.feedback import SatisfactionRating
from hub.models.inbox import CannedResponse, ConversationRead
from hub.models.messages import Attachment, Message
from hub.models.routing import RoutingEntry, RoutingOffer, RoutingQueue
from hub.models.search import SearchIndexState

__all__ = [
    "AgentProfile",
    "AgentSkill",
    "Attachment",
    "AuditLog",
    "CannedResponse",
    "Change",
    "ChangeCounter",
    "ChannelAccount",
    "Conversation",
    "ConversationRead",
    "Customer",
    "CustomerMerge",
    "EventCursor",
    "EventDelivery",
    "Identity",
    "Message",
    "Note",
    "OptOut",
    "RoutingEntry",
    "RoutingOffer",
    "RoutingQueue",
    "SatisfactionRating",
    "SearchIndexState",
    "Tag",
    "Team",
    "ThreadKey",
    "WebhookDelivery",
]
