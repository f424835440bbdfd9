"""`hub reindex`: rebuild the search index from the database, with a progress bar."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from search import documents, indexer
from search.backend import BackendUnavailable, backend_name


def _since(value: str) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(datetime.fromisoformat(value).date(), time.min,
                                    tzinfo=ZoneInfo(settings.TIME_ZONE))
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r} is not a date: write YYYY-MM-DD or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))


class Command(BaseCommand):
    help = ("Rebuild the search index from the database. Without --since: a new index is built while the "
            "current one keeps answering, then swapped in (zero downtime). With --since: the messages and notes "
            "created since then are indexed again in place.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="only what was created since this date (YYYY-MM-DD) or time")
        parser.add_argument("--batch", type=int, default=2000, help="documents per bulk request")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        since = _since(options["since"]) if options["since"] else None
        total = documents.count_documents(since)
        target = "everything" if since is None else f"messages and notes since {since.isoformat()}"
        self.stdout.write(f"Reindexing {target} on the {backend_name()} search backend: {total} documents.")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      disable=options["quiet"]) as progress:
            task = progress.add_task("indexing", total=total)
            try:
                result = indexer.reindex(since, progress=lambda n: progress.advance(task, n),
                                         batch=max(1, options["batch"]))
            except BackendUnavailable as exc:
                raise CommandError(f"the search engine is unavailable: {exc}") from None
        try:
            caught_up = indexer.index_pending(max_seconds=120)
        except BackendUnavailable:
            # The running hub holds the embedded index's writer: its indexer replays them within seconds.
            self.stdout.write(f"Indexed {result.documents} documents; the running hub indexes what was committed "
                              "meanwhile.")
            return
        self.stdout.write(f"Indexed {result.documents} documents; replayed {caught_up.changes} changes committed "
                          "meanwhile. Search is up to date.")
