"""The search page, /supervisor/search (web/views.py, web/templates/web/search.html, web/static/web/search.js).

The page is a shell around the search API (tested in tests/search/): here, who may load it, that what the URL
carries comes back escaped, that it speaks the browser's language (and the one chosen with the switch), that
its script is served and collected, and that the script keeps to the rules for untrusted content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.views import serve
from django.core.management import call_command
from django.test import Client, RequestFactory
from pytest_django.fixtures import Settings

from hub.models import Team
from search import indexer
from search.backend import get_backend, reset_backend
from tests import factories
from tests.api import helpers
from tests.web.pages import json_block, signed_in
from web import views

pytestmark = pytest.mark.django_db

WEB = Path(views.__file__).resolve().parent
SCRIPT = WEB / "static" / "web" / "search.js"
PAGE = "/supervisor/search"


# --- Who may load it ---------------------------------------------------------------------------------------

def test_anonymous_is_sent_to_the_login_page_and_back() -> None:
    response = Client().get(PAGE, {"q": "refund"})
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/supervisor/search%3Fq%3Drefund"


def test_a_user_without_an_agent_profile_gets_a_403_page_without_the_search() -> None:
    user = User.objects.create_user("visitor", password="pw")
    response = signed_in(user).get(PAGE)
    body = response.content.decode()
    assert response.status_code == 403
    assert "no agent profile" in body
    assert 'id="search-form"' not in body and "search.js" not in body and "search-strings" not in body


def test_the_403_page_is_translated_too() -> None:
    user = User.objects.create_user("visitor", password="pw")
    body = signed_in(user).get(PAGE, headers={"accept-language": "zh-CN"}).content.decode()
    assert "此账号没有坐席资料" in body


def test_any_agent_may_load_it_and_a_superuser_without_a_profile_too() -> None:
    # The same rule as the API (hub/api/permissions.py IsAgent); the API narrows each agent's results.
    assert signed_in(factories.agent("alice")).get(PAGE).status_code == 200
    admin = User.objects.create_superuser("root", password="pw")
    assert signed_in(admin).get(PAGE).status_code == 200


def test_the_address_with_a_slash_arrives_at_the_page() -> None:
    response = signed_in(factories.agent("alice")).get(PAGE + "/", {"q": "账单"})
    assert response.status_code == 302 and response["Location"] == PAGE + "?q=%E8%B4%A6%E5%8D%95"


def test_the_start_page_links_to_it() -> None:
    assert f'href="{PAGE}"' in Client().get("/").content.decode()


# --- The page ------------------------------------------------------------------------------------------------

def test_the_page_has_the_search_box_the_script_and_the_api_addresses() -> None:
    response = signed_in(factories.agent("alice")).get(PAGE, {"q": "refund", "sort": "newest", "mode": "messages"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<title>Search" in body
    assert '<input type="search" id="q" name="q" value="refund"' in body
    assert '<option value="newest" selected>' in body
    assert 'value="messages" checked' in body
    assert '<script type="module" src="/static/web/search.js"></script>' in body
    assert 'href="/static/web/search.css"' in body
    assert 'href="/api/v1/search/export.csv?q=refund"' in body
    config = json_block(body, "search-config")
    assert config["api"] == "/api/v1/search/" and config["export"] == "/api/v1/search/export.csv"
    assert config["login"] == "/login/" and config["lang"] == "en"
    assert response["Cache-Control"].startswith("max-age=0") and "private" in response["Cache-Control"]


def test_unknown_sort_and_mode_fall_back_to_the_defaults() -> None:
    body = signed_in(factories.agent("alice")).get(PAGE, {"sort": "drop table", "mode": "x"}).content.decode()
    assert '<option value="relevance" selected>' in body and 'value="conversations" checked' in body


def test_the_query_from_the_url_comes_back_escaped() -> None:
    q = '"><script>alert(1)</script> 账单 & more'
    body = signed_in(factories.agent("alice")).get(PAGE, {"q": q}).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt; 账单 &amp; more"' in body
    # The export link carries it URL-encoded; the language switch's return address too.
    assert "export.csv?q=%22%3E%3Cscript%3Ealert%281%29%3C/script%3E" in body
    assert re.search(r'id="language-next" value="/supervisor/search\?q=[^"<>]*"', body)


def test_the_user_name_is_escaped() -> None:
    body = signed_in(factories.agent("<b>eve</b>")).get(PAGE).content.decode()
    assert "<b>eve</b>" not in body and "&lt;b&gt;eve&lt;/b&gt;" in body


def test_no_inline_event_handlers_or_scripts_in_the_page() -> None:
    body = signed_in(factories.agent("alice")).get(PAGE).content.decode()
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", body, re.I)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", body, re.S)
    # The module (external) and the two JSON blocks: nothing else runs.
    assert [attrs for attrs, content in scripts if content.strip()] == [
        ' id="search-strings" type="application/json"', ' id="search-config" type="application/json"']
    assert sum(1 for attrs, _ in scripts if 'type="module"' in attrs) == 1


def test_the_script_gets_its_texts_from_a_json_block() -> None:
    body = signed_in(factories.agent("alice")).get(PAGE).content.decode()
    strings = json_block(body, "search-strings")
    assert strings["searching"] == "Searching…"
    assert strings["conversations_found"] == {"one": "{n} conversation", "other": "{n} conversations"}
    assert strings["status"]["resolved"] == "resolved" and strings["channel"]["sms"] == "SMS"


def test_every_text_the_script_uses_is_in_the_block() -> None:
    used = set(re.findall(r"\bstrings\.(\w+)", SCRIPT.read_text(encoding="utf-8")))
    assert used and used <= set(views.script_strings())


# --- The page's session against the real API ----------------------------------------------------------------

@pytest.fixture
def embedded_index(settings: Settings, tmp_path: Path) -> Iterator[None]:
    """The embedded engine in a folder of this test's own, filled from the database on demand."""
    settings.DATA_DIR = tmp_path
    settings.ELASTICSEARCH_URL = ""
    reset_backend()
    get_backend().ensure_index()
    yield
    reset_backend()


