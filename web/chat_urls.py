from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from web import chat_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("widget.js", chat_views.widget_script, name="chat-widget"),
    path("demo/", chat_views.demo, name="chat-demo"),
    path("chat/upload/", chat_views.upload, name="chat-upload"),
    path("chat/attachments/<int:account>/<int:pk>/", chat_views.attachment, name="chat-attachment"),
]
