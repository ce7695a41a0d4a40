"""The look-up audit made durable on local disk first, shipped to Kafka behind the answers.

Measured (docs/benchmarks.md, issue 29): waiting for Kafka's acknowledgement of every group was
what made the look-up tail at 1,000 look-ups/s (p99 15-17 ms at 1M rows), because the broker
shares the two cores; with this journal it is 5-6 ms. A group commit to a local file costs
~0.25 ms. The order, for one group of records (the look-ups answered in the same turn of the
event loop):

1. The group is appended to the current segment (framed: length, CRC-32, payload) and the file
   is fdatasync'd, on the event loop itself: the loop waits ~0.25 ms, and the requests that
   arrive meanwhile form the next group. (A sync on a thread of its own was measured first: its
   result waited for the GIL while the loop was busy, ~1 ms more at the median and a worse p99.)
2. Only then do the group's answers leave. A group whose sync fails is answered 503, and so is
   every group while more than ``backlog_bytes`` wait to be shipped (Kafka away for long).
3. The shipper sends the journaled groups to credit.audit.v1 (acks=all), those of the last 50 ms
   as one message, a few messages in flight; a message Kafka does not acknowledge is sent again
   after a second.
4. The shipped position (segment, byte) advances over the acknowledged prefix and is written to
   ``shipped`` (atomic rename) at most once a second and at close; segments wholly before it are
   deleted.
5. At start, the groups after ``shipped`` are read back and shipped first. A torn tail (a group
   whose sync never returned, so whose answers never left) is cut off. A group shipped twice (a
   crash between 3 and 4) is harmless: the sink stores each request id once.
"""
from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
import zlib
from collections import deque
from pathlib import Path

from creditstream.api.audit import AuditLog
from creditstream.api.writer import KafkaUnavailable
from creditstream.monitoring import metrics
from creditstream.schemas.topics import AUDIT_TOPIC

log = logging.getLogger(__name__)
FRAME = struct.Struct(">II")  # payload length, CRC-32 of the payload
SEGMENT_BYTES = 16 << 20  # a new segment after this many bytes: shipped ones are deleted whole
MAX_IN_FLIGHT = 4  # messages sent to Kafka and not yet acknowledged
SHIP_LINGER = 0.05  # seconds the shipper gathers groups into one message
SHIPMENT_BYTES = 512 << 10  # at most this much in one message (the broker's limit is 1 MiB)
RETRY_SECONDS = 1.0
SAVE_SECONDS = 1.0


class Group:
    """One journaled group: where it ends on disk, what it holds, and whether Kafka has it."""
    __slots__ = ("segment", "end", "payload", "records", "state", "journaled_at")

    def __init__(self, segment: int, end: int, payload: bytes):
        self.segment, self.end, self.payload = segment, end, payload
        self.journaled_at = time.monotonic()  # (for a group read back at start: when it was read)
        self.records = payload.count(b"\n") + 1
        self.state = "waiting"  # → sending → shipped


