"""The one way anything in the API refuses a request, and the one place it becomes an answer.

A handler (or the pipeline) raises ``ApiError``: the HTTP status, a short error code, the reason
in words, the field of the request it concerns, and, for a look-up, the consent decision the
audit row records. ``answer`` turns it into the JSON every client sees:
``{"error", "reason", "field"?}`` with ``Retry-After`` when waiting helps. A contract rule's
``RightsError`` (schemas.services) is the same refusal of a field: 400.
"""
from __future__ import annotations

from typing import Optional

from aiohttp import web

from creditstream.api.http.answers import json_answer


class ApiError(Exception):
    def __init__(self, status: int, error: str, reason: str, field: Optional[str] = None, *,
                 decision: str = "deny", scope: str = "", consent_event_id: Optional[str] = None,
                 retry_after: Optional[float] = None, state: Optional[str] = None):
        super().__init__(reason)
        self.status, self.error, self.reason, self.field = status, error, reason, field
        self.decision, self.scope, self.consent_event_id = decision, scope, consent_event_id
        self.retry_after, self.state = retry_after, state

    def body(self) -> dict:
        """error, reason, the field at fault, and for a state conflict the state things are in."""
        return {"error": self.error, "reason": self.reason, **({"field": self.field} if self.field else {}),
                **({"state": self.state} if self.state else {})}

    def answer(self) -> web.Response:
        headers = {"Retry-After": str(max(1, round(self.retry_after + 0.499)))} if self.retry_after is not None else {}
        return json_answer(self.body(), status=self.status, headers=headers)


def unavailable(reason: str, retry_after: float = 5) -> ApiError:
    """503: the platform could not do it now and nothing was changed."""
    return ApiError(503, "unavailable", reason, retry_after=retry_after)
