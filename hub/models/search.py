from __future__ import annotations

from django.db import models


class SearchIndexState(models.Model):
    """How far the search indexer has read the change log. Changes after `last_change` are the backlog:
    while the search engine is down they wait here, in the database, and drain when it returns."""

    name = models.CharField(max_length=64, primary_key=True)
    last_change = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
