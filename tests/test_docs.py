"""The documentation, checked against the code it describes.

- docs/protocol.md: a section per event type with exactly its fields; every JSON example parses with the
  hub's event schema and round-trips; the frames match what the real consumer sends.
- docs/operations.md: the variables table is generated from hub/config.py, and no other HUB_ name appears.
- docs/connectors.md: the default-account table matches hub/channel_accounts.py; the example third-party
  package is written out, registered through its entry point and its own tests are run.
- README.md: the Quick start is exactly `make run` and `make test`; links and module paths exist.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from hub.config import VARIABLES
from hub.events import schema
from hub.events.resume import RELOAD_RESOURCES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OWN_DOCS = [ROOT / "README.md", DOCS / "architecture.md", DOCS / "protocol.md", DOCS / "operations.md",
            DOCS / "connectors.md", DOCS / "search.md", DOCS / "metrics.md"]
EVENT_TYPES = {cls.model_fields["type"].default: cls for cls in schema.EVENT_TYPES}
FRAME_TYPES = {"hello", "event", "reload", "pong", "error", "typing"}
CLIENT_FRAME_TYPES = {"ping", "presence", "offer.accept", "offer.decline", "typing"}
SHARED_OBJECTS = {
    "Conversation object": schema.ConversationData,
    "Message object": schema.MessageData,
    "Attachment object": schema.AttachmentData,
    "Note object": schema.NoteData,
}
# Read by the test harness (Makefile, tests/conftest.py, .ci/run), not by the hub: they may appear in the
# README's development notes but are not configuration.
HARNESS_VARIABLES = {"HUB_TEST_REDIS_URL", "HUB_TEST_REQUIRE_SERVICES"}
HUB_NAME = re.compile(r"\bHUB_[A-Z][A-Z0-9_]*\b")


# --- reading markdown ---------------------------------------------------------------------------------

def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, content) of every fenced code block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```\s*$", text, re.M | re.S)]


def without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```\s*$", "", text, flags=re.M | re.S)


def sections(text: str, level: int) -> dict[str, str]:
    """Heading text -> body for the headings of exactly `level`. A body runs to the next heading of that
    level or above; lines inside code blocks are never headings."""
    found: dict[str, str] = {}
    current: str | None = None
    body: list[str] = []
    in_code = False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            in_code = not in_code
        heading = None if in_code else re.match(r"^(#{1,6}) (.+)$", line)
        if heading and len(heading.group(1)) <= level:
            if current is not None:
                found[current] = "".join(body)
            current = heading.group(2).strip() if len(heading.group(1)) == level else None
            body = []
        elif current is not None:
            body.append(line)
    if current is not None:
        found[current] = "".join(body)
    return found


def table_first_column(body: str) -> list[str]:
    """The `code` names in the first column of the markdown tables of `body`."""
    return re.findall(r"^\| `([^`]+)` \|", without_code_blocks(body), re.M)


def json_examples(text: str) -> list[dict[str, Any]]:
    return [json.loads(content) for lang, content in fenced_blocks(text) if lang == "json"]


# --- docs/protocol.md ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def protocol() -> str:
    return read(DOCS / "protocol.md")


def test_every_event_type_has_a_section(protocol: str) -> None:
    headings = sections(protocol, 3)
    missing = [t for t in EVENT_TYPES if f"`{t}`" not in headings]
    assert not missing, f"docs/protocol.md has no section for {missing}"
    documented = {h.strip("`") for h in headings if re.fullmatch(r"`[a-z]+\.[a-z_]+`", h)}
    assert documented == set(EVENT_TYPES), f"sections for events that do not exist: {documented - set(EVENT_TYPES)}"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_event_section_lists_its_fields_and_has_an_example(protocol: str, event_type: str) -> None:
    body = sections(protocol, 3)[f"`{event_type}`"]
    model = EVENT_TYPES[event_type]
    assert table_first_column(body) == list(model.model_fields), f"{event_type}: the field table is out of date"
    examples = [e for e in json_examples(body) if e.get("type") == event_type]
    assert examples, f"{event_type}: no JSON example in its section"


@pytest.mark.parametrize("heading", sorted(SHARED_OBJECTS))
def test_shared_objects_list_their_fields(protocol: str, heading: str) -> None:
    body = sections(protocol, 3)[heading]
    assert table_first_column(body) == list(SHARED_OBJECTS[heading].model_fields)


def test_every_event_example_parses_and_round_trips(protocol: str) -> None:
    """Each example is exactly what the server would send: parsing it with the schema and dumping it back to
    JSON gives the same document."""
    events = []
    for example in json_examples(protocol):
        if example.get("type") in EVENT_TYPES:
            events.append(example)
        elif example.get("type") == "event":
            events.append(example["event"])
    assert {e["type"] for e in events} == set(EVENT_TYPES)
    for event in events:
        parsed = schema.parse_event(event)
        assert isinstance(parsed, BaseModel)
        assert parsed.model_dump(mode="json") == event, f"{event['type']} example does not round-trip"


def test_examples_are_known_frames_or_events(protocol: str) -> None:
    for example in json_examples(protocol):
        assert example["type"] in set(EVENT_TYPES) | FRAME_TYPES | CLIENT_FRAME_TYPES, example


def frame_examples(protocol: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for example in json_examples(protocol):
        if example["type"] in FRAME_TYPES | CLIENT_FRAME_TYPES:
            found.setdefault(example["type"], example)
    assert set(found) == FRAME_TYPES | CLIENT_FRAME_TYPES, "every frame needs an example"
    return found


def test_documented_reload_resources_are_the_servers(protocol: str) -> None:
    assert frame_examples(protocol)["reload"]["resources"] == RELOAD_RESOURCES


@pytest.mark.django_db(transaction=True)
async def test_documented_frames_are_what_the_consumer_sends(protocol: str) -> None:
    """Drive the real /ws/agent/ consumer with the documented client frames and compare every server frame
    with the documented one: same keys, and the values the doc promises."""
    from channels.db import database_sync_to_async
    from django.db import connections

    from tests import factories

    frames = frame_examples(protocol)
    user = await database_sync_to_async(factories.agent)("docs-agent", presence="available")
    try:
        await _drive_the_consumer(frames, user)
    finally:
        # The ORM ran in asgiref's worker thread; close its connection so PostgreSQL can drop the test database.
        await database_sync_to_async(connections.close_all)()


async def _drive_the_consumer(frames: dict[str, dict[str, Any]], user: Any) -> None:
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth.models import AnonymousUser

    from web.consumers import AgentConsumer

    async def connect(query: str = "", who: Any = user) -> tuple[WebsocketCommunicator, bool, int | str | None]:
        communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/" + query)
        communicator.scope["user"] = who
        connected, code = await communicator.connect(timeout=5)
        return communicator, connected, code

    async def receive(communicator: WebsocketCommunicator, frame_type: str) -> dict[str, Any]:
        frame = await communicator.receive_json_from(timeout=5)
        assert frame["type"] == frame_type, frame
        assert set(frame) == set(frames[frame_type]), f"{frame_type} frame differs from docs/protocol.md"
        return frame

    # Fresh connection: hello first.
    ws, connected, _ = await connect()
    assert connected
    hello = await receive(ws, "hello")
    assert hello["resumed"] is False
    start = hello["seq"]

    await ws.send_json_to(frames["ping"])
    assert (await receive(ws, "pong"))["seq"] == start

    # The documented presence frame comes back as the next numbered event.
    await ws.send_json_to(frames["presence"])
    event = await receive(ws, "event")
    assert event["seq"] == start + 1
    assert schema.parse_event(event["event"]) == schema.PresenceChanged(
        agent_id=user.pk, presence=frames["presence"]["presence"])

    # The error reasons listed in the doc.
    await ws.send_json_to({"type": "dance"})
    assert (await receive(ws, "error"))["reason"] == "unknown message type 'dance'"
    await ws.send_json_to({"type": "presence", "presence": "sleeping"})
    assert (await receive(ws, "error"))["reason"] == frames["error"]["reason"]
    await ws.disconnect()

    # Resume: the missed events, then hello.
    ws, connected, _ = await connect(f"?last_seq={start}")
    assert connected
    replayed = await receive(ws, "event")
    assert replayed["seq"] == start + 1 and replayed["event"] == event["event"]
    resumed = await receive(ws, "hello")
    assert resumed == {"type": "hello", "seq": start + 1, "resumed": True}
    await ws.disconnect()

    # Too far behind (or nonsense): reload, then hello.
    ws, connected, _ = await connect("?last_seq=-1")
    reload = await receive(ws, "reload")
    assert reload["resources"] == RELOAD_RESOURCES and reload["reason"] == "too_far_behind"
    assert reload["seq"] == start + 1
    assert (await receive(ws, "hello"))["resumed"] is True
    await ws.disconnect()

    # An invalid last_seq: an error frame, then close code 4400.
    ws, connected, _ = await connect("?last_seq=yesterday")
    assert (await receive(ws, "error"))["reason"] == "last_seq must be an integer"
    assert (await ws.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4400}

    # Not an agent: accepted, then closed at once with 4401 (what a browser's close event shows).
    ws, connected, _ = await connect(who=AnonymousUser())
    assert connected
    assert (await ws.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4401}


def test_protocol_states_the_close_codes_it_uses(protocol: str) -> None:
    consumer = read(ROOT / "web" / "consumers.py")
    for code in set(re.findall(r"\b(4\d{3})\b", consumer)):
        assert f"| {code} |" in protocol, f"close code {code} is used by web/consumers.py but not documented"


# --- docs/operations.md -------------------------------------------------------------------------------

def variables_table() -> str:
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for var in VARIABLES:
        default = f"`{var.default}`" if var.default else "(empty)"
        lines.append(f"| `{var.name}` | {default} | {var.help} |")
    return "\n".join(lines) + "\n"


def test_operations_variables_table_is_generated_from_config() -> None:
    table = variables_table()
    assert table in read(DOCS / "operations.md"), (
        "docs/operations.md's variables table differs from hub/config.py VARIABLES; paste this:\n\n" + table)


def test_operations_documents_every_variable_and_nothing_else() -> None:
    mentioned = set(HUB_NAME.findall(read(DOCS / "operations.md")))
    declared = {v.name for v in VARIABLES}
    assert declared - mentioned == set(), "variables missing from docs/operations.md"
    assert mentioned - declared == set(), "docs/operations.md names variables that hub/config.py does not declare"


def test_operations_readyz_examples_name_the_real_checks() -> None:
    from hub.health import CHECKS

    examples = [e for e in json_examples(read(DOCS / "operations.md")) if "checks" in e]
    assert len(examples) >= 2
    for example in examples:
        assert set(example["checks"]) == set(CHECKS)
        assert example["status"] in ("ready", "not ready")
        for check in example["checks"].values():
            assert set(check) == {"state", "detail", "ms"} and check["state"] in ("ok", "down")


@pytest.mark.parametrize("path", OWN_DOCS, ids=lambda p: p.name)
def test_docs_name_only_real_variables(path: Path) -> None:
    harness = {name for name in HARNESS_VARIABLES
               if any(name in read(ROOT / f) for f in ("Makefile", "tests/conftest.py", ".ci/run"))}
    unknown = set(HUB_NAME.findall(read(path))) - {v.name for v in VARIABLES} - harness
    assert not unknown, f"{path.name} names {sorted(unknown)}, which no code reads"


# --- docs/connectors.md -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def connectors_doc() -> str:
    return read(DOCS / "connectors.md")


def test_connectors_lists_each_default_account_variable(connectors_doc: str) -> None:
    from hub.channel_accounts import DEFAULT_ACCOUNTS

    rows = {(m.group(1), m.group(3)) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \| `(HUB_\w+)` \|$",
                                                               connectors_doc, re.M)}
    assert rows == {(channel, var) for channel, (_, var) in DEFAULT_ACCOUNTS.items()}


def test_connectors_names_the_entry_point_group(connectors_doc: str) -> None:
    from connectors.registry import ENTRY_POINT_GROUP

    assert f"`{ENTRY_POINT_GROUP}`" in connectors_doc


def example_package(text: str) -> dict[str, str]:
    """The files of the example package: code blocks whose first line is `# <path>`."""
    files = {}
    for lang, content in fenced_blocks(text):
        first, _, rest = content.partition("\n")
        if lang in ("python", "toml") and re.fullmatch(r"# [\w./-]+\.(py|toml)", first):
            files[first[2:]] = rest if lang == "toml" else content
    return files


def test_example_connector_package_passes_its_own_tests(connectors_doc: str, tmp_path: Path) -> None:
    files = example_package(connectors_doc)
    assert set(files) == {"pyproject.toml", "acme_connector/__init__.py", "acme_connector/connector.py",
                          "tests/test_acme.py"}
    package = tmp_path / "hub-connector-acme"
    for name, content in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(content, encoding="utf-8")
    project = tomllib.loads(files["pyproject.toml"])["project"]
    entry_points = project["entry-points"]["hub.connectors"]
    assert entry_points == {"acme": "acme_connector.connector:AcmeConnector"}

    # What installing the package leaves on sys.path: its code and a dist-info with the entry points, which
    # importlib.metadata (and so connectors/registry.py) reads.
    dist_info = package / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (dist_info / "entry_points.txt").write_text(
        "[hub.connectors]\n" + "".join(f"{name} = {target}\n" for name, target in entry_points.items()))

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(package), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:django", "-p", "no:asyncio", "-p", "no:cacheprovider",
         "tests"],
        cwd=package, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    functions = len(re.findall(r"^def test_", files["tests/test_acme.py"], re.M))
    passed = int(re.search(r"(\d+) passed", output).group(1))  # type: ignore[union-attr]
    assert passed >= functions, output


# --- README.md and links ------------------------------------------------------------------------------

def test_readme_quick_start_is_make_run_and_make_test() -> None:
    body = sections(read(ROOT / "README.md"), 2)["Quick start"]
    commands = [line.strip() for _, content in fenced_blocks(body) for line in content.splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert commands == ["make run", "make test"]
    assert "http://127.0.0.1:8000" in body


def test_readme_points_to_the_docs_and_the_api() -> None:
    readme = read(ROOT / "README.md")
    for target in ("docs/operations.md", "docs/architecture.md", "docs/protocol.md", "docs/connectors.md"):
        assert f"]({target})" in readme
    for url in ("/api/v1/", "/api/schema/", "/api/docs/", "Authorization: Token", "hub token"):
        assert url in readme
    assert "Apache" in sections(readme, 2)["License"]


def test_api_urls_in_readme_are_routed() -> None:
    from django.urls import resolve

    for url in ("/api/schema/", "/api/docs/", "/healthz", "/readyz"):
        resolve(url)


@pytest.mark.parametrize("path", OWN_DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", without_code_blocks(read(path))):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        assert (path.parent / target.split("#")[0]).exists(), f"{path.name} links to missing {target}"


@pytest.mark.parametrize("path", OWN_DOCS, ids=lambda p: p.name)
def test_module_paths_named_in_docs_exist(path: Path) -> None:
    folders = {"hub", "connectors", "routing", "web", "search", "tests", "bench", "docs"}
    for name in re.findall(r"`([\w.-]+/[\w./-]*)`", without_code_blocks(read(path))):
        if name.split("/")[0] in folders:
            assert (ROOT / name).exists(), f"{path.name} names {name}, which does not exist"