def read_segment(path: Path, start: int) -> tuple[list[tuple[int, bytes]], int]:
    """The whole frames of a segment from ``start``: [(end offset, payload)], and where the last
    whole frame ends (a torn or corrupt tail begins there)."""
    data = path.read_bytes()
    frames, at = [], start
    while at + FRAME.size <= len(data):
        length, crc = FRAME.unpack_from(data, at)
        payload = data[at + FRAME.size: at + FRAME.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        at += FRAME.size + length
        frames.append((at, payload))
    return frames, at


class AuditJournal(AuditLog):
    """AuditLog's groups (``write`` returns once the record is durable, raises AuditUnavailable
    otherwise) made durable on local disk; see the module's numbered order."""

    def __init__(self, directory: Path, writer, backlog_bytes: int = 64 << 20, close_seconds: float = 10.0):
        super().__init__(writer)
        self.directory, self.backlog_bytes = Path(directory), backlog_bytes
        self.close_seconds = close_seconds  # at close, shipping what waits is tried this long
        self.directory.mkdir(parents=True, exist_ok=True)
        self._queue: deque[Group] = deque()  # journaled, not yet known to Kafka, in order
        self._in_flight = 0
        self._ship_scheduled = False
        self._unshipped_bytes = 0
        self._retry_at = 0.0
        self._saved_at = 0.0
        self._shipped = self._saved = self._read_position()
        self._segment, self._file = self._recover()
        metrics.API_AUDIT_UNSHIPPED_AGE.set_function(self.unshipped_age)

    def unshipped_age(self) -> float:
        """Seconds the oldest group not yet acknowledged by Kafka has waited (0: none waits)."""
        return time.monotonic() - self._queue[0].journaled_at if self._queue else 0.0

    # -- 1-2: the group commit (AuditLog forms the group of one turn of the loop) ------------------
    def make_durable(self, loop: asyncio.AbstractEventLoop, group: asyncio.Future, payload: bytes) -> None:
        if self._unshipped_bytes > self.backlog_bytes:
            group.set_exception(KafkaUnavailable(
                f"{self._unshipped_bytes:,} bytes of audit records wait for Kafka (limit {self.backlog_bytes:,})"))
            return
        try:
            segment, end = self._append(payload)
        except OSError as exc:
            log.error("the audit journal could not write a group: %r", exc)
            group.set_exception(KafkaUnavailable(f"audit journal not written: {exc}"))
            return
        self._enqueue(Group(segment, end, payload))
        if not group.done():
            group.set_result(None)
        self._ship_soon(loop)

    def _append(self, payload: bytes) -> tuple[int, int]:
        """Append the group's frame and sync; (segment, end) of the frame."""
        if self._file.tell() >= SEGMENT_BYTES:
            self._file.close()
            self._segment += 1
            self._file = open(self._segment_path(self._segment), "ab", buffering=0)
        at = self._file.tell()
        frame = FRAME.pack(len(payload), zlib.crc32(payload)) + payload
        try:
            self._file.write(frame)
            os.fdatasync(self._file.fileno())
        except OSError:  # (disk full) no partial frame may stay: a restart would stop reading there
            os.ftruncate(self._file.fileno(), at)
            raise
        return self._segment, at + len(frame)

    def _enqueue(self, group: Group) -> None:
        self._queue.append(group)
        self._unshipped_bytes += len(group.payload)
        metrics.API_AUDIT_UNSHIPPED.inc(group.records)

    # -- 3-4: shipping -----------------------------------------------------------------------------
    def _ship_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Ship within SHIP_LINGER: the groups journaled meanwhile go as one message, so the broker
        (which shares the machine) serves a few requests a second, not one per group."""
        if not self._ship_scheduled:
            self._ship_scheduled = True
            loop.call_later(SHIP_LINGER, self._ship, loop)

    def _ship(self, loop: asyncio.AbstractEventLoop) -> None:
        self._ship_scheduled = False
        if time.monotonic() < self._retry_at:
            return
        waiting = deque(g for g in self._queue if g.state == "waiting")
        while waiting and self._in_flight < MAX_IN_FLIGHT:
            shipment, size = [], 0
            while waiting and (not shipment or size + len(waiting[0].payload) <= SHIPMENT_BYTES):
                shipment.append(waiting.popleft())
                size += len(shipment[-1].payload) + 1
            for group in shipment:
                group.state = "sending"
            self._in_flight += 1
            settled = loop.create_future()
            settled.add_done_callback(lambda done, groups=shipment: self._acknowledged(loop, groups, done))
            self.writer.send_soon(loop, AUDIT_TOPIC, None, b"\n".join(g.payload for g in shipment), settled)

    def _acknowledged(self, loop: asyncio.AbstractEventLoop, shipment: list[Group], done: asyncio.Future) -> None:
        self._in_flight -= 1
        if done.exception() is not None:
            for group in shipment:
                group.state = "waiting"
            if self._retry_at <= time.monotonic():
                log.warning("audit records not shipped to Kafka yet (%d groups wait): %s", len(self._queue),
                            done.exception())
                self._retry_at = time.monotonic() + RETRY_SECONDS
                loop.call_later(RETRY_SECONDS, self._ship, loop)
            return
        for group in shipment:
            group.state = "shipped"
        while self._queue and self._queue[0].state == "shipped":
            first = self._queue.popleft()
            self._shipped = (first.segment, first.end)
            self._unshipped_bytes -= len(first.payload)
            metrics.API_AUDIT_UNSHIPPED.dec(first.records)
        if time.monotonic() - self._saved_at >= SAVE_SECONDS:
            self._save_position()
        if any(g.state == "waiting" for g in self._queue):
            self._ship_soon(loop)

    async def close(self) -> None:
        """Ship what waits (up to close_seconds), record where shipping got to, close the file."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.close_seconds
        while self._queue and time.monotonic() < deadline:
            self._ship(loop)
            await asyncio.sleep(0.01)
        self._save_position()
        self._file.close()
        if self._queue:
            log.warning("%d audit groups are not in Kafka yet: they are shipped at the next start", len(self._queue))

    # -- 4-5: the position and the segments ----------------------------------------------------------
    def _segment_path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}.log"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.log") if p.stem.isdigit())

    def _read_position(self) -> tuple[int, int]:
        try:
            segment, end = (self.directory / "shipped").read_text().split()
            return int(segment), int(end)
        except (OSError, ValueError):
            return 0, 0

    def _save_position(self) -> None:
        self._saved_at = time.monotonic()
        if self._shipped == self._saved:
            return
        self._saved = self._shipped
        temporary = self.directory / "shipped.tmp"
        temporary.write_text(f"{self._shipped[0]} {self._shipped[1]}\n")
        os.replace(temporary, self.directory / "shipped")
        for segment in self._segments():
            if segment < self._shipped[0]:
                self._segment_path(segment).unlink(missing_ok=True)

    def _recover(self):
        """Queue what was journaled after the shipped position; open the segment to append to."""
        segments = [s for s in self._segments() if s >= self._shipped[0]]
        for segment in segments:
            path = self._segment_path(segment)
            frames, whole = read_segment(path, self._shipped[1] if segment == self._shipped[0] else 0)
            for end, payload in frames:
                self._enqueue(Group(segment, end, payload))
            if whole < path.stat().st_size:
                log.warning("audit journal %s: %d bytes of a torn group after byte %d cut off (never answered)",
                            path.name, path.stat().st_size - whole, whole)
                os.truncate(path, whole)
        if self._queue:
            log.info("audit journal: %d groups (%d records) to ship to Kafka from before this start",
                     len(self._queue), sum(g.records for g in self._queue))
        segment = segments[-1] if segments else max(self._shipped[0], 1)
        return segment, open(self._segment_path(segment), "ab", buffering=0)

    async def run(self) -> None:
        """Beside the app: ship what the last run left behind, then each second retry what Kafka
        refused and record how far shipping got, traffic or not."""
        loop = asyncio.get_running_loop()
        while True:
            self._ship(loop)
            if time.monotonic() - self._saved_at >= SAVE_SECONDS:
                self._save_position()
            await asyncio.sleep(SAVE_SECONDS)
