"""Search over every conversation ever held (search/service.py does the work; docs/search.md the language).

GET /api/v1/search/?q=...            hits grouped by conversation (or mode=messages), facets, a cursor
GET /api/v1/search/export.csv?q=...  every matching message the user may see, as CSV
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from hub.api.base import AgentAPIView
from search import service
from search.backend import BackendUnavailable
from search.query import QueryError

EXPORT_LIMIT = 100_000


class SearchParamsSerializer(serializers.Serializer[Any]):
    q = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=True,
                              help_text="The query (docs/search.md). Empty: everything, newest first.")
    mode = serializers.ChoiceField(choices=["conversations", "messages"], default="conversations",
                                   help_text="Hits grouped by conversation (with its best matches), or one per "
                                             "message.")
    sort = serializers.ChoiceField(choices=["relevance", "newest", "oldest"], default="relevance")
    page_size = serializers.IntegerField(min_value=1, max_value=service.MAX_PAGE_SIZE, default=20)
    cursor = serializers.CharField(required=False, allow_blank=True, default="",
                                   help_text="`next_cursor` of the previous page.")
    facets = serializers.BooleanField(default=True, help_text="Counts by channel, agent, team, tag and month.")


class MatchSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(help_text='"m<message id>" or "n<note id>"')
    kind = serializers.ChoiceField(choices=["message", "note"])
    row_id = serializers.IntegerField(help_text="The message's or note's id")
    direction = serializers.CharField()
    channel = serializers.CharField()
    author = serializers.CharField()
    public = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    snippet = serializers.CharField(help_text="HTML: the escaped text around the match, matches in <mark>")
    score = serializers.FloatField()


class ResultSerializer(serializers.Serializer[Any]):
    conversation_id = serializers.IntegerField()
    conversation = serializers.DictField()
    matches = MatchSerializer(many=True)
    score = serializers.FloatField()


class FacetSerializer(serializers.Serializer[Any]):
    value = serializers.CharField()
    count = serializers.IntegerField()


class PageSerializer(serializers.Serializer[Any]):
    query = serializers.CharField()
    mode = serializers.CharField()
    sort = serializers.CharField(help_text="The sort applied (relevance becomes newest for a query without text)")
    total = serializers.IntegerField(help_text="Conversations matching (mode conversations) or messages")
    results = ResultSerializer(many=True)
    facets = serializers.DictField(child=FacetSerializer(many=True))
    next_cursor = serializers.CharField(allow_null=True)
    backend = serializers.CharField()


class SearchUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "search is unavailable for a moment; try again"
    default_code = "search_unavailable"


def _query_error(exc: QueryError) -> Response:
    return Response({"q": [str(exc)], "position": exc.position}, status=status.HTTP_400_BAD_REQUEST)


class Search(AgentAPIView):
    serializer_class = PageSerializer

    @extend_schema(parameters=[SearchParamsSerializer], responses={
        200: PageSerializer, 400: OpenApiResponse(description="A malformed query: the reason and its position"),
        503: OpenApiResponse(description="The search engine cannot be reached")})
    def get(self, request: Request) -> Response:
        """Search every conversation the user may open, in any language."""
        params = SearchParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            page = service.search(self.user, service.Params(**params.validated_data))
        except QueryError as exc:
            return _query_error(exc)
        except service.CursorError as exc:
            return Response({"cursor": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except BackendUnavailable as exc:
            raise SearchUnavailable() from exc
        data = {
            "query": page.query, "mode": page.mode, "sort": page.sort, "total": page.total,
            "results": [{"conversation_id": r.conversation_id, "conversation": r.conversation,
                         "matches": [vars(m) for m in r.matches], "score": r.score} for r in page.results],
            "facets": {name: [{"value": v, "count": n} for v, n in buckets] for name, buckets in page.facets.items()},
            "next_cursor": page.next_cursor, "backend": page.backend,
        }
        return Response(PageSerializer(data).data)


class _Echo:
    """csv.writer writes into this and the row comes straight back, for streaming."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    """Text for a spreadsheet: a cell that starts like a formula is prefixed so that it stays text."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class SearchExport(AgentAPIView):
    @extend_schema(parameters=[SearchParamsSerializer], responses={
        (200, "text/csv"): OpenApiResponse(description="One row per matching message, newest first"),
        400: OpenApiResponse(description="A malformed query")})
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        """Every matching message the user may see (up to 100,000), as CSV."""
        params = SearchParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        text = params.validated_data["q"]
        try:
            service.parse(text)
        except QueryError as exc:
            return _query_error(exc)
        rows = service.iter_export(self.user, text, EXPORT_LIMIT)
        try:
            first = next(rows, None)
        except BackendUnavailable as exc:
            raise SearchUnavailable() from exc
        writer = csv.writer(_Echo())

        def lines() -> Iterator[str]:
            yield "\ufeff"  # Excel opens UTF-8 (Chinese) correctly only with the byte order mark
            yield writer.writerow(["conversation_id", "message_id", "kind", "created_at", "channel", "direction",
                                   "author", "customer", "status", "team", "assignee", "text"])
            for conv, match in itertools.chain([] if first is None else [first], rows):
                yield writer.writerow([_cell(v) for v in (
                    conv.pk, match.row_id, match.kind, match.created_at.isoformat(), match.channel,
                    match.direction, match.author, conv.customer.display_name, conv.status,
                    conv.team.name if conv.team else "", conv.assignee.username if conv.assignee else "",
                    match.text)]
                )

        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="search-{stamp}.csv"'
        return response

