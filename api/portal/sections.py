"""An aggregate row as the portal shows it: in the report's order (the evaluation, public credit
information, then each consent scope), each group saying whether the viewer's consent covers it
and since when, and figures over 3, 6 and 12 months side by side in one table instead of three
lines apart. Pure: the page hands in the API's answer and renders the groups."""
from __future__ import annotations

import re
from typing import NamedTuple

from creditstream.schemas.models import AGGREGATE_FIELDS, PUBLIC, SCOPES, UTILITY_AND_TAX, WINDOWS, field_scope

EVALUATION = ("eval_model", "eval_grade", "eval_score", "eval_red_lines", "whitelisted")
HIDDEN = ("eval_points",)  # the me page explains them indicator by indicator
_WINDOWED = re.compile(r"(.+)_(\d+)m")
_FIELDS = frozenset(AGGREGATE_FIELDS)


class Windowed(NamedTuple):
    stem: str  # e.g. water_avg_usage
    first: str  # the 3-month field: its label, less the window, heads the line
    values: tuple  # the value for each of WINDOWS (None where the row lacks it)


class Group(NamedTuple):
    id: str  # "evaluation", "PUBLIC" or a consent scope
    covered: bool  # does the viewer see this group's figures?
    note: str  # why (withheld reason) — the page words the rest
    fields: list  # [(name, value)] shown one per line
    windowed: list  # [Windowed] shown as a 3 / 6 / 12 months table


def row_groups(row: dict, viewer: str) -> list[Group]:
    """``viewer``: "enterprise" (its own row: everything) or "lender" (public plus what its
    consent covers; the answer's ``withheld`` says why the rest is not there)."""
    withheld = row.get("withheld") or {}
    groups = [_group("evaluation", [n for n in EVALUATION if n in row], row, True, "")]
    groups.append(_group(PUBLIC, [n for n in AGGREGATE_FIELDS if n in row and n not in EVALUATION
                                  and n not in HIDDEN and field_scope(n) == PUBLIC], row, True, ""))
    for scope in SCOPES:
        names = [n for n in AGGREGATE_FIELDS if n in row and field_scope(n) == scope]
        covered = viewer == "enterprise" or scope not in withheld
        groups.append(_group(scope, names, row, covered, "" if covered else withheld[scope]))
    return groups


def _group(group_id: str, names: list[str], row: dict, covered: bool, note: str) -> Group:
    fields, windowed, seen = [], [], set()
    for name in names:
        match = _WINDOWED.fullmatch(name)
        stem = match.group(1) if match else ""
        if match and all(f"{stem}_{w}m" in _FIELDS for w in WINDOWS):  # 12-month-only figures stay lines
            if stem not in seen:
                seen.add(stem)
                windowed.append(Windowed(stem, f"{stem}_{WINDOWS[0]}m",
                                         tuple(row.get(f"{stem}_{w}m") for w in WINDOWS)))
        else:
            fields.append((name, row[name]))
    return Group(group_id, covered, note, fields, windowed)


def score_needs_both(row: dict) -> bool:
    """The evaluation's score and points show only under both UTILITY and TAX."""
    return "eval_score" not in row and field_scope("eval_score") == UTILITY_AND_TAX
