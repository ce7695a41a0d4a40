"""The information subject's rights and the people who answer them (platform-services.md:
principals, disputes, credit repair): self-query, who looked me up, consent management, disputes,
repair applications, and the operators' and providers' side of them.

Every route goes through the pipeline (api.http.pipeline): authenticated, rate-limited, audited durably before
its answer leaves; a rule's RightsError becomes 400 with its field there. A write is a Kafka
message acknowledged before the answer (503 with Retry-After when Kafka cannot take it: nothing
is accepted and then lost); the API applies the
new state to its own view at once, so the writer's next read sees it. Ids of new disputes and
applications derive from the client's Idempotency-Key when it sends one, so a retry, even after
an API restart, names the same dispute.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Callable

from aiohttp import web

from creditstream.api.access import Principal
from creditstream.api.http.errors import ApiError
from creditstream.api.http.params import json_body, page, stable_id
from creditstream.api.store import RightsStore, Store, statements
from creditstream.api.view import ServingView
from creditstream.api.writer import KafkaWriter
from creditstream.schemas.codec import default_codec
from creditstream.schemas.models import SCOPES, DisputeState, RepairState
from creditstream.schemas.months import SHANGHAI
from creditstream.schemas.records import parse_instant, to_json
from creditstream.schemas.services import (
    REPAIR_DUE_WORKING_DAYS,
    add_working_days,
    check_text,
    dispute_due,
    dispute_target,
    penalty_in_publicity,
    repair_refusal,
)
from creditstream.schemas.topics import CONSENT_RECORD, DISPUTE_TOPIC, REPAIR_RECORD, REPAIR_TOPIC, TOPIC_OF

UTC = dt.timezone.utc
PLATFORM_PROVIDER = "credit-platform"  # provider_id of what the platform itself publishes


class Rights:
    def __init__(self, view: ServingView, store: Store, rights_store: RightsStore, writer: KafkaWriter, run: Callable,
                 holidays: tuple[dt.date, ...] = (), clock=None):
        self.view, self.store, self.rights_store, self.writer, self.run = view, store, rights_store, writer, run
        self.holidays = holidays
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self.codec = default_codec()
        self.reports_of: Callable[[str], list[dict]] = lambda uscc: []  # set by the app (api.reports)

    # -- whose ---------------------------------------------------------------------------------
    @staticmethod
    def own(principal: Principal, audit: dict) -> str:
        """The enterprise of an enterprise key (the route table lets only those call /v1/me…)."""
        audit["uscc"] = principal.id
        return principal.id

    # -- self-query ------------------------------------------------------------------------------
    async def me(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.own(principal, audit)
        audit["scope"] = "SELF"
        found = self.view.row(uscc)
        row = found.values() if found is not None else None
        records = await self.run(self.rights_store.all_records, uscc)
        history = await self.run(statements, self.store, uscc)
        letters = await self.run(self.rights_store.dead_letters, uscc)
        return {
            "uscc": uscc, "row": row, "updated_at": found.updated_at_text if found else None,
            "records": records, "statements": history, "dead_letters": letters,
            "consents": [consent_json(c) for c in self.view.consents.get(uscc, {}).values()],
            "disputes": [dispute_json(d) for d in self.view.disputes_of.get(uscc, {}).values()],
            "repairs": [repair_json(r) for r in self.view.repairs_of.get(uscc, {}).values()],
            "reports": self.reports_of(uscc),  # every report issued about it, and who asked
        }

    async def my_lookups(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.own(principal, audit)
        limit, offset = page(request)
        rows = await self.run(self.rights_store.audit, {"uscc": uscc}, limit, offset)
        return {"uscc": uscc, "limit": limit, "offset": offset, "items": rows}

    async def audit_search(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        filters = {name: request.query[name] for name in ("uscc", "principal_id", "route", "decision")
                   if request.query.get(name)}
        limit, offset = page(request)
        return {"filters": filters, "limit": limit, "offset": offset,
                "items": await self.run(self.rights_store.audit, filters, limit, offset)}

    # -- consent -----------------------------------------------------------------------------------
    async def my_consents(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.own(principal, audit)
        return {"uscc": uscc, "items": [consent_json(c) for c in self.view.consents.get(uscc, {}).values()]}

    async def grant(self, principal: Principal, request: web.Request, audit: dict):
        uscc = self.own(principal, audit)
        body = await json_body(request)
        lender = body.get("lender_id")
        if not isinstance(lender, str) or not self.lender_exists(lender):
            raise ApiError(400, "bad_request", f"no connected lender with id {lender!r}", "lender_id")
        scopes = body.get("scopes")
        if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes) \
                or len(set(scopes)) != len(scopes):
            raise ApiError(400, "bad_request", f"a non-empty list of distinct scopes among {', '.join(SCOPES)}", "scopes")
        now = self.clock()
        try:
            expires = parse_instant(body.get("expires_at"), "expires_at")
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc), "expires_at") from None
        if expires <= now:
            raise ApiError(400, "bad_request", "must lie in the future", "expires_at")
        event_id = await self.publish_consent(uscc, lender, scopes, now, expires, False, request)
        audit.update(scope="+".join(scopes), reason=f"consent {event_id} granted to {lender}",
                     consent_event_id=event_id)
        return 202, {"event_id": event_id, "lender_id": lender, "scopes": scopes, "granted_at": to_json(now),
                     "expires_at": to_json(expires), "state": "accepted; in force once the platform has read it "
                                                          "(within 2 seconds)"}

    async def revoke(self, principal: Principal, request: web.Request, audit: dict):
        uscc = self.own(principal, audit)
        lender = request.match_info["lender_id"]
        current = self.view.consent(uscc, lender)
        if current is None or current.revoked:
            raise ApiError(404, "not_found", f"no consent in force for lender {lender}")
        now = self.clock()
        event_id = await self.publish_consent(uscc, lender, list(current.scopes), current.granted_at,
                                              current.expires_at, True, request)
        audit.update(reason=f"consent for {lender} revoked by {event_id}", consent_event_id=event_id)
        return 202, {"event_id": event_id, "lender_id": lender, "revoked_at": to_json(now)}

    async def publish_consent(self, uscc: str, lender: str, scopes: list, granted: dt.datetime, expires: dt.datetime,
                              revoked: bool, request: web.Request) -> str:
        """The platform publishes the ConsentGrant itself (the worker validates it and puts it in
        force in the consent topic's order)."""
        now = self.clock()
        event_id = stable_id("consent", uscc, request) or f"consent-{uuid.uuid4().hex}"
        name = self.enterprise_name(uscc)
        value = {"event_id": event_id, "provider_id": PLATFORM_PROVIDER, "uscc": uscc, "enterprise_name": name,
                 "occurred_at": now, "lender_id": lender, "scopes": scopes, "granted_at": granted,
                 "expires_at": expires, "revoked": revoked}
        await self.writer.send(TOPIC_OF[CONSENT_RECORD], uscc.encode(), self.codec.encode(CONSENT_RECORD, value))
        return event_id

    async def lenders(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """GET /v1/lenders: the connected institutions (a live key), for an enterprise choosing
        whom to grant consent."""
        found: dict[str, str] = {}
        for key in self.view.keys.values():
            if key.principal_kind == "lender" and not key.revoked:
                found[key.principal_id] = found.get(key.principal_id) or key.name
        return {"items": [{"lender_id": lender, "name": name or lender} for lender, name in sorted(found.items())]}

    def lender_exists(self, lender_id: str) -> bool:
        return any(k.principal_kind == "lender" and k.principal_id == lender_id and not k.revoked
                   for k in self.view.keys.values())

    @staticmethod
    def enterprise_name(uscc: str) -> str:
        """What the platform's own records carry as enterprise_name: it holds no registered name of
        its own, and the USCC names the enterprise unambiguously."""
        return uscc

    # -- disputes --------------------------------------------------------------------------------
    async def file_dispute(self, principal: Principal, request: web.Request, audit: dict):
        uscc = self.own(principal, audit)
        body = await json_body(request)
        record, key = dispute_target(body.get("topic"), body.get("key"))
        statement = check_text("statement", body.get("statement"))
        dispute_id = stable_id("dispute", uscc, request) or f"d-{uuid.uuid4().hex[:16]}"
        if dispute_id in self.view.disputes:  # the same request again: its dispute as it is now
            return 201, dispute_json(self.view.disputes[dispute_id])
        found = await self.run(self.rights_store.disputed_record, uscc, record, key)
        if found is None:
            raise ApiError(404, "not_found", f"no {record} with {json.dumps(key, ensure_ascii=False)} is held about "
                                            f"{uscc}", "key")
        now = self.clock()
        dispute = DisputeState(dispute_id, uscc, body["topic"], record, key, found["provider_id"], statement, "OPEN", "",
                               now, dispute_due(now), now, f"enterprise:{uscc}")
        await self.publish_dispute(dispute)
        audit.update(scope="DISPUTE", reason=f"dispute {dispute_id} filed on {record} {key}")
        return 201, dispute_json(dispute)

    async def my_disputes(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.own(principal, audit)
        return {"uscc": uscc, "items": [dispute_json(d) for d in self.view.disputes_of.get(uscc, {}).values()]}

    async def withdraw(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.own(principal, audit)
        dispute = self.dispute(request, audit)
        if dispute.uscc != uscc:
            raise ApiError(404, "not_found", f"no dispute {dispute.dispute_id} of {uscc}")
        return await self.change(dispute, "WITHDRAWN", "", f"enterprise:{uscc}", audit)

    async def disputes(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """A provider sees the disputes on records it published; an operator sees all."""
        state = request.query.get("state")
        items = [d for d in self.view.disputes.values()
                 if (principal.kind == "operator" or d.provider_id == principal.id) and (not state or d.state == state)]
        return {"items": [dispute_json(d) for d in sorted(items, key=lambda d: d.due_at)]}

    async def answer(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        dispute = self.dispute(request, audit)
        if principal.kind == "provider" and dispute.provider_id != principal.id:
            raise ApiError(403, "forbidden", f"dispute {dispute.dispute_id} is about a record of "
                                            f"{dispute.provider_id}, not of {principal.id}")
        body = await json_body(request)
        outcome = body.get("outcome")
        if outcome not in ("CORRECTED", "UPHELD"):
            raise ApiError(400, "bad_request", "CORRECTED (a correction was sent through the record's topic) or "
                                              "UPHELD (the record stands)", "outcome")
        note = check_text("note", body.get("note"))
        return await self.change(dispute, outcome, note, f"{principal.kind}:{principal.id}", audit)

    def dispute(self, request: web.Request, audit: dict) -> DisputeState:
        dispute = self.view.disputes.get(request.match_info["dispute_id"])
        if dispute is None:
            raise ApiError(404, "not_found", f"no dispute {request.match_info['dispute_id']}")
        audit["uscc"] = dispute.uscc
        return dispute

    async def change(self, dispute: DisputeState, state: str, answer: str, by: str, audit: dict) -> dict:
        if dispute.state == state:  # repeated: the answer it got
            return dispute_json(dispute)
        if dispute.state != "OPEN":
            raise ApiError(409, "conflict", f"dispute {dispute.dispute_id} is {dispute.state}, no longer open")
        changed = DisputeState(**{**dispute.__dict__, "state": state, "answer": answer, "updated_at": self.clock(),
                                  "updated_by": by})
        await self.publish_dispute(changed)
        audit.update(scope="DISPUTE", reason=f"dispute {dispute.dispute_id}: {state}")
        return dispute_json(changed)

    async def publish_dispute(self, dispute: DisputeState) -> None:
        await self.writer.send(DISPUTE_TOPIC, dispute.dispute_id.encode(), dispute.to_bytes())
        self.view.apply_dispute(dispute)

    # -- credit repair -----------------------------------------------------------------------------
    async def apply_repair(self, principal: Principal, request: web.Request, audit: dict):
        uscc = self.own(principal, audit)
        body = await json_body(request)
        decision_no = body.get("decision_no")
        if not isinstance(decision_no, str) or not decision_no.strip():
            raise ApiError(400, "bad_request", "the penalty's decision number", "decision_no")
        pledge = check_text("pledge", body.get("pledge"))
        statement = check_text("statement", body.get("statement"))
        application_id = stable_id("repair", uscc, request) or f"r-{uuid.uuid4().hex[:16]}"
        if application_id in self.view.repairs:
            return 201, repair_json(self.view.repairs[application_id])
        pending = [r for r in self.view.repairs_of.get(uscc, {}).values()
                   if r.decision_no == decision_no and r.state == "APPLIED"]
        if pending:
            raise ApiError(409, "conflict", f"application {pending[0].application_id} for this penalty awaits a decision")
        penalty, repair = await self.run(self.rights_store.penalty, uscc, decision_no)
        today = self.reference_date(uscc)
        why = repair_refusal(penalty, penalty is not None and penalty_in_publicity(penalty, repair, today), today)
        if why:
            raise ApiError(422, "not_eligible", why, "decision_no")
        now = self.clock()
        due = add_working_days(now.astimezone(SHANGHAI).date(), REPAIR_DUE_WORKING_DAYS, self.holidays)
        application = RepairState(application_id, uscc, decision_no, pledge, statement, "APPLIED", "", now, due, now,
                                  f"enterprise:{uscc}")
        await self.publish_repair(application)
        audit.update(scope="REPAIR", reason=f"repair {application_id} applied for penalty {decision_no}")
        return 201, repair_json(application)

    def reference_date(self, uscc: str) -> dt.date:
        """The day the platform reads the registers at (the row's as_of_date), else today."""
        found = self.view.row(uscc)
        if found is not None:
            return dt.date.fromisoformat(found.head["as_of_date"])
        return self.clock().astimezone(SHANGHAI).date()

    async def my_repairs(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.own(principal, audit)
        return {"uscc": uscc, "items": [repair_json(r) for r in self.view.repairs_of.get(uscc, {}).values()]}

    async def repairs(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        state = request.query.get("state")
        items = [r for r in self.view.repairs.values() if not state or r.state == state]
        return {"items": [repair_json(r) for r in sorted(items, key=lambda r: r.due_on)]}

    async def decide(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        application = self.view.repairs.get(request.match_info["application_id"])
        if application is None:
            raise ApiError(404, "not_found", f"no repair application {request.match_info['application_id']}")
        audit["uscc"] = application.uscc
        body = await json_body(request)
        outcome = body.get("outcome")
        if outcome not in ("APPROVED", "REJECTED"):
            raise ApiError(400, "bad_request", "APPROVED or REJECTED", "outcome")
        note = check_text("note", body.get("note"))
        if application.state == outcome:
            return repair_json(application)
        if application.state != "APPLIED":
            raise ApiError(409, "conflict", f"application {application.application_id} was {application.state} already")
        now = self.clock()
        # the decision is an ordinary CreditRepair record: publicity, evaluation and whitelist follow
        # through the stream like any register
        record = {"event_id": f"{application.application_id}-decision", "provider_id": PLATFORM_PROVIDER,
                  "uscc": application.uscc, "enterprise_name": self.enterprise_name(application.uscc),
                  "occurred_at": now, "decision_no": application.decision_no, "outcome": outcome, "decided_at": now,
                  "note": note}
        await self.writer.send(TOPIC_OF[REPAIR_RECORD], application.uscc.encode(), self.codec.encode(REPAIR_RECORD, record))
        decided = RepairState(**{**application.__dict__, "state": outcome, "note": note, "updated_at": now,
                                 "updated_by": f"operator:{principal.id}"})
        await self.publish_repair(decided)
        audit.update(scope="REPAIR", reason=f"repair {application.application_id}: {outcome}")
        return repair_json(decided)

    async def publish_repair(self, application: RepairState) -> None:
        await self.writer.send(REPAIR_TOPIC, application.application_id.encode(), application.to_bytes())
        self.view.apply_repair(application)

    # -- what operators watch ----------------------------------------------------------------------
    def overdue(self) -> tuple[int, int]:
        """(open disputes past their due time, applications undecided past their due day)."""
        now = self.clock()
        today = now.astimezone(SHANGHAI).date()
        disputes = sum(1 for d in self.view.disputes.values() if d.state == "OPEN" and d.due_at < now)
        repairs = sum(1 for r in self.view.repairs.values() if r.state == "APPLIED" and r.due_on < today)
        return disputes, repairs


def consent_json(consent) -> dict:
    return to_json({"lender_id": consent.lender_id, "event_id": consent.event_id, "scopes": list(consent.scopes),
                    "granted_at": consent.granted_at, "expires_at": consent.expires_at, "revoked": consent.revoked,
                    "since": consent.occurred_at})


def dispute_json(dispute: DisputeState) -> dict:
    return to_json({k: v for k, v in dispute.__dict__.items()})


def repair_json(application: RepairState) -> dict:
    return to_json({k: v for k, v in application.__dict__.items()})

