from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from hub import health

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "_database", lambda: (_ for _ in ()).throw(RuntimeError("db down")))
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_names_every_dependency_with_its_state() -> None:
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "channel_layer", "task_broker", "search"}
    assert all(check["state"] == "ok" for check in body["checks"].values())


def test_readyz_is_503_when_one_dependency_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> str:
        raise ConnectionError("connection refused")

    monkeypatch.setitem(health.CHECKS, "task_broker", broken)
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "not ready"
    assert body["checks"]["task_broker"] == {**body["checks"]["task_broker"], "state": "down",
                                            "detail": "ConnectionError: connection refused"}
    assert body["checks"]["database"]["state"] == "ok"


def test_readyz_reports_an_unreachable_elasticsearch(settings: Any) -> None:
    from search.backend import reset_backend

    settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    try:
        body = Client().get("/readyz").json()
    finally:
        settings.ELASTICSEARCH_URL = ""
        reset_backend()
    assert body["checks"]["search"]["state"] == "down"
    assert "elasticsearch unreachable" in body["checks"]["search"]["detail"].lower()


def test_readyz_with_celery_broker_down(settings: Any) -> None:
    settings.TASK_MODE = "celery"
    from hub.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        body = Client().get("/readyz").json()
    finally:
        app.conf.broker_url = original
    assert body["checks"]["task_broker"]["state"] == "down"


def test_health_endpoints_refuse_other_methods() -> None:
    assert Client().post("/healthz").status_code == 405
