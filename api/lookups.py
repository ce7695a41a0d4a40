"""The lender look-ups: an enterprise's aggregate row, payment history and register records, and
verification without disclosure. Keys, consents and rows come from the in-memory view (api.view),
kept current from Kafka; history, records and verification's facts are read from ClickHouse on the
API's query threads, never on the event loop. Who sees what is decided by consent
(api.access.decide): public credit information for every lender, the rest under the enterprise's
consent for its scope, an enterprise its own data only. The pipeline (api.http.pipeline) has
authenticated the key and checked its kind before any of these runs, and audits the answer."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from aiohttp import web

from creditstream.api.access import SCOPES, Decision, Principal, decide
from creditstream.api.config import ApiConfig
from creditstream.api.http.answers import json_answer
from creditstream.api.http.errors import ApiError
from creditstream.api.http.params import json_body, path_choice, uscc_of
from creditstream.api.store import EVALUATION, HISTORY_KINDS, RightsStore, Store
from creditstream.api.view import ServingView
from creditstream.monitoring import metrics
from creditstream.schemas.models import PUBLIC, UTILITY_AND_TAX
from creditstream.schemas.months import SHANGHAI, parse_month
from creditstream.schemas.records import to_json
from creditstream.schemas.services import record_key
from creditstream.schemas.topics import REGISTER_CATEGORIES, UTILITIES, UTILITY_KINDS
from creditstream.schemas.verification import (
    ANY_SCOPE,
    FACT_RECORDS,
    IDENTITY_CLAIM,
    REFUSED,
    Facts,
    IdentityClaimBudget,
    judge,
    parse_claims,
)

UTC = dt.timezone.utc
ROW_AGE = "X-Row-Age"  # seconds since the worker computed the row answered
UTILITY_RECORDS = {kind: record for record, kind in UTILITY_KINDS.items()}  # water → WaterStatement


class Lookups:
    def __init__(self, config: ApiConfig, view: ServingView, store: Store, rights_store: RightsStore,
                 executor: ThreadPoolExecutor, clock: Callable[[], dt.datetime] | None = None):
        self.config, self.view, self.store, self.rights_store, self.executor = config, view, store, rights_store, executor
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self.identity_claims = IdentityClaimBudget()  # in memory: a restart renews at most one day's budget

    async def run(self, fn, *args):
        """``fn(*args)`` on a query thread (one ClickHouse client each)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def verify(self, principal: Principal, request: web.Request, audit: dict):
        """Claims answered MATCH / NO_MATCH / NO_DATA, never with the values; a claim whose scope
        the lender's consent lacks is REFUSED unjudged (schemas.verification)."""
        uscc = uscc_of(request)
        claims = parse_claims(await json_body(request))
        audit["reason"] = "claims: " + ", ".join(c.type for c in claims)  # the types, never the values
        decisions = await self.decisions(principal, uscc, SCOPES)
        if principal.kind == "enterprise" and not decisions[SCOPES[0]].allowed:
            raise ApiError(403, "forbidden", decisions[SCOPES[0]].reason)
        allowed = [s for s in SCOPES if decisions[s].allowed]
        audit["scope"] = "+".join(allowed)
        facts = None
        results = []
        today = self.clock().astimezone(SHANGHAI).date()
        for claim in claims:
            refusal = self.refusal(principal, uscc, claim, allowed, decisions, today, audit)
            if refusal:
                results.append({"type": claim.type, "outcome": REFUSED, "reason": refusal})
                metrics.VERIFICATIONS.labels(claim.type, REFUSED).inc()
                continue
            if facts is None:
                records, taxed, statements = await self.run(self.rights_store.verification_facts, uscc, FACT_RECORDS)
                found = self.view.row(uscc)
                facts = Facts(found.values() if found else None, records, taxed, statements)
            outcome = judge(claim, facts, self.config.personal_data_key)
            results.append({"type": claim.type, "outcome": outcome})
            metrics.VERIFICATIONS.labels(claim.type, outcome).inc()
        return {"uscc": uscc, "results": results}

    def refusal(self, principal: Principal, uscc: str, claim, allowed: list[str], decisions: dict,
                today, audit: dict) -> str | None:
        """Why a claim is refused unjudged: no consent for its scope, or (an identity claim) the
        day's budget for this enterprise is used up; None when it may be judged."""
        if not (bool(allowed) if claim.scope == ANY_SCOPE else claim.scope in allowed):
            return "no consent scope in force" if claim.scope == ANY_SCOPE else decisions[claim.scope].reason
        if claim.type == IDENTITY_CLAIM and not self.identity_claims.take(principal.id, uscc, today):
            metrics.IDENTITY_CLAIMS_REFUSED.labels(principal.id).inc()
            audit["reason"] += f"; {IDENTITY_CLAIM} daily limit reached"
            return (f"at most {self.identity_claims.per_day} {IDENTITY_CLAIM} claims per enterprise a day "
                    "(Asia/Shanghai); the budget renews tomorrow")
        return None

    async def records(self, principal: Principal, request: web.Request, audit: dict):
        uscc = uscc_of(request)
        category = path_choice(request, "category", REGISTER_CATEGORIES, "record category")
        records, scope = REGISTER_CATEGORIES[category]
        audit["scope"] = scope
        if scope != PUBLIC or principal.kind == "enterprise":
            # a lender needs consent for a consented scope; an enterprise reads only its own records
            decision = (await self.decisions(principal, uscc, (scope,)))[scope]
            audit["consent_event_id"], audit["reason"] = decision.consent_event_id, decision.reason
            if not decision.allowed:
                if scope != PUBLIC:
                    metrics.CONSENT_REFUSALS.labels(scope).inc()
                raise ApiError(403, "forbidden", decision.reason, scope=scope,
                               consent_event_id=decision.consent_event_id)
        else:
            audit["reason"] = "public credit information"
        if not self.view.known(uscc):
            raise ApiError(404, "not_found", f"no data for enterprise {uscc}", decision="allow", scope=scope,
                           consent_event_id=audit["consent_event_id"])
        items = await self.run(self.store.records, uscc, records)
        return self.marked({"uscc": uscc, "category": category, "items": items}, uscc, lambda item: item["record"])

    async def aggregates(self, principal: Principal, request: web.Request, audit: dict):
        uscc = uscc_of(request)
        decisions = await self.decisions(principal, uscc, SCOPES)
        allowed = [s for s in SCOPES if decisions[s].allowed]
        audit["scope"] = "+".join(SCOPES)
        # the consent used; on refusal, the consent that was examined and found wanting
        used = [d for d in decisions.values() if d.allowed] or list(decisions.values())
        consent_ids = {d.consent_event_id for d in used if d.consent_event_id}
        audit["consent_event_id"] = ",".join(sorted(consent_ids)) or None
        if principal.kind == "enterprise" and not allowed:  # another enterprise's row: nothing of it
            raise ApiError(403, "forbidden", decisions[SCOPES[0]].reason, scope=audit["scope"])
        for scope in SCOPES:
            if scope not in allowed:
                metrics.CONSENT_REFUSALS.labels(scope).inc()
        found = self.view.row(uscc)
        if found is None:
            raise ApiError(404, "not_found", f"no data for enterprise {uscc}", decision="allow",
                           scope=audit["scope"], consent_event_id=audit["consent_event_id"])
        # public credit information for every lender; the rest under the matching consent; the
        # evaluation's score and points only under both UTILITY and TAX (platform-services.md)
        visible = [PUBLIC, *allowed]
        if "UTILITY" in allowed and "TAX" in allowed:
            visible.append(UTILITY_AND_TAX)
        head = {**found.head,
                "updated_at": found.updated_at_text,
                "consented_scopes": allowed,
                "withheld": {s: decisions[s].reason for s in SCOPES if s not in allowed}}
        refused = [f"{s}: {decisions[s].reason}" for s in SCOPES if s not in allowed]
        audit["reason"] = "; ".join([f"{s}: {decisions[s].reason}" for s in allowed] + refused)
        if allowed and principal.kind == "lender":  # since when and until when the viewer sees the consented scopes
            consent = self.view.consent(uscc, principal.id)
            head["consent"] = {"event_id": consent.event_id, "scopes": list(consent.scopes),
                               "granted_at": to_json(consent.granted_at), "expires_at": to_json(consent.expires_at)}
        disputes = self.view.open_disputes(uscc)
        if disputes:  # every figure may be computed from a disputed record: the row says which are open
            head["disputes_open"] = [d.public() for d in disputes]
        parts = [json.dumps(head, ensure_ascii=False, separators=(",", ":"))[1:-1].encode()]
        parts += [found.fragments[group] for group in visible if found.fragments[group]]
        parts.append(found.red_lines_fragment(allowed))
        # how old the row is: while the worker is down (a restart, a lag) rows age, and a client that
        # cares can tell from this header without parsing updated_at
        age = max(0, int((self.clock() - found.updated_at).total_seconds()))
        return json_answer(b"{" + b",".join(parts) + b"}", headers={ROW_AGE: str(age)})

    async def history(self, principal: Principal, request: web.Request, audit: dict):
        uscc = uscc_of(request)
        kind = path_choice(request, "kind", HISTORY_KINDS, "history kind")
        first, last = request.query.get("from"), request.query.get("to")
        for name, month in (("from", first), ("to", last)):
            if month is not None:
                try:
                    parse_month(month)
                except ValueError as exc:
                    raise ApiError(400, "bad_request", f"{name}: {exc}") from None
        if kind == EVALUATION:
            return await self.evaluation_history(principal, uscc, first, last, audit)
        scope = "UTILITY" if kind in UTILITIES else "TAX"
        audit["scope"] = scope
        decision = (await self.decisions(principal, uscc, (scope,)))[scope]
        audit["consent_event_id"] = decision.consent_event_id
        audit["reason"] = decision.reason
        if not decision.allowed:
            metrics.CONSENT_REFUSALS.labels(scope).inc()
            raise ApiError(403, "forbidden", decision.reason, scope=scope,
                           consent_event_id=decision.consent_event_id)
        if not self.view.known(uscc):
            raise ApiError(404, "not_found", f"no data for enterprise {uscc}", decision="allow", scope=scope,
                           consent_event_id=decision.consent_event_id)
        items = await self.run(self.store.history, uscc, kind, first, last)
        record = UTILITY_RECORDS[kind] if kind in UTILITY_RECORDS else "TaxPayment"
        return self.marked({"uscc": uscc, "kind": kind, "items": items}, uscc, lambda item: record)

    async def evaluation_history(self, principal: Principal, uscc: str, first, last, audit: dict) -> dict:
        """The evaluation as recorded each day, shown like the row's: grade and whitelist membership
        are public credit information, the score only under both UTILITY and TAX."""
        decisions = await self.decisions(principal, uscc, ("UTILITY", "TAX"))
        scored = all(d.allowed for d in decisions.values())
        audit["scope"] = "UTILITY+TAX" if scored else "PUBLIC"
        consent_ids = {d.consent_event_id for d in decisions.values() if d.consent_event_id}
        audit["consent_event_id"] = ",".join(sorted(consent_ids)) or None
        audit["reason"] = "; ".join(f"{s}: {d.reason}" for s, d in decisions.items())
        if principal.kind == "enterprise" and not scored:  # another enterprise's history: nothing of it
            raise ApiError(403, "forbidden", decisions["UTILITY"].reason, scope=audit["scope"])
        if not self.view.known(uscc):
            raise ApiError(404, "not_found", f"no data for enterprise {uscc}", decision="allow",
                           scope=audit["scope"], consent_event_id=audit["consent_event_id"])
        items = await self.run(self.store.history, uscc, EVALUATION, first, last)
        body = {"uscc": uscc, "kind": EVALUATION, "items": items}
        if not scored:
            for item in items:
                item.pop("eval_score", None)
            body["withheld"] = {"eval_score": "; ".join(f"{s}: {d.reason}" for s, d in decisions.items()
                                                        if not d.allowed)}
        return body

    def marked(self, body: dict, uscc: str, record_of) -> dict:
        """While a dispute is open, each listed record it names carries ``disputed`` and the answer
        lists those disputes in ``disputes_open``."""
        open_disputes = self.view.open_disputes(uscc)
        if not open_disputes:
            return body
        named = {(d.record, record_key(d.record, d.key)): d for d in open_disputes}
        shown = []
        for item in body["items"]:
            record = record_of(item)
            dispute = named.get((record, record_key(record, {k: str(v) for k, v in item.items()})))
            if dispute is not None:
                item["disputed"] = dispute.public()
                shown.append(dispute.public())
        if shown:
            body["disputes_open"] = shown
        return body

    async def decisions(self, principal: Principal, uscc: str, scopes) -> dict[str, Decision]:
        consent = None
        if principal.kind == "lender":
            consent = self.view.consent(uscc, principal.id)
        now = self.clock()
        return {scope: decide(principal, uscc, scope, consent, now) for scope in scopes}
