"""While something is down a process says each failure once per interval, with the count of the
repeats it held back (issue 27, item 19); progress lines pass as they are."""
import logging

from creditstream.logs import RepeatedLines


def record(message, *args, level=logging.ERROR, name="aiokafka.conn"):
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_a_repeated_failure_is_one_line_per_interval_with_the_count():
    now = [0.0]
    lines = RepeatedLines(interval=10, clock=lambda: now[0])
    shown = []
    for second in range(25):  # 70 lines a second for 25 seconds, each naming another port
        now[0] = float(second)
        for attempt in range(70):
            r = record("Unable connect to node with id %s: [Errno 111] Connect call failed ('127.0.0.1', %s)",
                       1, 19000 + attempt)
            if lines.filter(r):
                shown.append(r.getMessage())
    assert len(shown) == 3  # at 0 s, 10 s and 20 s
    assert shown[0].endswith("19000)") and shown[1].endswith("(and 699 more like it in the last 10 s)")
    assert lines.filter(record("another condition"))  # a different failure is its own line
    assert all(lines.filter(record("progress %d", n, level=logging.INFO)) for n in range(100))


def test_fetching_the_broker_prints_no_terminal_colour_codes(tmp_path):
    """Issue 27, item 26: Maven's ANSI codes leaked into the demo's output (the jars come from the
    local Maven repository here, so this is quick after the first fetch)."""
    import os
    import subprocess

    from tests.support.kafka import ROOT

    lib = tmp_path / "lib"
    result = subprocess.run([str(ROOT / "broker" / "kafka.sh"), "fetch"], capture_output=True, timeout=600,
                            env={**os.environ, "KAFKA_LIB_DIR": str(lib), "TERM": "xterm-256color"})
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"\x1b[" not in result.stdout + result.stderr
    assert (lib / ".complete").exists() and list(lib.glob("kafka_*.jar"))
