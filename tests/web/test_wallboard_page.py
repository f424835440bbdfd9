"""The wallboard page, /supervisor/ (web/wallboard_views.py, web/templates/web/wallboard.html,
web/static/web/wallboard.js). The figures come from the API (tests/api/test_metrics_api.py) and the live
behaviour is tested in Chromium (tests/browser/test_wallboard.py): here, who may load it, what the shell
carries, and that the script keeps to the rules for untrusted content."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client

from tests import factories
from tests.web.pages import json_block, signed_in
from web import wallboard_views

pytestmark = pytest.mark.django_db

WEB = Path(wallboard_views.__file__).resolve().parent
SCRIPT = WEB / "static" / "web" / "wallboard.js"
PAGE = "/supervisor/"


def test_anonymous_is_sent_to_the_login_page_and_back() -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert "next=/supervisor/" in response["Location"]


@pytest.mark.parametrize("role", ["agent"])
def test_an_agent_gets_a_clear_403_page_without_the_script(role: str) -> None:
    response = signed_in(factories.agent("alice", role=role)).get(PAGE)
    assert response.status_code == 403
    body = response.content.decode()
    assert 'data-testid="wb-forbidden"' in body and "Only supervisors and administrators" in body
    assert "wallboard.js" not in body and "wallboard-config" not in body


def test_a_user_without_a_profile_gets_the_403_page() -> None:
    user = User.objects.create_user("visitor", password="pw")
    assert signed_in(user).get(PAGE).status_code == 403


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_get_the_board(role: str) -> None:
    response = signed_in(factories.agent("sue", role=role)).get(PAGE)
    assert response.status_code == 200
    body = response.content.decode()
    for testid in ("connection", "wb-updated", "wb-chart"):
        assert f'data-testid="{testid}"' in body
    assert 'data-state="connecting"' in body
    assert 'aria-current="page"' in body and 'href="/supervisor/"' in body  # the shared header, on this page
    config = json_block(body, "wallboard-config")
    assert config["api"] == "/api/v1/metrics/wallboard/"
    assert config["assign"] == "/api/v1/conversations/{id}/assign/"
    assert config["ws"] == "/ws/agent/" and config["refresh_seconds"] == 10 and config["min_interval_seconds"] == 1
    assert "wallboard.js" in body


def test_a_superuser_without_a_profile_may_load_it() -> None:
    root = User.objects.create_superuser("root", password="pw-root")
    assert signed_in(root).get(PAGE).status_code == 200


def test_the_address_without_a_slash_arrives_at_the_page() -> None:
    response = signed_in(factories.agent("sue", role="supervisor")).get("/supervisor")
    assert response.status_code in (301, 302) and response["Location"] == PAGE


def test_chinese_for_a_chinese_browser() -> None:
    response = signed_in(factories.agent("sue", role="supervisor")).get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in response.content.decode()
    assert json_block(response.content.decode(), "wallboard-config")["lang"] == "zh-hans"


def test_every_text_the_script_uses_is_in_the_block() -> None:
    source = SCRIPT.read_text(encoding="utf-8")
    used = set(re.findall(r"\bstrings\.(\w+)", source))
    assert used and used <= set(wallboard_views.script_strings())
    presences = json_block(signed_in(factories.agent("sue", role="supervisor")).get(PAGE).content.decode(),
                           "wallboard-strings")["presence"]
    assert set(presences) == {"available", "away", "busy", "offline"}
    reasons = json_block(signed_in(factories.agent("ann", role="supervisor")).get(PAGE).content.decode(),
                         "wallboard-strings")["presence_reason"]
    assert set(reasons) == {"missed_offers", "disconnected", "signed_out"}


def test_the_static_finders_find_the_script_and_the_stylesheet() -> None:
    assert finders.find("web/wallboard.js") and finders.find("web/wallboard.css")


def test_the_script_writes_no_html() -> None:
    """Names and subjects are untrusted: the script builds every node with createElement/textContent."""
    code = re.sub(r"//[^\n]*", "", SCRIPT.read_text(encoding="utf-8"))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setAttribute(\"on", ".onclick", "srcdoc", "parseFromString"):
        assert sink not in code, sink
    assert 'credentials: "same-origin"' in code and '"X-CSRFToken"' in code


def test_the_selectors_the_browser_tests_rely_on_are_in_the_script() -> None:
    code = SCRIPT.read_text(encoding="utf-8")
    for testid in ("wb-overall", "wb-queue", "wb-agent", "wb-force-assign", "wb-reassign"):
        assert f'dataset.testid = "{testid}"' in code, testid
    for name in ("waiting", "longest_wait", "service_level", "asa", "abandonment", "aht", "fcr", "occupancy",
                 "answered", "offered", "agents_available", "agents_away", "agents_busy", "agents_offline"):
        assert f'"{name}"' in code, name
