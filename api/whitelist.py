"""The whitelist for lenders (platform-services.md, Whitelist; docs/lender-services.md): the
current list, the ordered change feed after an opaque cursor, and webhooks that receive each
change signed, retried with exponential back-off until a 2xx, paused after repeated failure.

The changes come from credit.whitelist.v1 (written by the worker, one partition) through the
API's view; a cursor is the offset of the last change a reader has, so a reader that reconnects
with it misses and repeats nothing. Webhook registrations and each one's delivered offset live on
credit.webhooks.v1 (compacted): after an API restart, delivery resumes after the last change
recorded as delivered (a change delivered but not yet recorded is delivered again, with the same
change id, which receivers drop). One API process delivers; see docs/lender-services.md.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import datetime as dt
import json
import logging
import time
import uuid
from bisect import bisect_right
from typing import Optional

import aiohttp
from aiohttp import web

from creditstream.api.access import Principal
from creditstream.api.config import ApiConfig
from creditstream.api.http.errors import ApiError
from creditstream.api.http.params import bounded_int, json_body, stable_id
from creditstream.api.view import ServingView
from creditstream.api.webhook_targets import CheckedResolver, Resolver, TargetRefused, checked_addresses, system_resolver
from creditstream.api.writer import KafkaUnavailable, KafkaWriter
from creditstream.monitoring import metrics
from creditstream.schemas.models import WebhookState, WhitelistChange
from creditstream.schemas.months import SHANGHAI, months_back
from creditstream.schemas.records import to_json
from creditstream.schemas.topics import WEBHOOK_TOPIC
from creditstream.schemas.webhooks import CHANGE_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, webhook_secret

log = logging.getLogger("creditstream.api.whitelist")
UTC = dt.timezone.utc
GRADES = ("AAA", "AA", "A", "B", "C")
CURSOR_PREFIX = "wl1."
FEED_LIMIT = 500  # changes per page at most
LIST_LIMIT = 500  # members per page at most


def encode_cursor(offset: int) -> str:
    """Opaque to lenders: only the platform reads it back."""
    return CURSOR_PREFIX + base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset a cursor stands for; ApiError (400, field ``after``) when it is not one of ours."""
    problem = ApiError(400, "bad_request", "not a cursor this platform gave out: use next_cursor of an earlier answer, "
                                          "or leave it out to read from the first change", "after")
    if not cursor.startswith(CURSOR_PREFIX) or len(cursor) > 40:
        raise problem
    body = cursor[len(CURSOR_PREFIX):]
    try:
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise problem from None
    if not text.isdigit():
        raise problem
    return int(text)


def summary(changes: list[WhitelistChange], grade_of, last_month: str, months: int = 12) -> dict:
    """The whitelist in figures: members now per current grade (``grade_of(uscc)``, else the grade
    the change recorded), and for each of the last ``months`` months (Asia/Shanghai, ending with
    ``last_month``) the enterprises that joined, that left, and the members at the month's end.
    ``changes`` in feed order, repeats already dropped."""
    members: dict[str, WhitelistChange] = {}
    by_month: dict[str, dict] = {}
    for change in changes:
        month = change.at.astimezone(SHANGHAI).strftime("%Y-%m")
        figures = by_month.setdefault(month, {"joined": 0, "left": 0})
        if change.whitelisted:
            figures["joined"] += 1
            members[change.uscc] = change
        else:
            figures["left"] += 1
            members.pop(change.uscc, None)
        figures["members"] = len(members)
    by_grade = {grade: 0 for grade in GRADES}
    for uscc, change in members.items():
        grade = grade_of(uscc) or change.eval_grade
        by_grade[grade] = by_grade.get(grade, 0) + 1
    rows = []
    window = months_back(last_month, months)
    size = next((by_month[m]["members"] for m in sorted(by_month, reverse=True) if m < window[0]), 0)
    for month in window:
        figures = by_month.get(month, {"joined": 0, "left": 0, "members": size})
        size = figures["members"]
        rows.append({"month": month, "joined": figures["joined"], "left": figures["left"], "members": size})
    return {"size": len(members), "by_grade": by_grade, "months": rows}


def change_json(offset: int, change: WhitelistChange) -> dict:
    return {**change.to_json(), "cursor": encode_cursor(offset)}


