"""Who may see what: API key → principal, consent → scopes. Plain functions over rows, no I/O."""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple, Optional

from creditstream.schemas.models import SCOPES, ConsentState, field_scope

__all__ = ["SCOPES", "Decision", "Principal", "decide", "field_scope"]


class Principal(NamedTuple):
    kind: str  # "lender" | "enterprise" | "operator"
    id: str  # lender id or USCC
    key_id: str


class Decision(NamedTuple):
    allowed: bool
    reason: str
    consent_event_id: Optional[str] = None


def decide(principal: Principal, uscc: str, scope: str, consent: Optional[ConsentState], now: dt.datetime) -> Decision:
    """May ``principal`` see ``scope`` data of ``uscc`` now? ``consent`` is the grant in force for
    (uscc, lender): the last accepted ConsentGrant in the consent topic's order, or None."""
    if principal.kind == "enterprise":
        if principal.id == uscc:
            return Decision(True, "own data")
        return Decision(False, "an enterprise key may only read that enterprise's own data")
    if consent is None:
        return Decision(False, f"no consent from {uscc} for lender {principal.id}")
    event_id = consent.event_id
    if consent.revoked:
        return Decision(False, f"consent {event_id} was revoked at {_when(consent.occurred_at)}", event_id)
    if now < consent.granted_at:
        return Decision(False, f"consent {event_id} starts at {consent.granted_at.isoformat()}", event_id)
    if now >= consent.expires_at:
        return Decision(False, f"consent {event_id} expired at {consent.expires_at.isoformat()}", event_id)
    if scope not in consent.scopes:
        return Decision(False, f"consent {event_id} does not cover {scope} (covers {', '.join(consent.scopes)} "
                               f"since {_when(consent.occurred_at)})", event_id)
    return Decision(True, f"consent {event_id}", event_id)


def _when(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
