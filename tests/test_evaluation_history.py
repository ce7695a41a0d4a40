"""The credit evaluation over time: migration 008's materialised view keeps the last evaluation of
each day from every aggregate row the sink inserts; the API serves it under the row's own rules
(grade and whitelist public, the score only under UTILITY and TAX); the portal draws it."""
import datetime as dt
import json

from creditstream.api.portal.series import evaluation_months
from creditstream.schemas.tables import EnterpriseAggregatesRow, columns
from tests.support import builders
from tests.support.api_app import ApiHarness, bearer

E1 = builders.USCC
UTC = dt.timezone.utc


def insert_rows(client, uscc: str, evaluations) -> None:
    """Aggregate rows as the sink writes them: (computed at, score, grade, whitelisted)."""
    rows = [EnterpriseAggregatesRow(uscc, "2026-10", json.dumps({"uscc": uscc, "eval_model": "cs-eval-2",
                                                                 "eval_score": score, "eval_grade": grade,
                                                                 "whitelisted": member}), at, number)
            for number, (at, score, grade, member) in enumerate(evaluations, start=1)]
    client.insert("enterprise_aggregates", [list(row) for row in rows], column_names=list(columns(
        "enterprise_aggregates")))


HISTORY = [
    (dt.datetime(2026, 9, 30, 10, 0, tzinfo=UTC), 64, "B", False),
    (dt.datetime(2026, 10, 31, 15, 0, tzinfo=UTC), 72, "A", False),  # 23:00 in Shanghai: still 10-31
    (dt.datetime(2026, 10, 31, 17, 0, tzinfo=UTC), 81, "AA", True),  # 01:00 on 11-01 in Shanghai
    (dt.datetime(2026, 11, 1, 9, 0, tzinfo=UTC), 83, "AA", True),    # the same Shanghai day: this one stays
]


def test_the_history_keeps_the_last_evaluation_of_each_shanghai_day(clickhouse):
    insert_rows(clickhouse, E1, HISTORY)
    days = clickhouse.query("SELECT toString(day), eval_score, eval_grade, whitelisted FROM evaluation_history FINAL "
                        "WHERE uscc = {u:String} ORDER BY day", parameters={"u": E1}).result_rows
    assert days == [("2026-09-30", 64, "B", False), ("2026-10-31", 72, "A", False), ("2026-11-01", 83, "AA", True)]


def test_a_lender_sees_the_score_over_time_only_under_utility_and_tax(tmp_path, clickhouse, chdb_url):
    harness = ApiHarness(tmp_path, clickhouse_url=chdb_url)  # chdb: one data directory per process
    harness.row(E1)
    both, one = harness.key("lender", "bank-1"), harness.key("lender", "bank-2")
    harness.consent(E1, "bank-1", ("UTILITY", "TAX"))
    harness.consent(E1, "bank-2", ("UTILITY",))
    insert_rows(clickhouse, E1, HISTORY)

    async def scenario(http):
        answers = {}
        for name, key in (("both", both), ("one", one)):
            response = await http.get(f"/v1/enterprises/{E1}/history/evaluation", headers=bearer(key))
            answers[name] = (response.status, await response.json())
        return answers
    answers = harness.run(scenario)
    status, consented = answers["both"]
    assert status == 200 and [(i["day"], i["eval_score"], i["eval_grade"]) for i in consented["items"]] == [
        ("2026-09-30", 64, "B"), ("2026-10-31", 72, "A"), ("2026-11-01", 83, "AA")]
    status, public = answers["one"]
    assert status == 200 and [(i["day"], i["eval_grade"], i["whitelisted"]) for i in public["items"]] == [
        ("2026-09-30", "B", False), ("2026-10-31", "A", False), ("2026-11-01", "AA", True)]
    assert all("eval_score" not in item for item in public["items"]) and "TAX" in public["withheld"]["eval_score"]
    audited = {row["principal_id"]: row for row in harness.audit()}
    assert audited["bank-1"]["scope"] == "UTILITY+TAX" and audited["bank-2"]["scope"] == "PUBLIC"


def test_the_chart_takes_each_months_last_score_under_its_grade():
    items = [{"day": "2026-09-30", "eval_score": 64, "eval_grade": "B"},
             {"day": "2026-10-31", "eval_score": 72, "eval_grade": "A"},
             {"day": "2026-10-02", "eval_score": 60, "eval_grade": "B"},  # earlier in October: not the month's end
             {"day": "2026-11-01", "eval_grade": "AA"}]  # no score (withheld): no bar
    series = evaluation_months(items, "2026-12")
    assert series.labels[0] == "2026-01" and series.labels[-1] == "2026-12" and list(series.values) == ["A", "B"]
    at = {m: i for i, m in enumerate(series.labels)}
    assert series.values["A"][at["2026-10"]] == 72 and series.values["B"][at["2026-10"]] is None
    assert series.values["B"][at["2026-09"]] == 64 and series.values["A"][at["2026-11"]] is None


def test_the_enterprises_evaluation_chart_states_each_months_score_and_grade():
    from creditstream.api.portal.pages import figure_charts
    history = [{"day": "2026-10-31", "eval_score": 72, "eval_grade": "A"},
               {"day": "2026-11-30", "eval_score": 81, "eval_grade": "AA"}]
    charts = figure_charts("zh", {"evaluation": history}, [], dt.date(2026, 12, 3))
    assert [caption for caption, _svg in charts] == ["近12个月信用评分（每月最后一次评价，颜色为当时等级）"]
    svg = str(charts[0][1])
    assert "26-10: 等级 A 72 分" in svg and "26-11: 等级 AA 81 分" in svg and 'style="' not in svg
