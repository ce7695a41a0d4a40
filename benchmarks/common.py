"""Helpers shared by the benchmark scripts."""
import os
from pathlib import Path

from creditstream.schemas.uscc import USCC_ALPHABET, uscc_check_char

# the worker's series of changelog records its ledger table read at start (0: the local store held them)
LEDGER_RECORDS_RECOVERED = 'creditstream_table_recovered_records_total{table="ledger"}'


def synthetic_uscc(i: int) -> str:
    """A valid, distinct USCC for the i-th synthetic enterprise."""
    body = "91" + f"{i:07d}" + "".join(USCC_ALPHABET[(i * 7 + k) % 31] for k in range(8))
    return body + uscc_check_char(body)


def send(producer, topic: str, key: bytes | None, value: bytes) -> None:
    """Produce one message, waiting for room when librdkafka's local queue is full."""
    while True:
        try:
            producer.produce(topic, value, key)
            return
        except BufferError:
            producer.poll(0.1)


def steady_events(rate: int, seconds: int) -> list[tuple[bytes, bytes, str]]:
    """rate × seconds simulated provider events of every category, as (key, value, topic), for a
    steady-rate run (freshness, province_lag)."""
    from creditstream.connectors.simulate import Simulator, event_bytes
    from creditstream.schemas.codec import default_codec
    from creditstream.schemas.months import parse_month

    codec, wanted, events = default_codec(), rate * seconds, []
    for event in Simulator(max(100, wanted // 75), 12, parse_month("2025-06"), seed=5, invalid_share=0.01).events():
        events.append(event_bytes(codec, event) + (event.topic,))
        if len(events) >= wanted:
            break
    return events


def produce_steadily(producer, events, rate: int, progress=None) -> float:
    """Produce ``events`` at ``rate`` a second (``progress(i)`` every 10 s of them); the seconds it took."""
    import time

    started = time.perf_counter()
    for i, (key, value, topic) in enumerate(events):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
        if progress is not None and i and i % (rate * 10) == 0:
            progress(i)
    producer.flush(30)
    return time.perf_counter() - started


def process_status(pid: int | str) -> dict[str, str]:
    """The fields of /proc/<pid>/status (raises OSError once the process is gone)."""
    with open(f"/proc/{pid}/status") as status:
        return {name: value.strip() for name, value in (line.split(":", 1) for line in status)}


def status_mib(status: dict[str, str], field: str) -> int:
    """A memory field of ``process_status`` (VmRSS, VmHWM: "1234 kB") in MiB."""
    return round(int(status[field].split()[0]) / 1024)


def processes():
    """(pid, command line as bytes with NUL separators) of every running process, from /proc."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield entry.name, (entry / "cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue


def cpu_seconds_by_process(markers: dict[str, bytes]) -> dict[str, float]:
    """CPU seconds (user + system) so far of each running process whose command line contains a
    marker, summed per marker's name: take two and subtract to see who used the cores meanwhile."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(markers, 0.0)
    for pid, command in processes():
        name = next((name for name, marker in markers.items() if marker in command), None)
        if name is None:
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        totals[name] += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return totals
