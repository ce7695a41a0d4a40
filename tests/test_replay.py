"""`creditstream replay` as the contract specifies: output, dead letters on stderr, exit code."""
import json
import subprocess
import sys

from tests.support.kafka import ROOT

VALID = "91350100M000100Y43"


def uscc(first17: str) -> str:
    from creditstream.schemas.uscc import uscc_check_char
    return first17 + uscc_check_char(first17)


def water(uscc_value, month, usage, amount, event_id):
    return {"topic": "credit.utility.water.v1", "value": {
        "event_id": event_id, "provider_id": "heihe-water", "uscc": uscc_value, "enterprise_name": "甲",
        "occurred_at": "2025-01-03T08:00:00Z", "account_no": "W1", "account_name": "甲", "billing_month": month,
        "usage": usage, "amount_due": amount, "amount_paid": amount, "due_date": "2025-01-20", "paid_date": None,
        "arrears_amount": "0.00", "revision": 0}}


def test_replay_writes_sorted_rows_and_dead_letters(tmp_path):
    second = uscc("91110000MA01ABCD8")
    lines = [
        json.dumps(water(VALID, "2024-12", "10", "41.00", "w1")),
        json.dumps(water(second.lower(), "2024-12", "2.5", "10.25", "w2")),  # lower case: normalised
        "this is not json",
        json.dumps({"topic": "credit.unknown.v1", "value": {}}),
        json.dumps(water(VALID, "2024-12", "-1", "1.00", "w3")),
        json.dumps(water(VALID[:17] + "4", "2024-12", "1", "1.00", "w4")),
        json.dumps(water(VALID, "2024-13", "1", "1.00", "w5")),
        json.dumps({"topic": "credit.utility.water.v1", "value": {"event_id": "w6"}}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"topic": "\xff"}\n')
    result = subprocess.run([sys.executable, "-m", "creditstream.cli", "replay", "--as-of", "2024-12", str(path)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["uscc"] for r in rows] == sorted([VALID, second])
    by_uscc = {r["uscc"]: r for r in rows}
    assert by_uscc[second]["as_of_month"] == "2024-12"
    assert (by_uscc[second]["water_avg_usage_3m"], by_uscc[second]["water_avg_amount_3m"]) == ("2.500", "10.25")
    assert by_uscc[VALID]["water_avg_usage_3m"] == "10.000"
    letters = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(d["reason"], d["line"]) for d in letters] == [
        ("UNDECODABLE", 3), ("UNDECODABLE", 4), ("NEGATIVE_USAGE", 5), ("INVALID_USCC", 6), ("BAD_PERIOD", 7),
        ("UNDECODABLE", 8), ("UNDECODABLE", 9)]
    assert "unknown topic 'credit.unknown.v1'" in letters[1]["message"]
    assert letters[5]["message"] == "does not fit WaterStatement: provider_id: missing"


def test_replay_rejects_a_bad_as_of_month(tmp_path):
    (tmp_path / "e.jsonl").write_text("")
    result = subprocess.run([sys.executable, "-m", "creditstream.cli", "replay", "--as-of", "2024-13",
                             str(tmp_path / "e.jsonl")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "'2024-13' is not a real month" in result.stderr
