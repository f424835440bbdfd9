"""Turning the hub's own exceptions into API answers, once for every view (REST_FRAMEWORK["EXCEPTION_HANDLER"]).

Actions raise ActionError for a request they refuse; hub.access raises NotAnAgent and Http404. Without this,
each of those would be a 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from hub.access import NotAnAgent
from hub.actions import ActionError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ActionError):
        return Response({exc.field or "detail": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, NotAnAgent):
        exc = exceptions.PermissionDenied(str(exc))
    elif isinstance(exc, DjangoValidationError):
        # A model-level check that input validation did not catch is still the client's mistake.
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    return drf_exception_handler(exc, context)


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/v1/ (and ids that are not numbers) answer JSON, like the rest of the API."""
    return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
