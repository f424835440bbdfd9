"""Small helpers for the queries every conversation runs."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import QuerySet

Row = TypeVar("Row")


def only_row(queryset: QuerySet[Any, Row]) -> Row | None:
    """The row a lookup by a unique key finds, or None. QuerySet.first() orders by the primary key (or the
    model's default ordering) to choose among several rows; with one at most there is nothing to choose, and
    compiling that ORDER BY was a third of the cost of building such a lookup (docs/PERFORMANCE.md)."""
    for row in queryset.order_by()[:1]:
        return row
    return None
