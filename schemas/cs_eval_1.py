"""Credit evaluation model ``cs-eval-1`` and the whitelist rule (platform-services.md): contract-layer rules, pure, no
I/O. A model is one module named after it: a changed model is a new module and a new name, so a
published score always says which rules made it.

The indicator table in docs/evaluation.md is generated from INDICATORS (``markdown()``), and a
test keeps the two equal."""
from __future__ import annotations

from typing import Callable, NamedTuple

from creditstream.schemas.topics import UTILITIES

MODEL = "cs-eval-1"


class Indicator(NamedTuple):
    id: str
    input: str  # what it reads, as the docs say it
    bands: tuple[tuple[str, int], ...]  # (condition, points), in the order they are tried
    band_of: Callable[[dict], int]  # row -> index into bands


def _by_value(field: str, points: dict) -> tuple[tuple[tuple[str, int], ...], Callable[[dict], int]]:
    keys = list(points)
    bands = tuple(("null" if k is None else str(k).lower() if isinstance(k, bool) else str(k), p)
                  for k, p in points.items())
    return bands, lambda row: keys.index(row[field])


def _months_band(months: int) -> int:
    return 0 if months >= 12 else 1 if months >= 6 else 2 if months >= 1 else 3


MONTH_BANDS = ((">= 12", 10), ("6-11", 6), ("1-5", 3), ("0", 0))


def _observed(row: dict) -> list[str]:
    return [k for k in UTILITIES if row[f"{k}_months_12m"] >= 1]


def _u1(row: dict) -> int:
    observed = _observed(row)
    if not observed:
        return 0
    in_arrears = sum(1 for k in observed if row[f"{k}_in_arrears"])
    return 1 if in_arrears == 0 else 2 if in_arrears == 1 else 3


def _p1(row: dict) -> int:
    if row["penalties_in_publicity"] == 0:
        return 0
    return 2 if row["serious_penalty_in_publicity"] else 1


INDICATORS: tuple[Indicator, ...] = (
    Indicator("T1", "tax_rating_grade",
              *_by_value("tax_rating_grade", {"A": 20, "B": 15, "M": 10, "C": 4, "D": 0, None: 8})),
    Indicator("T2", "tax_in_arrears", *_by_value("tax_in_arrears", {False: 10, True: 0})),
    Indicator("T3", "taxpayer_abnormal", *_by_value("taxpayer_abnormal", {False: 5, True: 0})),
    Indicator("T4", "tax_normal_streak_months", MONTH_BANDS, lambda row: _months_band(row["tax_normal_streak_months"])),
    Indicator("U1", "utilities observed (`{k}_months_12m` >= 1) and `{k}_in_arrears`",
              (("none observed", 7), ("observed, none in arrears", 15), ("exactly one in arrears", 5),
               ("two or more in arrears", 0)), _u1),
    Indicator("U2", "max over k of `{k}_months_12m`", MONTH_BANDS,
              lambda row: _months_band(max(row[f"{k}_months_12m"] for k in UTILITIES))),
    Indicator("P1", "penalties_in_publicity, serious_penalty_in_publicity",
              (("none in publicity", 12), ("in publicity, none serious", 4), ("a serious one in publicity", 0)), _p1),
    Indicator("P2", "env_grade",
              *_by_value("env_grade", {"GREEN": 8, "BLUE": 6, None: 5, "YELLOW": 2, "RED": 0, "BLACK": 0})),
    Indicator("C1", "high_tech_enterprise", *_by_value("high_tech_enterprise", {True: 5, False: 0})),
    Indicator("C2", "science_projects_3y", ((">= 1", 3), ("0", 0)),
              lambda row: 0 if row["science_projects_3y"] >= 1 else 1),
    Indicator("C3", "key_lab", *_by_value("key_lab", {True: 2, False: 0})),
)
GRADES = ((90, "AAA"), (80, "AA"), (70, "A"), (60, "B"), (0, "C"))


def explain(row: dict) -> list[tuple[Indicator, str, int, int]]:
    """Each indicator the row has the input of: (indicator, the band it is in, its points, the
    most it could give): the model's own table, so words and score never differ."""
    out = []
    for indicator in INDICATORS:
        try:
            condition, points = indicator.bands[indicator.band_of(row)]
        except (KeyError, ValueError, TypeError):  # a row without the indicator's input
            continue
        out.append((indicator, condition, points, max(p for _c, p in indicator.bands)))
    return out


def evaluate(row: dict) -> dict:
    """eval_model, eval_score (0-100), eval_grade and eval_points of a row with every v1 and
    profile field."""
    points = {ind.id: ind.bands[ind.band_of(row)][1] for ind in INDICATORS}
    score = sum(points.values())
    grade = next(name for floor, name in GRADES if score >= floor)
    return {"eval_model": MODEL, "eval_score": score, "eval_grade": grade, "eval_points": points}


# The whitelist: every condition must hold; the ids of those that fail go with a leaving message.
WHITELIST_CONDITIONS: tuple[tuple[str, str, Callable[[dict], bool]], ...] = (
    ("W1", "eval_grade AAA or AA", lambda row: row["eval_grade"] in ("AAA", "AA")),
    ("W2", "tax_rating_grade A or B", lambda row: row["tax_rating_grade"] in ("A", "B")),
    ("W3", "tax_normal_streak_months >= 6", lambda row: row["tax_normal_streak_months"] >= 6),
    ("W4", "not taxpayer_abnormal", lambda row: not row["taxpayer_abnormal"]),
    ("W5", "not tax_in_arrears", lambda row: not row["tax_in_arrears"]),
    ("W6", "no utility in arrears", lambda row: not any(row[f"{k}_in_arrears"] for k in UTILITIES)),
    ("W7", "not serious_penalty_in_publicity", lambda row: not row["serious_penalty_in_publicity"]),
    ("W8", "env_grade not RED or BLACK", lambda row: row["env_grade"] not in ("RED", "BLACK")),
)


def whitelist_failures(row: dict) -> list[str]:
    """The ids of the whitelist conditions a row (with its evaluation) fails; empty = whitelisted."""
    return [cid for cid, _text, holds in WHITELIST_CONDITIONS if not holds(row)]


def markdown() -> str:
    """The indicator and whitelist tables, as docs/evaluation.md carries them."""
    lines = [f"Model `{MODEL}` (`creditstream/schemas/cs_eval_1.py`).", "", "| id | input | points |", "|---|---|---|"]
    for ind in INDICATORS:
        lines.append(f"| {ind.id} | {ind.input} | {'; '.join(f'{cond}: {p}' for cond, p in ind.bands)} |")
    lines += ["", "Grades: " + ", ".join(f"{name} >= {floor}" if floor else f"{name} below {GRADES[-2][0]}"
                                          for floor, name in GRADES) + ".",
              "", "| whitelist condition | must hold |", "|---|---|"]
    lines += [f"| {cid} | {text} |" for cid, text, _holds in WHITELIST_CONDITIONS]
    return "\n".join(lines) + "\n"
