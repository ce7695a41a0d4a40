"""Credit evaluation model ``cs-eval-2`` (platform-services.md, v1.2 addendum): cs-eval-1's eleven
indicators, points, score and bands, plus the red lines (一票否决) of the joint-punishment
memoranda. A red line changes neither the score nor the points; it caps the grade at C and takes
the enterprise off the whitelist. Contract-layer rules, pure, no I/O.

The red-line table in docs/evaluation.md is generated from RED_LINES (``markdown()``)."""
from __future__ import annotations

from typing import Callable, NamedTuple

from creditstream.schemas import cs_eval_1

MODEL = "cs-eval-2"
CAPPED_GRADE = "C"


class RedLine(NamedTuple):
    id: str
    text: str  # what it reads, as the docs say it
    consent_scope: str | None  # the scope a lender needs to see that it is hit (None: public)
    hit: Callable[[dict], bool]


RED_LINES: tuple[RedLine, ...] = (
    RedLine("X1", "`court_dishonest` is true (on the dishonest judgment debtors list at R)", None,
            lambda row: row["court_dishonest"]),
    RedLine("X2", "`customs_grade` is DISHONEST", None, lambda row: row["customs_grade"] == "DISHONEST"),
    RedLine("X3", "`social_arrears_months_3m` = 3 (social-insurance arrears in each of the months M-2, M-1, M)",
            "SOCIAL", lambda row: row["social_arrears_months_3m"] == 3),
)
RED_LINE_SCOPE = {line.id: line.consent_scope for line in RED_LINES}


def red_lines(row: dict) -> list[str]:
    """The ids of the red lines a row hits, in the order X1, X2, X3."""
    return [line.id for line in RED_LINES if line.hit(row)]


def evaluate(row: dict) -> dict:
    """eval_model, eval_score, eval_grade, eval_points and eval_red_lines of a row with every v1,
    v1.1 and v1.2 field."""
    evaluation, hit = cs_eval_1.evaluate(row), red_lines(row)  # points, score and bands are cs-eval-1's
    return {**evaluation, "eval_model": MODEL, "eval_grade": CAPPED_GRADE if hit else evaluation["eval_grade"],
            "eval_red_lines": hit}


def whitelist_failures(row: dict) -> list[str]:
    """The ids of the whitelist conditions a row (with its evaluation) fails, then the red lines
    it hits (so a leaving message names them); empty = whitelisted."""
    return cs_eval_1.whitelist_failures(row) + list(row["eval_red_lines"])


def visible_red_lines(hit: list[str], scopes) -> list[str]:
    """The red lines a viewer with consent ``scopes`` is shown: X3 rests on consent data."""
    return [line for line in hit if RED_LINE_SCOPE.get(line) is None or RED_LINE_SCOPE[line] in scopes]


def markdown() -> str:
    """The indicator, red-line and whitelist tables, as docs/evaluation.md carries them."""
    lines = [cs_eval_1.markdown().rstrip("\n").replace(f"Model `{cs_eval_1.MODEL}` (`creditstream/schemas/cs_eval_1.py`)",
                                                       f"Model `{MODEL}` (`creditstream/schemas/cs_eval_2.py`): "
                                                       f"`{cs_eval_1.MODEL}`'s indicators")]
    lines += ["", "| red line | hit when | a lender sees it |", "|---|---|---|"]
    lines += [f"| {line.id} | {line.text} | {'with ' + line.consent_scope + ' consent' if line.consent_scope else 'always'} |"
              for line in RED_LINES]
    lines += ["", f"Any red line hit: `eval_grade` is {CAPPED_GRADE} whatever the score, and the enterprise is off "
                  "the whitelist (a leaving message lists the red lines among the failed conditions)."]
    return "\n".join(lines) + "\n"
