"""The portal's sessions: in memory, by a random id, so a person's key never leaves the server.
A session ends on sign-out, after ``idle_seconds`` without a request and ``max_seconds`` after
sign-in; an API restart signs everyone out."""
from __future__ import annotations

import dataclasses
import secrets
import time
from typing import Optional


@dataclasses.dataclass
class Session:
    id: str
    key: str = dataclasses.field(repr=False)
    kind: str
    principal_id: str
    csrf: str
    created: float
    seen: float
    flash: list = dataclasses.field(default_factory=list)  # (level, text) shown once on the next page


class Sessions:
    """In memory, by a random id: the key never leaves the server."""

    def __init__(self, idle_seconds: float, max_seconds: float, clock=time.monotonic):
        self.idle, self.max, self.clock = idle_seconds, max_seconds, clock
        self.by_id: dict[str, Session] = {}

    def create(self, key: str, kind: str, principal_id: str) -> Session:
        self.sweep()
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), key, kind, principal_id, secrets.token_urlsafe(32), now, now)
        self.by_id[session.id] = session
        return session

    def get(self, session_id: Optional[str]) -> Optional[Session]:
        session = self.by_id.get(session_id or "")
        if session is None:
            return None
        now = self.clock()
        if now - session.seen > self.idle or now - session.created > self.max:
            self.by_id.pop(session.id, None)
            return None
        session.seen = now
        return session

    def drop(self, session_id: str) -> None:
        self.by_id.pop(session_id, None)

    def sweep(self) -> None:
        now = self.clock()
        for sid in [s.id for s in self.by_id.values() if now - s.seen > self.idle or now - s.created > self.max]:
            self.by_id.pop(sid, None)