def test_the_script_s_requests_work_with_the_page_s_session(embedded_index: None) -> None:
    """What search.js sends, with the browser's session cookie (no token), and what it reads back."""
    billing = Team.objects.create(name="Tier 2")
    helpers.conversation(billing, text="我的账单有问题 <img src=x onerror=alert(1)>", name="Li Wei")
    helpers.conversation(Team.objects.create(name="Sales"), text="账单 for sales")
    indexer.index_pending()
    client = signed_in(factories.agent("alice", teams=[billing]))
    config = json_block(client.get(PAGE).content.decode(), "search-config")

    response = client.get(config["api"], {"q": "账单", "mode": "conversations", "sort": "relevance",
                                          "page_size": config["page_size"], "facets": "true"},
                          headers={"accept": "application/json"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == 1 and body["next_cursor"] is None and body["sort"] == "relevance"
    conversation = body["results"][0]["conversation"]
    assert {"subject", "customer_name", "status", "channel", "team", "assignee", "url"} <= set(conversation)
    assert conversation["customer_name"] == "Li Wei" and conversation["url"].startswith("/")
    match = body["results"][0]["matches"][0]
    assert {"kind", "author", "created_at", "channel", "direction", "public", "snippet"} <= set(match)
    assert "<mark>账单</mark>" in match["snippet"] and "<img" not in match["snippet"]
    assert set(body["facets"]) == {"channel", "agent", "team", "tag", "month"}
    assert {"value": "tier 2", "count": 1} in body["facets"]["team"]

    # The filter a click on that facet adds (search.js filterFor) is one the API accepts.
    filtered = client.get(config["api"], {"q": '账单 team:"tier 2"', "facets": "false"}).json()
    assert filtered["total"] == 1 and filtered["facets"] == {}
    month = body["facets"]["month"][0]["value"]
    year, number = (int(part) for part in month.split("-"))
    after_next = f"{year + number // 12}-{number % 12 + 1:02d}"
    dated = client.get(config["api"], {"q": f"账单 after:{month} before:{after_next}"}).json()
    assert dated["total"] == 1

    bad = client.get(config["api"], {"q": '  账单 "unclosed'})
    assert bad.status_code == 400 and bad.json()["position"] == 3 and "unterminated quote" in bad.json()["q"][0]

    export = client.get(config["export"], {"q": "账单"})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")


# --- Languages -------------------------------------------------------------------------------------------------

def test_chinese_for_a_chinese_browser() -> None:
    response = signed_in(factories.agent("alice")).get(PAGE, headers={"accept-language": "zh-CN,zh;q=0.9"})
    body = response.content.decode()
    assert '<html lang="zh-hans">' in body
    assert "<title>搜索" in body and "查询语法" in body and "导出 CSV" in body and "加载更多" in body
    assert "Load more" not in body and "Export CSV" not in body
    strings = json_block(body, "search-strings")
    assert strings["searching"] == "正在搜索…"
    assert strings["conversations_found"] == {"one": "{n} 个会话", "other": "{n} 个会话"}
    assert strings["status"]["resolved"] == "已解决" and strings["channel"]["email"] == "邮件"
    assert json_block(body, "search-config")["lang"] == "zh-hans"


def test_english_for_other_browsers() -> None:
    body = signed_in(factories.agent("alice")).get(PAGE, headers={"accept-language": "fr"}).content.decode()
    assert '<html lang="en">' in body and "Load more" in body and "加载更多" not in body


def test_the_language_switch_keeps_the_choice_over_the_browsers_language() -> None:
    client = signed_in(factories.agent("alice"))
    body = client.get(PAGE).content.decode()
    assert 'action="/i18n/setlang/"' in body and 'name="language" value="zh-hans"' in body
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": PAGE + "?q=refund"})
    assert response.status_code == 302 and response["Location"] == PAGE + "?q=refund"
    body = client.get(PAGE, {"q": "refund"}, headers={"accept-language": "en"}).content.decode()
    assert "加载更多" in body
    client.post("/i18n/setlang/", {"language": "en", "next": PAGE})
    assert "Load more" in client.get(PAGE, headers={"accept-language": "zh-CN"}).content.decode()


def test_every_chinese_translation_is_compiled() -> None:
    """The .mo that Django reads holds every entry of the .po (msgfmt -c -o django.mo django.po)."""
    import gettext

    folder = WEB / "locale" / "zh_Hans" / "LC_MESSAGES"
    po = (folder / "django.po").read_text(encoding="utf-8")
    entries = re.findall(r'^(?:msgctxt "((?:[^"\\]|\\.)*)"\n)?msgid "((?:[^"\\]|\\.)+)"', po, re.M)
    assert len(entries) > 50
    with (folder / "django.mo").open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)
    for context, msgid in entries:
        text = json.loads(f'"{msgid}"')
        if "{n}" in text and text.endswith(("conversation", "message")):
            assert catalog.ngettext(text, text + "s", 1) != text
        elif context:
            assert catalog.pgettext(json.loads(f'"{context}"'), text) != text or text == "Slack", (context, text)
        else:
            assert catalog.gettext(text) != text, text


# --- The script as a static file ------------------------------------------------------------------------------

def test_the_static_finders_find_the_script_and_the_stylesheet() -> None:
    assert finders.find("web/search.js") == str(SCRIPT)
    assert finders.find("web/search.css")


def test_the_script_is_served_as_javascript() -> None:
    # What `hub up` serves static files with (hub/cli/server.py: ASGIStaticFilesHandler) ends in this view.
    response = serve(RequestFactory().get("/static/web/search.js"), "web/search.js", insecure=True)
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert b"renderSnippet" in b"".join(response.streaming_content)  # type: ignore[arg-type]


def test_collectstatic_collects_the_page_files(settings: Settings, tmp_path: Path) -> None:
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "static" / "web" / "search.js").read_bytes() == SCRIPT.read_bytes()
    assert (tmp_path / "static" / "web" / "search.css").exists()


def test_the_script_writes_no_html_but_the_sanitised_snippet() -> None:
    """Message content is untrusted: nothing from the API may reach the page as markup except the snippet,
    which renderSnippet rebuilds from text and <mark> elements only."""
    source = SCRIPT.read_text(encoding="utf-8")
    code = re.sub(r"//[^\n]*", "", source)  # the comments may name what the code must not do
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setAttribute(\"on", ".onclick", "srcdoc"):
        assert sink not in code, sink
    assert code.count("parseFromString(") == 1
    snippet = re.search(r"function renderSnippet\(html, into\) \{(.*?)\n\}", code, re.S)
    assert snippet, "renderSnippet"
    assert 'el("mark", null, node.textContent)' in snippet.group(1)
    assert "document.createTextNode(node.textContent)" in snippet.group(1)
    assert 'credentials: "same-origin"' in code
