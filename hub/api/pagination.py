"""Cursor pagination for every list: stable pages while new rows keep arriving, and no COUNT(*) queries.

A cursor is client input: its position goes straight into a WHERE clause, so it is parsed here first and a
forged one answers 404 ("invalid cursor") instead of failing inside the database.
"""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return False
    return parsed is not None and parsed.tzinfo is not None


class _CheckedCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def valid_position(self, position: str) -> bool:
        """Whether `position` is a value of the first ordering field (an id, unless overridden)."""
        return _is_int(position)

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not self.valid_position(str(cursor.position)):
            raise NotFound(self.invalid_cursor_message)
        return cursor


class NewestFirstCursorPagination(_CheckedCursorPagination):
    """Newest rows first; the default of the API (REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"])."""

    ordering = ("-id",)


class LatestActivityCursorPagination(_CheckedCursorPagination):
    """The inbox order: the conversation with the latest message first. The view annotates `last_activity`
    (last message time, else creation time) because a cursor position may not be NULL."""

    ordering = ("-last_activity", "-id")

    def valid_position(self, position: str) -> bool:
        return _is_datetime(position)


class OldestFirstCursorPagination(_CheckedCursorPagination):
    """A timeline read top to bottom: messages and notes of a conversation."""

    ordering = ("created_at", "id")

    def valid_position(self, position: str) -> bool:
        return _is_datetime(position)

