from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Conversation hub"
    default_auto_field = "django.db.models.BigAutoField"
