"""The local Kafka broker for runs and tests without Docker: Apache Kafka (KRaft, one node) from
Maven Central jars, driven by ``kafka.sh fetch|start|stop|status``. Installed with the package,
so ``creditstream demo`` can fetch and start it from a wheel as well as from a checkout."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "kafka.sh"


def run(action: str, home: Path | None = None, check: bool = True, plaintext: bool = False,
        ports: tuple[int, int] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``kafka.sh <action>``; with ``home``, the broker's data (and pid file) go to ``home``, whatever
    KAFKA_HOME_DIR says (it may name another broker: the demo must never start or stop that one),
    and its jars to home/lib rather than beside the script (an installed package must not write
    into itself); KAFKA_LIB_DIR in the environment wins (scripts/demo reuses broker/lib).
    ``plaintext``: start it without authentication (the logged opt-out). ``ports``: (client,
    controller) of a second broker (the demo's provincial cluster)."""
    env = dict(os.environ)
    if ports is not None:
        env["KAFKA_PORT"], env["KAFKA_CONTROLLER_PORT"] = map(str, ports)
    if plaintext:
        env["KAFKA_SECURITY"] = "plaintext"
    if home is not None:
        env["KAFKA_HOME_DIR"] = str(home)
        env.setdefault("KAFKA_LIB_DIR", str(home / "lib"))
    return subprocess.run(["bash", str(SCRIPT), action], env=env, check=check, **kwargs)


def admin_credential(home: Path) -> tuple[str, str]:
    """(user, password) of the broker's bootstrap administrator, from ``home``'s admin.credentials
    (``kafka.sh`` writes it, mode 600, before it formats the log dir)."""
    env = {**os.environ, "KAFKA_HOME_DIR": str(home)}
    path = Path(subprocess.run(["bash", str(SCRIPT), "admin"], env=env, check=True, capture_output=True,
                               text=True).stdout.strip())
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return values["username"], values["password"]
