"""docker-compose.yml and the Dockerfile, checked by reading them (there is no Docker engine here)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from hub.config import VARIABLES

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"postgres", "redis", "elasticsearch", "web", "worker", "beat"}
INFRA = ("postgres", "redis", "elasticsearch")
HUB_SERVICES = {"web": "hub up", "worker": "hub worker", "beat": "hub beat"}
DOCUMENTED = {v.name for v in VARIABLES}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whichever of the two compose spellings it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> str:
    cmd = service.get("command")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd or "")


def test_the_six_services(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES


@pytest.mark.parametrize("name", sorted(INFRA))
def test_server_images_are_official_and_pinned(services: dict[str, Any], name: str) -> None:
    image = services[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository.endswith(name), image
    assert tag and tag != "latest" and tag[0].isdigit(), f"{name}: pin a version, not {image!r}"
    if name == "elasticsearch":
        assert repository == "docker.elastic.co/elasticsearch/elasticsearch"
        assert tag.startswith("8."), "the hub's Elasticsearch backend speaks 8.x"


@pytest.mark.parametrize("name", sorted(HUB_SERVICES))
def test_hub_services_use_the_dockerfile_image(services: dict[str, Any], name: str) -> None:
    service = services[name]
    build = service["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == ROOT / "Dockerfile"
    tag = service["image"].rpartition(":")[2]
    assert tag and tag != "latest"
    # One image for the three: the same tag, so a deploy never mixes versions.
    assert len({services[n]["image"] for n in HUB_SERVICES}) == 1


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(services: dict[str, Any], name: str) -> None:
    test = services[name]["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1


def test_healthchecks_probe_the_right_thing(services: dict[str, Any]) -> None:
    def probe(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"][1:])

    assert "pg_isready" in probe("postgres")
    assert "redis-cli" in probe("redis") and "ping" in probe("redis")
    assert "_cluster/health" in probe("elasticsearch")
    assert "/readyz" in probe("web") and ":8000/" in probe("web")


def test_elasticsearch_is_a_single_node_without_security(services: dict[str, Any]) -> None:
    env = environment(services["elasticsearch"])
    assert env["discovery.type"] == "single-node"
    assert env["xpack.security.enabled"] == "false"
    assert re.search(r"-Xms\d+[mg]", env["ES_JAVA_OPTS"]) and re.search(r"-Xmx\d+[mg]", env["ES_JAVA_OPTS"])


@pytest.mark.parametrize("name", sorted(HUB_SERVICES))
def test_hub_services_wait_for_healthy_servers(services: dict[str, Any], name: str) -> None:
    depends = services[name]["depends_on"]
    assert isinstance(depends, dict), "use the long form, with conditions"
    for server in INFRA:
        assert depends[server]["condition"] == "service_healthy", f"{name} must wait for {server}"


@pytest.mark.parametrize("name", sorted(HUB_SERVICES))
def test_hub_services_run_the_hub_command(services: dict[str, Any], name: str) -> None:
    assert command(services[name]) == HUB_SERVICES[name]


def test_only_documented_hub_variables_are_set(services: dict[str, Any]) -> None:
    for name, service in services.items():
        unknown = {k for k in environment(service) if k.startswith("HUB_")} - DOCUMENTED
        assert not unknown, f"{name} sets {sorted(unknown)}, which hub/config.py does not declare"


@pytest.mark.parametrize("name", sorted(HUB_SERVICES))
def test_hub_services_point_at_the_compose_servers(services: dict[str, Any], name: str) -> None:
    env = environment(services[name])
    database = urlparse(env["HUB_DATABASE_URL"])
    assert database.scheme in ("postgres", "postgresql") and database.hostname == "postgres"
    redis = urlparse(env["HUB_REDIS_URL"])
    assert redis.scheme == "redis" and redis.hostname == "redis"
    search = urlparse(env["HUB_ELASTICSEARCH_URL"])
    assert search.scheme == "http" and search.hostname == "elasticsearch" and search.port == 9200
    assert env["HUB_PUBLIC_URL"]
    assert env["HUB_DATA_DIR"] == "/data"


def test_the_secret_key_must_be_given(services: dict[str, Any]) -> None:
    # Every process must share one key that survives redeploys: compose refuses to start without it.
    for name in HUB_SERVICES:
        assert re.fullmatch(r"\$\{HUB_SECRET_KEY:\?.+\}", environment(services[name])["HUB_SECRET_KEY"])


def test_web_listens_on_all_interfaces_and_publishes_8000(services: dict[str, Any]) -> None:
    web = services["web"]
    assert environment(web)["HUB_HOST"] == "0.0.0.0"
    assert environment(web).get("HUB_PORT", "8000") == "8000"
    assert any(str(p).endswith(":8000") for p in web["ports"])


def test_web_and_worker_share_the_data_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    def data_volume(name: str) -> str:
        mounts = [str(v) for v in services[name].get("volumes", [])]
        matching = [m.split(":")[0] for m in mounts if m.split(":")[1:2] == ["/data"]]
        assert matching, f"{name} has no volume at /data"
        return matching[0]

    volume = data_volume("web")
    assert data_volume("worker") == volume
    assert volume in compose["volumes"], "a named volume, so attachments survive a new container"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile_builds_from_python_311_slim() -> None:
    froms = [rest for keyword, rest in dockerfile_instructions() if keyword == "FROM"]
    assert froms[-1].split()[0] == "python:3.11-slim"


def test_dockerfile_installs_the_package_with_what_it_needs() -> None:
    instructions = dockerfile_instructions()
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", runs), "the image must `pip install .`"
    copied = " ".join(rest for keyword, rest in instructions if keyword == "COPY")
    # pyproject.toml names README.md as the readme and these packages; the build needs them all.
    for needed in ("pyproject.toml", "README.md", "hub", "connectors", "routing", "web", "search"):
        assert re.search(rf"(^|\s|\./){re.escape(needed)}(\s|/|$)", copied), f"Dockerfile does not COPY {needed}"
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert not ignored & {"pyproject.toml", "README.md", "hub", "connectors", "routing", "web", "search"}


def test_dockerfile_runs_as_a_non_root_user_and_starts_the_hub() -> None:
    instructions = dockerfile_instructions()
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    last_user = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "USER")
    assert all(keyword != "RUN" for keyword, _ in instructions[last_user:]), "nothing runs as root after USER"
    cmd = [rest for keyword, rest in instructions if keyword in ("CMD", "ENTRYPOINT")]
    assert cmd, "the image needs a CMD"
    argv = json.loads(cmd[-1]) if cmd[-1].startswith("[") else shlex.split(cmd[-1])
    assert argv == ["hub", "up"]
