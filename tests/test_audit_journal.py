"""The look-up audit's local journal (api/audit_journal.py): a record is on disk before its answer
leaves, reaches Kafka behind it, survives a crash, and the backlog is bounded."""
import asyncio
import datetime as dt
import json

import pytest

from creditstream.api import audit_journal
from creditstream.api.audit_journal import AuditJournal, read_segment
from creditstream.api.writer import KafkaUnavailable, MemoryWriter
from creditstream.schemas.tables import LookupAuditRow
from creditstream.schemas.topics import AUDIT_TOPIC


def row(n: int) -> LookupAuditRow:
    return LookupAuditRow(dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc), f"req-{n}", "lender", "bank-1", "k1",
                          "aggregates", "91350100M000100Y43", "TAX", "allow", "", "c-1", 200)


def journaled_ids(directory) -> list[str]:
    ids = []
    for segment in sorted(directory.glob("*.log")):
        frames, _ = read_segment(segment, 0)
        ids += [json.loads(line)["request_id"] for _, payload in frames for line in payload.split(b"\n")]
    return ids


def shipped_ids(writer: MemoryWriter) -> list[str]:
    return [json.loads(line)["request_id"] for value in writer.on(AUDIT_TOPIC) for line in value.split(b"\n")]


async def until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_record_is_on_disk_before_its_write_returns_and_in_kafka_behind_it(tmp_path):
    writer = MemoryWriter()

    async def scenario():
        journal = AuditJournal(tmp_path, writer)
        await asyncio.gather(*(journal.write(row(n)) for n in range(5)))  # one turn of the loop: one group
        on_disk = journaled_ids(tmp_path)
        await until(lambda: len(shipped_ids(writer)) == 5)
        await journal.close()
        return on_disk
    assert asyncio.run(scenario()) == [f"req-{n}" for n in range(5)]
    assert len(writer.on(AUDIT_TOPIC)) == 1  # the group went as one message
    assert (tmp_path / "shipped").read_text().split() == ["1", str((tmp_path / "000000000001.log").stat().st_size)]


def test_with_kafka_away_answers_leave_and_the_records_follow_when_it_returns(tmp_path):
    writer = MemoryWriter()
    writer.unavailable = True

    async def scenario():
        journal = AuditJournal(tmp_path, writer)
        journal_task = asyncio.create_task(journal.run())
        for n in range(3):
            await journal.write(row(n))  # answered: durable on disk
        assert shipped_ids(writer) == []
        writer.unavailable = False  # the journal tries again each second
        await until(lambda: len(shipped_ids(writer)) == 3)
        journal_task.cancel()
        await journal.close()
    asyncio.run(scenario())
    assert sorted(shipped_ids(writer)) == ["req-0", "req-1", "req-2"]  # each once


def test_a_restart_ships_what_a_crash_left_and_cuts_off_a_torn_group(tmp_path):
    away = MemoryWriter()
    away.unavailable = True

    async def crash():
        journal = AuditJournal(tmp_path, away)
        await journal.write(row(1))
        await journal.write(row(2))  # then the process dies: no close, nothing shipped
    asyncio.run(crash())
    segment = tmp_path / "000000000001.log"
    whole = segment.stat().st_size
    with open(segment, "ab") as f:  # a group whose sync never returned: its answers never left
        f.write(audit_journal.FRAME.pack(500, 0) + b'{"request_id":"torn')

    writer = MemoryWriter()

    async def restart():
        journal = AuditJournal(tmp_path, writer)
        task = asyncio.create_task(journal.run())
        await until(lambda: len(shipped_ids(writer)) == 2)
        await journal.write(row(3))
        await until(lambda: len(shipped_ids(writer)) == 3)
        task.cancel()
        await journal.close()
    asyncio.run(restart())
    assert shipped_ids(writer) == ["req-1", "req-2", "req-3"]
    assert journaled_ids(tmp_path) == ["req-1", "req-2", "req-3"]  # the torn bytes are gone
    assert segment.stat().st_size > whole

    again = MemoryWriter()

    async def clean_restart():
        journal = AuditJournal(tmp_path, again)
        task = asyncio.create_task(journal.run())
        await asyncio.sleep(0.1)
        task.cancel()
        await journal.close()
    asyncio.run(clean_restart())
    assert again.messages == []  # everything was shipped and recorded so: nothing twice


def test_a_full_backlog_refuses_the_answer(tmp_path):
    writer = MemoryWriter()
    writer.unavailable = True

    async def scenario():
        journal = AuditJournal(tmp_path, writer, backlog_bytes=100)
        await journal.write(row(1))  # the backlog was empty
        with pytest.raises(KafkaUnavailable, match="wait for Kafka"):
            await journal.write(row(2))
    asyncio.run(scenario())
    assert journaled_ids(tmp_path) == ["req-1"]  # the refused one is not kept either


def test_shipped_segments_are_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr(audit_journal, "SEGMENT_BYTES", 200)  # about a group per segment
    writer = MemoryWriter()

    async def scenario():
        journal = AuditJournal(tmp_path, writer)
        for n in range(6):
            await journal.write(row(n))
        await until(lambda: len(shipped_ids(writer)) == 6)
        await journal.close()
    asyncio.run(scenario())
    segments = sorted(p.name for p in tmp_path.glob("*.log"))
    assert len(segments) == 1 and segments[0] == "000000000006.log", segments


def test_a_failed_sync_leaves_no_partial_group_behind(tmp_path, monkeypatch):
    writer = MemoryWriter()
    real_sync = audit_journal.os.fdatasync
    failures = [OSError(28, "No space left on device")]

    def sync(fd):
        if failures:
            raise failures.pop()
        real_sync(fd)
    monkeypatch.setattr(audit_journal.os, "fdatasync", sync)

    async def scenario():
        journal = AuditJournal(tmp_path, writer)
        with pytest.raises(KafkaUnavailable, match="not written"):
            await journal.write(row(1))
        await journal.write(row(2))
        await until(lambda: len(shipped_ids(writer)) == 1)
        await journal.close()
    asyncio.run(scenario())
    assert journaled_ids(tmp_path) == ["req-2"] and shipped_ids(writer) == ["req-2"]
