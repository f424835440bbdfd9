"""The search backends the contract suite runs against: the embedded one always, Elasticsearch whenever
HUB_ELASTICSEARCH_URL is set (each test in an index of its own, dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from search.backend import SearchBackend, get_backend, reset_backend

ES_URL = os.environ.get("HUB_ELASTICSEARCH_URL", "")
BACKENDS = ["embedded", *(["elasticsearch"] if ES_URL else [])]


@pytest.fixture(autouse=True)
def _fast_passwords(settings: SettingsWrapper) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(params=BACKENDS)
def search_backend(request: pytest.FixtureRequest, settings: SettingsWrapper, tmp_path) -> Iterator[SearchBackend]:  # type: ignore[no-untyped-def]
    """The configured backend, with indexing on commit turned on (tests/settings.py turns it off)."""
    settings.SEARCH_AUTO_INDEX = True
    settings.DATA_DIR = tmp_path
    if request.param == "elasticsearch":
        settings.ELASTICSEARCH_URL = ES_URL
        settings.HUB_SEARCH_INDEX = f"hub-test-{uuid.uuid4().hex[:10]}"
    else:
        settings.ELASTICSEARCH_URL = ""
    reset_backend()
    backend = get_backend()
    backend.ensure_index()
    yield backend
    if request.param == "elasticsearch":
        from elasticsearch import Elasticsearch

        client = Elasticsearch(ES_URL)
        # Listing by wildcard is allowed; deleting by one is not (action.destructive_requires_name).
        found = client.options(ignore_status=404).indices.get(index=f"{settings.HUB_SEARCH_INDEX}-v*")
        names = list(found.body) if found.meta.status == 200 else []
        if names:
            client.options(ignore_status=404).indices.delete(index=",".join(names))
        client.options(ignore_status=404).indices.delete_index_template(name=settings.HUB_SEARCH_INDEX)
        client.close()
    reset_backend()