def changes_after(view: ServingView, offset: int, limit: int) -> list[tuple[int, WhitelistChange]]:
    changes = view.whitelist_changes
    start = bisect_right(changes, offset, key=lambda item: item[0])
    return changes[start:start + limit]


def webhook_json(webhook: WebhookState, view: ServingView) -> dict:
    backlog = len(view.whitelist_changes) - bisect_right(view.whitelist_changes, webhook.delivered_offset,
                                                         key=lambda item: item[0])
    return {**to_json({name: getattr(webhook, name) for name in ("webhook_id", "url", "state", "failures",
                                                                  "last_error", "created_at", "updated_at")}),
            "delivered_cursor": encode_cursor(webhook.delivered_offset) if webhook.delivered_offset >= 0 else None,
            "backlog": backlog}


class Whitelist:
    """The lender-facing routes (answered through the pipeline: authenticated, limited, audited)."""

    def __init__(self, view: ServingView, writer: KafkaWriter, config: ApiConfig, clock=None,
                 resolve: Resolver = system_resolver):
        self.view, self.writer, self.config, self.resolve = view, writer, config, resolve
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self._sorted: Optional[list[str]] = None  # members by USCC, rebuilt when membership changed
        self._sorted_size = -1

    # -- the list and the feed -----------------------------------------------------------------
    async def current(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """GET /v1/whitelist?grade=&after=&limit=: members by USCC, with their current grade."""
        grade = request.query.get("grade")
        if grade is not None and grade not in GRADES:
            raise ApiError(400, "bad_request", f"one of {', '.join(GRADES)}", "grade")
        limit = bounded_int(request, "limit", 100, 1, LIST_LIMIT)
        after = request.query.get("after", "")
        members = self.members()
        start = bisect_right(members, after)
        items = []
        for uscc in members[start:]:
            if len(items) == limit:
                break
            change = self.view.whitelist.get(uscc)
            if change is None:
                continue
            current = self.view.eval_grade(uscc) or change.eval_grade
            if grade is None or current == grade:
                items.append({"uscc": uscc, "enterprise_name": change.enterprise_name, "eval_grade": current,
                              "since": to_json(change.at), "change_id": change.change_id})
        more = len(items) == limit and items[-1]["uscc"] != members[-1]
        return {"size": len(self.view.whitelist), "grade": grade, "items": items,
                "next_after": items[-1]["uscc"] if more else None,
                "changes_cursor": encode_cursor(self.view.whitelist_changes[-1][0]) if self.view.whitelist_changes
                else None}

    async def figures(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """GET /v1/whitelist/summary: members per grade, joins, leaves and size per month."""
        last_month = self.clock().astimezone(SHANGHAI).strftime("%Y-%m")
        return summary([change for _offset, change in self.view.whitelist_changes], self.view.eval_grade, last_month)

    def members(self) -> list[str]:
        if self._sorted is None or self._sorted_size != len(self.view.whitelist_changes):
            self._sorted_size = len(self.view.whitelist_changes)
            self._sorted = sorted(self.view.whitelist)
        return self._sorted

    async def changes(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """GET /v1/whitelist/changes?after=<cursor>&limit=: changes in order after the cursor (from
        the first without one). Readers poll with next_cursor, or register a webhook to be pushed."""
        if "recent" in request.query:  # the newest N, for a person browsing (not for resuming)
            recent = bounded_int(request, "recent", 20, 1, FEED_LIMIT)
            page = self.view.whitelist_changes[-recent:]
            return {"changes": [change_json(o, c) for o, c in reversed(page)], "next_cursor": None, "has_more": False}
        after = request.query.get("after")
        offset = decode_cursor(after) if after else -1
        limit = bounded_int(request, "limit", 100, 1, FEED_LIMIT)
        found = changes_after(self.view, offset, limit + 1)
        page = found[:limit]
        audit["reason"] = f"{len(page)} whitelist changes"
        return {"changes": [change_json(o, c) for o, c in page],
                "next_cursor": encode_cursor(page[-1][0]) if page else after,
                "has_more": len(found) > limit}

    # -- webhooks --------------------------------------------------------------------------------
    async def register(self, principal: Principal, request: web.Request, audit: dict):
        """POST /v1/webhooks {"url", "after"?}: deliveries start after ``after`` (a feed cursor),
        or after the newest change now. The secret is in this answer only."""
        lender = principal.id
        key = self.platform_key()
        body = await json_body(request)
        url = body.get("url")
        try:
            await checked_addresses(url, self.resolve, self.config.webhook_local_test_targets)
        except TargetRefused as exc:
            raise ApiError(400, "bad_request", str(exc), "url") from None
        after = body.get("after")
        if after is not None and not isinstance(after, str):
            raise ApiError(400, "bad_request", "a cursor (text) from the change feed", "after")
        offset = decode_cursor(after) if after else (self.view.whitelist_changes[-1][0]
                                                      if self.view.whitelist_changes else -1)
        webhook_id = stable_id("webhook", lender, request) or f"w-{uuid.uuid4().hex[:16]}"
        now = self.clock()
        known = self.view.webhooks.get(webhook_id)
        if known is None or known.state == "DELETED":
            held = sum(w.lender_id == lender and w.state != "DELETED" for w in self.view.webhooks.values())
            if held >= self.config.webhooks_per_lender:
                raise ApiError(409, "conflict", f"lender {lender} has {held} webhooks, the most it may have; "
                                               "delete one first", "url")
            known = WebhookState(webhook_id, lender, url, "ACTIVE", offset, 0, "", now, now)
            await self.save(known)
        audit["reason"] = f"webhook {webhook_id} registered"
        return 201, {**webhook_json(known, self.view), "secret": webhook_secret(key, webhook_id, known.secret_version),
                     "signing": f"{SIGNATURE_HEADER}: v1=hex(HMAC-SHA256(secret, {TIMESTAMP_HEADER} + '.' + body))"}

    async def list_webhooks(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        lender = principal.id
        return {"items": [webhook_json(w, self.view) for w in self.view.webhooks.values()
                          if w.lender_id == lender and w.state != "DELETED"]}

    async def resume(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        webhook = self.owned(principal, request)
        if webhook.state != "ACTIVE":
            webhook = dataclasses.replace(webhook, state="ACTIVE", failures=0, updated_at=self.clock())
            await self.save(webhook)
        audit["reason"] = f"webhook {webhook.webhook_id} resumed"
        return webhook_json(webhook, self.view)

    async def delete(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        webhook = self.owned(principal, request)
        await self.save(dataclasses.replace(webhook, state="DELETED", updated_at=self.clock()))
        audit["reason"] = f"webhook {webhook.webhook_id} deleted"
        return {"webhook_id": webhook.webhook_id, "state": "DELETED"}

    def owned(self, principal: Principal, request: web.Request) -> WebhookState:
        lender = principal.id
        webhook = self.view.webhooks.get(request.match_info["webhook_id"])
        if webhook is None or webhook.lender_id != lender or webhook.state == "DELETED":
            raise ApiError(404, "not_found", f"no webhook {request.match_info['webhook_id']!r} of lender {lender}",
                           "webhook_id")
        return webhook

    def platform_key(self) -> bytes:
        if not self.config.personal_data_key:
            raise ApiError(503, "unavailable", "webhooks need the platform's key (CREDITSTREAM_PERSONAL_DATA_KEY), "
                                              "which this API was started without")
        return self.config.personal_data_key

    async def save(self, webhook: WebhookState) -> None:
        """Durable first (Kafka acknowledged), then in this process's view."""
        await self.writer.send(WEBHOOK_TOPIC, webhook.webhook_id.encode(), webhook.to_bytes())
        self.view.apply_webhook(webhook)


class WebhookDeliveries:
    """Delivers every change after each active webhook's offset, in order, one at a time: signed,
    retried with exponential back-off (config.webhook_retry_seconds doubling up to
    webhook_retry_max_seconds) until a 2xx; after webhook_pause_after consecutive failures the
    webhook is PAUSED (a metric and an alert show it) until its lender resumes it."""

    TICK = 0.2  # seconds between looks for new changes and webhooks

    def __init__(self, view: ServingView, writer: KafkaWriter, config: ApiConfig, ready, clock=None,
                 resolve: Resolver = system_resolver):
        self.view, self.writer, self.config, self.ready = view, writer, config, ready
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self.resolve = resolve
        self.running: dict[str, asyncio.Task] = {}

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.webhook_timeout_seconds)
        connector = aiohttp.TCPConnector(resolver=CheckedResolver(self.resolve, self.config.webhook_local_test_targets),
                                         use_dns_cache=False)  # every delivery resolves, and checks, afresh
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, trust_env=False) as session:
            try:
                while True:
                    if self.ready() and self.config.personal_data_key:
                        self.reconcile(session)
                    self.observe()
                    await asyncio.sleep(self.TICK)
            finally:
                for task in self.running.values():
                    task.cancel()
                await asyncio.gather(*self.running.values(), return_exceptions=True)

    def reconcile(self, session: aiohttp.ClientSession) -> None:
        for webhook_id, webhook in list(self.view.webhooks.items()):
            task = self.running.get(webhook_id)
            if webhook.state == "ACTIVE" and (task is None or task.done()):
                self.running[webhook_id] = asyncio.get_running_loop().create_task(self.deliver(webhook_id, session))

    def observe(self) -> None:
        metrics.WHITELIST_SIZE.set(len(self.view.whitelist))
        hooks = list(self.view.webhooks.values())
        metrics.WEBHOOKS_PAUSED.set(sum(w.state == "PAUSED" for w in hooks))
        metrics.WEBHOOK_BACKLOG.set(sum(webhook_json(w, self.view)["backlog"] for w in hooks if w.state == "ACTIVE"))

    async def deliver(self, webhook_id: str, session: aiohttp.ClientSession) -> None:
        version = self.view.webhooks[webhook_id].secret_version if webhook_id in self.view.webhooks else 2
        secret = webhook_secret(self.config.personal_data_key, webhook_id, version)
        while True:
            webhook = self.view.webhooks.get(webhook_id)
            if webhook is None or webhook.state != "ACTIVE":
                return
            pending = changes_after(self.view, webhook.delivered_offset, 1)
            if not pending:
                await asyncio.sleep(self.TICK)
                continue
            offset, change = pending[0]
            error = await self.post(session, webhook, secret, offset, change)
            if error is None:
                metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
                await self.record(webhook_id, delivered_offset=offset, failures=0, last_error="")
                continue
            metrics.WEBHOOK_DELIVERIES.labels("failed").inc()
            failures = webhook.failures + 1
            paused = failures >= self.config.webhook_pause_after
            log.warning("webhook %s: delivering %s failed (%d in a row): %s%s", webhook_id, change.change_id,
                        failures, error, "; paused" if paused else "")
            await self.record(webhook_id, failures=failures, last_error=error, **({"state": "PAUSED"} if paused else {}))
            if paused:
                return
            await asyncio.sleep(min(self.config.webhook_retry_max_seconds,
                                    self.config.webhook_retry_seconds * 2 ** (failures - 1)))

    async def post(self, session: aiohttp.ClientSession, webhook: WebhookState, secret: str, offset: int,
                   change: WhitelistChange) -> Optional[str]:
        """None when the receiver answered 2xx; otherwise what went wrong."""
        body = json.dumps({"webhook_id": webhook.webhook_id, **change_json(offset, change)}, ensure_ascii=False,
                          separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(secret, timestamp, body), CHANGE_ID_HEADER: change.change_id,
                   "User-Agent": "creditstream-webhook/1"}
        try:  # checked before any connection: the answer of DNS now, not at registration
            await checked_addresses(webhook.url, self.resolve, self.config.webhook_local_test_targets)
        except TargetRefused as exc:
            return f"refused: {exc}"
        try:
            async with session.post(webhook.url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except asyncio.TimeoutError:
            return f"no answer within {self.config.webhook_timeout_seconds:g} s"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    async def record(self, webhook_id: str, **changes) -> None:
        """The webhook's new delivery state, on top of its latest one (the lender may have deleted
        or paused it meanwhile: that stays). Applied here at once; made durable in Kafka, and if
        Kafka cannot take it now the next record carries it (at worst a change is delivered twice)."""
        current = self.view.webhooks[webhook_id]
        if current.state != "ACTIVE":
            changes.pop("state", None)
        updated = dataclasses.replace(current, updated_at=self.clock(), **changes)
        self.view.apply_webhook(updated)
        try:
            await self.writer.send(WEBHOOK_TOPIC, webhook_id.encode(), updated.to_bytes())
        except KafkaUnavailable as exc:
            log.warning("webhook %s: its delivery state is not recorded yet: %s", webhook_id, exc)
