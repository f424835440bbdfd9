from typing import Any

from django.apps import AppConfig


def _signed_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """Signing out (the inbox, or the admin) ends an agent's shift: they go offline at once rather than
    when their lease runs out, and routing hands back what awaits their answer."""
    from hub.actions.agents import do_sign_out_presence
    from hub.models import AgentProfile

    user_id = getattr(user, "pk", None)
    profile = AgentProfile.objects.filter(user_id=user_id).first() if user_id is not None else None
    if profile is not None:
        do_sign_out_presence(profile)


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Conversation hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, post_save

        from hub.connector_port import webhook_accounts
        from hub.models import ChannelAccount, Team

        post_save.connect(webhook_accounts.clear, sender=ChannelAccount, dispatch_uid="hub.webhook_accounts.save")
        post_delete.connect(webhook_accounts.clear, sender=ChannelAccount,
                            dispatch_uid="hub.webhook_accounts.delete")
        # A kept account holds its team: a deleted team must not be put on new conversations.
        post_delete.connect(webhook_accounts.clear, sender=Team, dispatch_uid="hub.webhook_accounts.team")
        user_logged_out.connect(_signed_out, dispatch_uid="hub.presence.signed_out")
