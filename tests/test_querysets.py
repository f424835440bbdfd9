"""hub/querysets.py: a lookup by a unique key without the ORDER BY that QuerySet.first() adds."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hub.models import AgentProfile
from hub.querysets import only_row
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_only_row_finds_the_row_or_none_without_ordering() -> None:
    agent = f.agent("ann").agent  # type: ignore[attr-defined]
    with CaptureQueriesContext(connection) as queries:
        found = only_row(AgentProfile.objects.filter(user_id=agent.user_id))  # a model ordered by display name
        missing = only_row(AgentProfile.objects.filter(user_id=-1))
        values = only_row(AgentProfile.objects.filter(user_id=agent.user_id).values("role"))
    assert found == agent and missing is None and values == {"role": "agent"}
    assert [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"]] == []
