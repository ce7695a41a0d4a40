"""``creditstream simulate``: deterministic, realistic provider traffic for N enterprises over M months.

Produces the tax bureau's and the water, electricity and gas companies' events: several accounts
per firm, seasonal usage, late and partial payments, monthly and quarterly VAT filers,
corrections (higher revisions), duplicate deliveries, late arrivals, and a configurable share of
invalid records (one of each contract reason code, UNDECODABLE as garbage). Then the v1.1
registers of every topic (connectors/simulate_registers.py) and v1.2's collection list
(connectors/simulate_collection.py), each from a random stream of its own.
Same seed, same output.
"""
from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterator, Optional

from creditstream.connectors.simulate_collection import CollectionTraffic
from creditstream.connectors.simulate_registers import RegisterTraffic
from creditstream.schemas.codec import Codec
from creditstream.schemas.months import format_month, last_day
from creditstream.schemas.records import replay_line
from creditstream.schemas.topics import PROVIDER_TOPICS, TOPIC_OF, UTILITY_TOPICS
from creditstream.schemas.uscc import USCC_ALPHABET, normalise_uscc, uscc_check_char

UTC = dt.timezone.utc
CENT, MILLI = Decimal("0.01"), Decimal("0.001")
PROVIDERS = {  # utility kind -> (topic, provider id, unit price)
    "water": (UTILITY_TOPICS["water"], "heihe-water", Decimal("4.10")),
    "electricity": (UTILITY_TOPICS["electricity"], "heihe-power", Decimal("0.65")),
    "gas": (UTILITY_TOPICS["gas"], "heihe-gas", Decimal("2.80")),
}
TAX_PROVIDER = "heihe-tax"
LENDERS = ("lender-a", "lender-b", "lender-c")
NAME_PARTS = ("北安", "龙江", "黑河", "爱辉", "逊克", "孙吴", "嫩江", "五大连池", "兴安", "瑷珲")
TRADES = ("农机", "粮贸", "木业", "建材", "商贸", "物流", "食品", "能源", "科技", "矿业")


@dataclass
class SimulatedEvent:
    topic: str
    value: Optional[dict]  # typed record; None for garbage
    garbage: Optional[bytes] = None  # undecodable payload (UNDECODABLE dead letter)
    expect: Optional[str] = None  # reason code the stream must give it, None when valid


def by_delivery_month(rng: random.Random, dated: Iterator[tuple[int, SimulatedEvent]]) -> dict[int, list[SimulatedEvent]]:
    """(month, event) pairs batched by the month they are delivered: a few a month or two late,
    a few delivered twice."""
    batches: dict[int, list[SimulatedEvent]] = {}
    for month, event in dated:
        delay = 1 + rng.randrange(2) if rng.random() < 0.03 else 0
        batches.setdefault(month + delay, []).append(event)
        if rng.random() < 0.02:
            batches.setdefault(month + delay, []).append(event)
    return batches


def make_uscc(rng: random.Random) -> str:
    body = "91" + "231100" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check_char(body)


def at(day: dt.date, rng: random.Random) -> dt.datetime:
    seconds = rng.randrange(8 * 3600, 18 * 3600)
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC) + dt.timedelta(seconds=seconds, milliseconds=rng.randrange(1000))


