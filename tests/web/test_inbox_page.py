"""The inbox page (/inbox/) and the hub's sign-in (/login/, /logout/): who may load them, the languages,
the strings and settings handed to the scripts, and the scripts' rules for untrusted content."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from hub.models import Team
from tests import factories
from tests.web.pages import json_block, signed_in
from web import inbox_views

pytestmark = pytest.mark.django_db

STATIC = Path(inbox_views.__file__).resolve().parent / "static" / "web"
SCRIPTS = [STATIC / "inbox.js", *sorted((STATIC / "inbox").glob("*.js"))]


def test_anonymous_is_sent_to_the_hubs_login_page() -> None:
    response = Client().get("/inbox/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/inbox/"


def test_login_page_has_the_fields_and_signs_in_to_next() -> None:
    factories.agent("ann")
    page = Client().get("/login/?next=/inbox/%23conversation/5")
    assert page.status_code == 200
    body = page.content.decode()
    for needle in ('id="id_username"', 'id="id_password"', 'type="submit"', "hub-topbar"):
        assert needle in body
    # The sign-in button is the first submit button (before the header's language buttons).
    assert body.index('type="submit"') > body.index('id="id_password"') < body.index("hub-topbar-language")
    client = Client()
    response = client.post("/login/", {"username": "ann", "password": "pw-ann", "next": "/supervisor/search"})
    assert response.status_code == 302 and response["Location"] == "/supervisor/search"
    response = Client().post("/login/", {"username": "ann", "password": "pw-ann"})
    assert response["Location"] == "/inbox/"
    assert client.get("/inbox/").status_code == 200


def test_wrong_password_says_so_and_an_outside_next_is_ignored() -> None:
    factories.agent("ann")
    wrong = Client().post("/login/", {"username": "ann", "password": "nope"})
    assert wrong.status_code == 200 and b'role="alert"' in wrong.content
    response = Client().post("/login/", {"username": "ann", "password": "pw-ann", "next": "https://evil.example/"})
    assert response["Location"] == "/inbox/"


def test_logout_is_a_post_and_ends_the_session() -> None:
    client = signed_in(factories.agent("ann"))
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/inbox/").status_code == 302


def test_a_user_without_agent_profile_gets_a_clear_403() -> None:
    user = User.objects.create_user("visitor", password="x")
    response = signed_in(user).get("/inbox/")
    assert response.status_code == 403 and b"agent profile" in response.content
    assert b"inbox.js" not in response.content


def test_page_has_the_selectors_and_hands_config_and_strings_to_the_script() -> None:
    team = Team.objects.create(name="Billing")
    user = factories.agent("ann", teams=[team], presence="away")
    body = signed_in(user).get("/inbox/").content.decode()
    for testid in ("presence", "connection", "list-mine", "list-unassigned", "list-teams", "conversation",
                   "timeline", "reply-input", "reply-send", "reply-channel", "note-toggle", "canned-picker",
                   "action-resolve", "action-snooze", "action-transfer", "action-tags", "action-merge", "typing",
                   "customer-panel", "customer-name", "customer-tier", "customer-tags", "customer-csat",
                   "customer-notes"):
        assert f'data-testid="{testid}"' in body, testid
    assert 'data-testid="list-all"' not in body  # supervisors only
    config = json_block(body, "inbox-config")
    assert config == {**config, "user_id": user.pk, "name": "Ann", "sees_everything": False, "presence": "away",
                      "teams": [team.pk], "login": "/login/"}
    strings = json_block(body, "inbox-strings")
    assert strings["connection"]["open"] == "Connected" and "{name}" in strings["typing"]
    assert 'type="module" src="/static/web/inbox.js"' in body


def test_supervisors_get_the_all_list() -> None:
    body = signed_in(factories.agent("sue", role="supervisor")).get("/inbox/").content.decode()
    assert 'data-testid="list-all"' in body
    assert json_block(body, "inbox-config")["sees_everything"] is True


def test_chinese_follows_the_browser() -> None:
    body = signed_in(factories.agent("wei"), "zh-CN,zh;q=0.9").get("/inbox/").content.decode()
    assert '<html lang="zh-hans">' in body
    assert json_block(body, "inbox-config")["lang"] == "zh-hans"


def test_scripts_never_turn_untrusted_text_into_html() -> None:
    for path in SCRIPTS:
        code = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     'setAttribute("on'):
            assert sink not in code, f"{path.name}: {sink}"
    render = (STATIC / "inbox" / "render.js").read_text()
    # Email HTML only ever goes into a sandboxed frame with no permissions at all (no allow-scripts).
    assert render.count(".srcdoc =") == 1 and 'frame.setAttribute("sandbox", "")' in render
    assert "allow-" not in render
