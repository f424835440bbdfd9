from __future__ import annotations

from django.contrib.auth.views import LogoutView
from django.urls import URLPattern, URLResolver, path

from web import inbox_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("login/", inbox_views.HubLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(next_page=inbox_views.LOGIN_URL), name="logout"),
]