class Simulator:
    def __init__(self, enterprises: int, months: int, end_month: int, seed: int = 1, invalid_share: float = 0.01,
                 now: Optional[dt.datetime] = None):
        """``now``: live traffic; no valid event is stamped after it (a tax payment due on the 15th of
        this month would otherwise be, and the platform refuses those as FUTURE_TIMESTAMP)."""
        self.rng = random.Random(seed)
        self.now = now
        self.enterprises = enterprises
        self.months = list(range(end_month - months + 1, end_month + 1))
        self.invalid_share = invalid_share
        self.sequence = 0
        self.register_rng = random.Random(seed * 1_000_003 + 17)  # its own stream: v1 traffic stays as it was
        self.registers = RegisterTraffic(self.register_rng, self.months, self.register_event)
        self.collection_rng = random.Random(seed * 1_000_003 + 29)  # v1.2's: earlier traffic stays as it was
        self.collection = CollectionTraffic(self.collection_rng, self.months, self.register_event)

    def event_id(self, provider: str) -> str:
        self.sequence += 1
        return f"{provider}-{self.sequence:09d}"

    def not_after_now(self, occurred: dt.datetime) -> dt.datetime:
        return self.now if self.now is not None and occurred > self.now else occurred

    def common(self, provider: str, firm: dict, occurred: dt.datetime) -> dict:
        occurred = self.not_after_now(occurred)
        return {"event_id": self.event_id(provider), "provider_id": provider, "uscc": firm["uscc"],
                "enterprise_name": firm["name"], "occurred_at": occurred}

    def firms(self) -> list[dict]:
        rng = self.rng
        out = []
        for i in range(self.enterprises):
            uscc = make_uscc(rng)
            out.append({
                "uscc": uscc.lower() if i % 17 == 5 else (f" {uscc} " if i % 19 == 7 else uscc),  # sloppy providers
                "name": f"黑河市{rng.choice(NAME_PARTS)}{rng.choice(TRADES)}有限公司",
                "accounts": {"water": rng.randint(1, 2), "electricity": rng.randint(1, 3),
                             "gas": rng.choice((0, 1, 1))},
                "scale": Decimal(rng.choice((1, 2, 5, 10, 40))),
                "payer": rng.choices(("prompt", "late", "struggling"), (80, 15, 5))[0],
                "vat_quarterly": rng.random() < 0.4,
                "phase": rng.random() * 2 * math.pi,
            })
        for i, firm in enumerate(out):
            firm["registers"] = self.registers.profile(i)
        for i, firm in enumerate(out):
            firm["collection"] = self.collection.profile(i)
        return out

    def events(self) -> Iterator[SimulatedEvent]:
        """Events in a realistic delivery order: by month, some delayed, some duplicated."""
        return (event for _month, event in self.delivered())

    def delivered(self) -> Iterator[tuple[int, SimulatedEvent]]:
        """(month index it is delivered in, event), in the order of ``events``."""
        batches: dict[int, list[SimulatedEvent]] = {}
        firms = self.firms()
        for firm in firms:
            for month in self.months:
                for event in self.firm_month(firm, month):
                    delay = 1 + self.rng.randrange(3) if self.rng.random() < 0.03 else 0  # months late
                    batches.setdefault(month + delay, []).append(event)
                    if self.rng.random() < 0.02:  # duplicate delivery of the same event
                        batches.setdefault(month + delay + self.rng.randrange(2), []).append(event)
        rng, crng = self.register_rng, self.collection_rng
        register_batches = by_delivery_month(rng, (pair for firm in firms for pair in self.registers.events(firm)))
        collection_batches = by_delivery_month(crng, (pair for firm in firms for pair in self.collection.events(firm)))
        for month in sorted(set(batches) | set(register_batches) | set(collection_batches)):
            batch = batches.get(month, [])
            self.rng.shuffle(batch)
            for event in batch:
                yield month, self.maybe_corrupt(event)
            batch = register_batches.get(month, [])
            rng.shuffle(batch)
            for event in batch:
                yield month, self.maybe_corrupt_register(event)
            batch = collection_batches.get(month, [])
            crng.shuffle(batch)
            for event in batch:
                yield month, self.maybe_corrupt_collection(event)

    def register_event(self, record: str, provider: str, firm: dict, occurred: dt.datetime, fields: dict):
        return SimulatedEvent(TOPIC_OF[record], {**self.common(provider, firm, occurred), **fields})

    def maybe_corrupt_register(self, event: SimulatedEvent) -> SimulatedEvent:
        """An invalid share of register events, over v1's codes and each new one that fits the record."""
        return self.maybe_corrupt_other(event, self.register_rng, self.registers.corrupt)

    def maybe_corrupt_collection(self, event: SimulatedEvent) -> SimulatedEvent:
        """The same share of v1.2 events, over the codes that fit each record."""
        return self.maybe_corrupt_other(event, self.collection_rng, self.collection.corrupt)

    def maybe_corrupt_other(self, event: SimulatedEvent, rng: random.Random, corrupt) -> SimulatedEvent:
        if rng.random() >= self.invalid_share:
            return event
        value = {**event.value, "event_id": event.value["event_id"] + "-bad"}
        roll = rng.random()
        if roll < 0.15:
            return SimulatedEvent(event.topic, None, garbage=b"\xc3\x01" + bytes(rng.randrange(256) for _ in range(20)),
                                  expect="UNDECODABLE")
        if roll < 0.3:
            uscc = normalise_uscc(value["uscc"])
            value["uscc"] = uscc[:17] + USCC_ALPHABET[(USCC_ALPHABET.index(uscc[17]) + 1) % 31]
            return SimulatedEvent(event.topic, value, expect="INVALID_USCC")
        if roll < 0.4:  # a clock a century ahead: later than any time of processing
            value["occurred_at"] = value["occurred_at"].replace(year=value["occurred_at"].year + 100)
            return SimulatedEvent(event.topic, value, expect="FUTURE_TIMESTAMP")
        broken = corrupt(PROVIDER_TOPICS[event.topic], value)
        if broken is None:
            return event
        return SimulatedEvent(event.topic, broken[1], expect=broken[0])

    def firm_month(self, firm: dict, month: int) -> Iterator[SimulatedEvent]:
        for kind, count in firm["accounts"].items():
            for account in range(count):
                yield from self.statement(firm, kind, account, month)
        yield from self.tax_month(firm, month)
        if month % 12 == 3:  # ratings for last year are published in April
            yield self.tax_event(TOPIC_OF["TaxCreditRating"], firm, last_day(month), {
                "rating_year": month // 12 - 1, "grade": self.rng.choices("ABMCD", (40, 35, 15, 7, 3))[0]})
        if month % 3 == 2:  # quarterly arrears and status snapshots
            owed = firm["payer"] == "struggling" and self.rng.random() < 0.6
            yield self.tax_event(TOPIC_OF["TaxArrears"], firm, last_day(month), {
                "as_of": last_day(month), "in_arrears": owed,
                "amount": (Decimal(self.rng.randrange(1000, 90000)) / 100) if owed else Decimal("0.00"),
                "tax_types": ["VAT"] if owed else []})
            yield self.tax_event(TOPIC_OF["TaxpayerStatus"], firm, last_day(month), {
                "as_of": last_day(month), "abnormal": firm["payer"] == "struggling" and self.rng.random() < 0.2})
        if month == self.months[0] or self.rng.random() < 0.02:
            yield self.consent(firm, month)

    def statement(self, firm: dict, kind: str, account: int, month: int) -> Iterator[SimulatedEvent]:
        rng = self.rng
        topic, provider, price = PROVIDERS[kind]
        season = 1 + 0.35 * math.sin(2 * math.pi * (month % 12) / 12 + firm["phase"])
        base = {"water": 60, "electricity": 2400, "gas": 150}[kind]
        usage = (Decimal(base * season * rng.uniform(0.8, 1.2)) * firm["scale"]).quantize(MILLI)
        due = (usage * price).quantize(CENT, ROUND_HALF_UP)
        due_date = last_day(month + 1).replace(day=20)
        paid, paid_date = self.payment(firm, due, due_date)
        arrears = (due - paid) if rng.random() < 0.9 else Decimal("0.00")
        value = {
            **self.common(provider, firm, at(last_day(month) + dt.timedelta(days=3), rng)),
            "account_no": f"{normalise_uscc(firm['uscc'])[-6:]}{kind[0].upper()}{account + 1:02d}",
            "account_name": firm["name"], "billing_month": format_month(month),
            "usage": usage, "amount_due": due, "amount_paid": paid, "due_date": due_date,
            "paid_date": paid_date, "arrears_amount": arrears, "revision": 0,
        }
        if kind == "electricity":
            value.update({"usage_type": rng.choice(("一般工商业", "大工业", None)),
                          "account_opened_on": dt.date(2015 + account, 1 + account, 10),
                          "region_province": "黑龙江省", "region_city": "黑河市",
                          "value_grade": rng.choice(("A", "B", "C", None)), "risk_grade": rng.choice(("低", "中", None))})
        yield SimulatedEvent(topic, value)
        if rng.random() < 0.03:  # a correction: same account and month, higher revision
            fixed = (usage * Decimal("0.9")).quantize(MILLI)
            yield SimulatedEvent(topic, {**value, "event_id": self.event_id(provider), "usage": fixed,
                                         "amount_due": (fixed * price).quantize(CENT, ROUND_HALF_UP),
                                         "occurred_at": self.not_after_now(value["occurred_at"] + dt.timedelta(days=9)),
                                         "revision": 1})

    def payment(self, firm: dict, amount: Decimal, due_date: dt.date) -> tuple[Decimal, Optional[dt.date]]:
        rng = self.rng
        roll = rng.random()
        late, partial = {"prompt": (0.03, 0.01), "late": (0.4, 0.05), "struggling": (0.5, 0.3)}[firm["payer"]]
        if roll < partial:
            return (amount * Decimal(rng.choice(("0.5", "0.8")))).quantize(CENT), None
        if roll < partial + late:
            return amount, due_date + dt.timedelta(days=rng.randint(1, 40))
        return amount, due_date - dt.timedelta(days=rng.randint(0, 15))

    def tax_month(self, firm: dict, month: int) -> Iterator[SimulatedEvent]:
        quarter_end = month % 3 == 2
        if not firm["vat_quarterly"] or quarter_end:
            span = 3 if firm["vat_quarterly"] else 1
            yield self.tax_payment(firm, "VAT", month - span + 1, month, Decimal(self.rng.randrange(2000, 60000)) * span)
        if quarter_end:
            yield self.tax_payment(firm, "CIT", month - 2, month, Decimal(self.rng.randrange(1000, 30000)))

    def tax_payment(self, firm: dict, tax_type: str, first: int, last: int, base: Decimal) -> SimulatedEvent:
        payable = (base * firm["scale"] / 10).quantize(CENT)
        due_date = last_day(last + 1).replace(day=15)
        paid, paid_date = self.payment(firm, payable, due_date)
        event = self.tax_event(TOPIC_OF["TaxPayment"], firm, due_date, {
            "tax_type": tax_type, "period_start": last_day(first).replace(day=1), "period_end": last_day(last),
            "amount_payable": payable, "amount_paid": paid, "due_date": due_date, "paid_date": paid_date,
            "revision": 0})
        return event

    def tax_event(self, topic: str, firm: dict, day: dt.date, fields: dict) -> SimulatedEvent:
        return SimulatedEvent(topic, {**self.common(TAX_PROVIDER, firm, at(day, self.rng)), **fields})

    def consent(self, firm: dict, month: int) -> SimulatedEvent:
        granted = at(last_day(month).replace(day=1), self.rng)
        return SimulatedEvent(TOPIC_OF["ConsentGrant"], {
            **self.common("credit-platform", firm, granted), "lender_id": self.rng.choice(LENDERS),
            "scopes": self.rng.choice((["UTILITY", "TAX"], ["UTILITY"], ["TAX"])),
            "granted_at": granted, "expires_at": granted + dt.timedelta(days=365),
            "revoked": self.rng.random() < 0.1})

    def maybe_corrupt(self, event: SimulatedEvent) -> SimulatedEvent:
        if self.rng.random() >= self.invalid_share:
            return event
        value = dict(event.value)
        value["event_id"] = value["event_id"] + "-bad"
        options = ["UNDECODABLE", "INVALID_USCC"]
        if "amount_paid" in value or "amount" in value:
            options.append("NEGATIVE_AMOUNT")
        if "usage" in value:
            options.append("NEGATIVE_USAGE")
        if {"billing_month", "period_start", "granted_at"} & set(value):
            options.append("BAD_PERIOD")
        reason = self.rng.choice(options)
        if reason == "UNDECODABLE":
            return SimulatedEvent(event.topic, None, garbage=b"\xc3\x01" + bytes(self.rng.randrange(256) for _ in range(20)),
                                  expect=reason)
        if reason == "INVALID_USCC":
            uscc = normalise_uscc(value["uscc"])
            wrong = USCC_ALPHABET[(USCC_ALPHABET.index(uscc[17]) + 1) % 31]
            value["uscc"] = uscc[:17] + wrong
        elif reason == "NEGATIVE_AMOUNT":
            value["amount_paid" if "amount_paid" in value else "amount"] = Decimal("-12.50")
        elif reason == "NEGATIVE_USAGE":
            value["usage"] = Decimal("-1.000")
        elif "billing_month" in value:
            value["billing_month"] = value["billing_month"][:5] + "13"
        elif "period_start" in value:
            value["period_end"] = value["period_start"] - dt.timedelta(days=1)
        else:
            value["expires_at"] = value["granted_at"] - dt.timedelta(days=1)
        return SimulatedEvent(event.topic, value, expect=reason)


def event_line(event: SimulatedEvent) -> str:
    """The replay line of an event; garbage becomes a line that is not JSON."""
    if event.garbage is not None:
        return '{"topic": "%s", "value": {"truncated' % event.topic
    return replay_line(event.topic, event.value)


def event_bytes(codec: Codec, event: SimulatedEvent) -> tuple[bytes, bytes]:
    """(key, value) as a provider would send them."""
    if event.garbage is not None:
        return b"garbage", event.garbage
    key = normalise_uscc(event.value["uscc"]).encode()
    return key, codec.encode(PROVIDER_TOPICS[event.topic], event.value)
