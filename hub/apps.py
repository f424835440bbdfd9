from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Conversation hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from hub.connector_port import webhook_accounts
        from hub.models import ChannelAccount, Team

        post_save.connect(webhook_accounts.clear, sender=ChannelAccount, dispatch_uid="hub.webhook_accounts.save")
        post_delete.connect(webhook_accounts.clear, sender=ChannelAccount,
                            dispatch_uid="hub.webhook_accounts.delete")
        # A kept account holds its team: a deleted team must not be put on new conversations.
        post_delete.connect(webhook_accounts.clear, sender=Team, dispatch_uid="hub.webhook_accounts.team")
