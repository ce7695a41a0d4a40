"""``creditstream demo``: the whole platform on this machine, no Docker.

Starts the local Kafka broker unless one answers at the configured address (fetching its jars
from Maven Central on first use), creates the topics, runs the worker (Faust agents, ClickHouse
sink and lender API on embedded ClickHouse), streams simulated providers into Kafka, issues a
demo lender key with one enterprise's consent, and prints where to look. Ctrl-C (or SIGTERM)
stops everything it started. Works from a checkout or an installed wheel alike: everything it
writes goes under the data directory (``CREDITSTREAM_HOME``), never into the installed code.
"""
from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from confluent_kafka import Producer

from creditstream import broker
from creditstream.kafka_admin import broker_answers, group_caught_up, group_lag, setup_provider, setup_services
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.models import SCOPES
from creditstream.schemas.topics import (
    AGGREGATES_TOPIC,
    FINANCE_TOPICS,
    PROVIDER_TOPICS,
    REGISTER_CATEGORIES,
    TOPIC_OF,
    UTILITY_TOPICS,
)
from creditstream.schemas.uscc import normalise_uscc
from creditstream.settings import Settings, connection_env

DEMO_LENDER = "demo-lender"
DEMO_PROVIDER = "demo-water"  # a provider key for the HTTP gateway


def grant_demo_consent(settings: Settings, uscc: str, name: str) -> None:
    from creditstream.schemas.codec import default_codec

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    value = {"event_id": f"demo-consent-{int(now.timestamp())}", "provider_id": "credit-platform", "uscc": uscc,
             "enterprise_name": name, "occurred_at": now, "lender_id": DEMO_LENDER, "scopes": list(SCOPES),
             "granted_at": now - dt.timedelta(minutes=1), "expires_at": now + dt.timedelta(days=365),
             "revoked": False}
    producer = Producer(settings.kafka.producer())
    producer.produce(TOPIC_OF["ConsentGrant"], key=uscc.encode(), value=default_codec().encode("ConsentGrant", value))
    if producer.flush(30):
        raise RuntimeError("could not publish the demo consent")


def issue_demo_report(api: str, uscc: str, key: str) -> dict:
    """A standardised credit report on the demo firm for the demo lender (its links are printed)."""
    request = urllib.request.Request(f"{api}/v1/enterprises/{uscc}/reports", data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "demo-report"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def demo_principals(settings: Settings) -> tuple[Settings, Settings, KafkaConnection]:
    """Each process its own Kafka principal, made by the administrator: the worker's settings (its
    sink's and API's principals included), the gateway's, and the simulated providers' connection
    (one provider for all their topics). Without security, everyone is the same anonymous client."""
    if not settings.kafka.sasl:
        return settings, settings, settings.kafka
    made = setup_services(settings.kafka, settings.app_id)
    # the simulator plays the providers and, for the loan loop's history, the platform
    simulator = settings.kafka.as_user(*setup_provider(settings.kafka, "demo-simulator",
                                                       (*PROVIDER_TOPICS, *FINANCE_TOPICS)))
    print(f"demo: Kafka principals ready ({', '.join(user for user, _ in made.values())}, {simulator.username})",
          flush=True)
    services = settings.replace(kafka_username=made["worker"][0], kafka_password=made["worker"][1],
                                sink_kafka_username=made["sink"][0], sink_kafka_password=made["sink"][1],
                                api_kafka_username=made["api"][0], api_kafka_password=made["api"][1])
    gateway = settings.replace(kafka_username=made["gateway"][0], kafka_password=made["gateway"][1])
    return services, gateway, simulator


def kafka_security(settings: Settings, broker_home: Path) -> str:
    if not settings.kafka.sasl:
        return "NO AUTHENTICATION (CREDITSTREAM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT)"
    where = broker_home / "admin.credentials"
    admin = f"administrator credential in {where}" if where.exists() else f"administrator {settings.kafka_username}"
    return f"{settings.kafka_security_protocol} {settings.kafka_sasl_mechanism}; {admin}"


def demo_broker_pid(broker_home: Path) -> int | None:
    """The pid of a broker the demo started in ``broker_home`` that is still running, else None."""
    try:
        pid = int((broker_home / "broker.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def demo_key(path: Path) -> str:
    """The demo's personal-data key: made once, kept beside its data (owner-only), so identity-number
    hashes stay comparable across demo runs. A real deployment sets CREDITSTREAM_PERSONAL_DATA_KEY."""
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def caught_up(settings: Settings) -> bool:
    """The worker has acknowledged every provider event (its rows are published before that) and
    the sink has stored every row: a look-up now shows the final row."""
    return (group_caught_up(settings.kafka, settings.app_id, PROVIDER_TOPICS)
            and group_caught_up(settings.kafka, settings.sink().group_id, [AGGREGATES_TOPIC]))


def progress(settings: Settings) -> str:
    worker = group_lag(settings.kafka, settings.app_id, PROVIDER_TOPICS)
    sink = group_lag(settings.kafka, settings.sink().group_id, [AGGREGATES_TOPIC])
    shown = [f"worker {'?' if worker is None else f'{worker:,}'} events behind",
             f"sink {'?' if sink is None else f'{sink:,}'} rows behind"]
    return ", ".join(shown)


def free_port(host: str) -> int:
    """A port for Prometheus, which must be told one: should something take it first, Prometheus
    alone fails to start (its log says so) and the rest of the demo runs on."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_prometheus(settings: Settings, home: Path) -> tuple[subprocess.Popen | None, str]:
    """Debian's prometheus, when installed: on loopback, scraping the worker (its page includes the
    sink service's series) and the API, with the alert rules loaded."""
    binary = shutil.which("prometheus")
    if binary is None:
        return None, "not started (install Debian's `prometheus` to get one)"
    rules = Path(str(importlib.resources.files("creditstream.monitoring") / "alerts.yml"))
    port = free_port(settings.web_host)
    folder = home / "demo" / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    jobs = {"creditstream-worker": settings.web_port, "creditstream-api": settings.api_metrics_port,
            "creditstream-gateway": settings.gateway_metrics_port}  # the API's and gateway's metrics ports
    config.write_text(
        "global: {scrape_interval: 5s, evaluation_interval: 5s}\n"
        f"rule_files: ['{rules}']\n"
        "scrape_configs:\n" + "".join(
            f"  - job_name: {job}\n    static_configs: [{{targets: ['{settings.web_host}:{metrics_port}']}}]\n"
            for job, metrics_port in jobs.items()))
    with (folder / "prometheus.log").open("ab") as log:
        process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                                    f"--web.listen-address={settings.web_host}:{port}"], stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return process, f"http://{settings.web_host}:{port}   (alert rules loaded; log {folder / 'prometheus.log'})"


def wait_for_lookup(url: str, key: str, settings: Settings, timeout: float, worker: subprocess.Popen,
                    log_path: Path) -> dict:
    """The answer under the demo consent once the platform has caught up (before the consent
    arrives a lender already gets the public fields; before the worker has caught up, an older
    row)."""
    deadline = time.monotonic() + timeout
    last_progress = time.monotonic()
    while time.monotonic() < deadline and worker.poll() is None:
        if time.monotonic() - last_progress >= 5:
            last_progress = time.monotonic()
            print(f"demo: waiting for the platform to catch up: {progress(settings)}", flush=True)
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                body = json.loads(response.read())
            if set(body["consented_scopes"]) == set(SCOPES) and caught_up(settings):
                with urllib.request.urlopen(request, timeout=5) as response:
                    return json.loads(response.read())
        except (urllib.error.HTTPError, OSError):
            pass
        time.sleep(1)
    if worker.poll() is not None:
        raise RuntimeError(f"the worker exited with status {worker.returncode}; its log: {log_path}")
    raise RuntimeError(f"the platform did not catch up and answer {url} in {timeout:.0f} s (worker log: {log_path})")


def command_name() -> str:
    """How to run ``creditstream`` from a shell as printed: the bare name if that is this
    installation's, else the path of this environment's script (a checkout's ``.venv/bin``)."""
    here = Path(sys.executable).parent / "creditstream"
    on_path = shutil.which("creditstream")
    if on_path and Path(on_path).resolve() == here.resolve():
        return "creditstream"
    if here.exists():
        try:
            return str(here.relative_to(Path.cwd()))
        except ValueError:
            return str(here)
    return f"{sys.executable} -m creditstream.cli"


def summary(settings: Settings, api: str, key: str, url: str, row: dict, report: dict, enterprise_key: str,
            operator_key: str, provider_key: str, prometheus_at: str, broker_home: Path) -> str:
    """What the demo prints once everything runs: where each part is and a command that works for each."""
    uscc = row["uscc"]
    return (
        "\ncreditstream is running.\n"
        f"  web portal        {api}/portal/   (sign in with the lender, enterprise or operator key below)\n"
        f"  lender API        {api}   (OpenAPI: {api}/openapi.json)\n"
        f"  demo lender key   {key}\n"
        f"  example look-up   curl -H 'Authorization: Bearer {key}' {url}\n"
        f"                    → {row['uscc']} as of {row['as_of_month']} / {row['as_of_date']}: "
        f"water_avg_usage_3m={row['water_avg_usage_3m']}, vat_paid_12m={row['vat_paid_12m']},\n"
        f"                      env_grade={row['env_grade']}, licences_valid={row['licences_valid']}, "
        f"real_estate_rights_active={row['real_estate_rights_active']}, "
        f"high_tech_enterprise={row['high_tech_enterprise']}, agri={row['agri_operator_category']},\n"
        f"                      social_avg_employees_3m={row['social_avg_employees_3m']}, "
        f"housing_fund_paid_12m={row['housing_fund_paid_12m']}, trade_value_12m={row['trade_value_12m']},\n"
        f"                      customs_grade={row['customs_grade']}, patents_valid={row['patents_valid']}, "
        f"trademarks_valid={row['trademarks_valid']}, ip_pledges_active={row['ip_pledges_active']}, "
        f"awards_12m={row['awards_12m']},\n"
        f"                      court_dishonest={row['court_dishonest']}, "
        f"enforcement_cases_active={row['enforcement_cases_active']}\n"
        f"                      eval {row['eval_grade']} ({row['eval_score']}, red lines {row['eval_red_lines'] or 'none'}), "
        f"whitelisted={row['whitelisted']}\n"
        f"  its records       curl -H 'Authorization: Bearer {key}' {api}/v1/enterprises/{uscc}/records/penalties\n"
        f"                    (categories: {', '.join(REGISTER_CATEGORIES)})\n"
        f"  whitelist         curl -H 'Authorization: Bearer {key}' {api}/v1/whitelist\n"
        f"  its change feed   curl -H 'Authorization: Bearer {key}' '{api}/v1/whitelist/changes?limit=20'\n"
        f"                    (resume with &after=<next_cursor>; webhooks: POST {api}/v1/webhooks)\n"
        f"  a credit report   curl -H 'Authorization: Bearer {key}' {api}{report['links']['html']}   (page)\n"
        f"                    curl -H 'Authorization: Bearer {key}' -o report.pdf {api}{report['links']['pdf']}\n"
        f"  verify it         curl '{api}{report['links']['verify']}'   (no key needed)\n"
        f"  the enterprise    key {enterprise_key}\n"
        f"                    curl -H 'Authorization: Bearer {enterprise_key}' {api}/v1/me   (everything held, free;\n"
        f"                    consents, disputes, repair: README, \"An enterprise's day\")\n"
        f"  operator key      {operator_key}\n"
        f"  the loan loop     curl -H 'Authorization: Bearer {operator_key}' {api}/v1/finance/statistics   (信易贷: "
        f"six months simulated;\n"
        f"                    products {api}/v1/products, the centre's queue {api}/v1/finance/overdue; "
        f"docs/financing.md)\n"
        f"  provider gateway  http://{settings.gateway_host}:{settings.gateway_port}   (POST /v1/providers/events "
        f"or /v1/providers/files; docs/gateway.md)\n"
        f"  provider key      {provider_key}   ({DEMO_PROVIDER}: may push {UTILITY_TOPICS['water']})\n"
        f"  worker metrics    http://{settings.web_host}:{settings.web_port}/metrics\n"
        f"  API metrics       http://{settings.web_host}:{settings.api_metrics_port}/metrics   (not on the API's port)\n"
        f"  gateway metrics   http://{settings.web_host}:{settings.gateway_metrics_port}/metrics\n"
        f"  Prometheus        {prometheus_at}\n"
        f"  Kafka             {settings.bootstrap_servers}, {kafka_security(settings, broker_home)}\n"
        f"  ClickHouse        {settings.clickhouse_url} (owned by the worker process; read it through the API:)\n"
        f"                    CREDITSTREAM_OPERATOR_KEY={operator_key} {command_name()} sql "
        f"'SELECT route, status, count() FROM lookup_audit GROUP BY ALL'\n"
        "Press Ctrl-C to stop.\n")


def run_demo(settings: Settings, enterprises: int, months: int, province: bool = False) -> int:
    from creditstream import apikeys
    from creditstream.connectors.simulate import Simulator
    from creditstream.kafka_admin import create_topics
    from creditstream.schemas.months import format_month, live_as_of_month

    # a demo started from a script or in the background inherits SIGINT ignored: Ctrl-C (SIGINT)
    # and SIGTERM both stop everything it started
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    home = Path(settings.home)
    broker_home = (home / "kafka").resolve()
    started_broker, worker, gateway, prometheus, provincial = False, None, None, None, None
    try:
        if settings.kafka_security_protocol != "PLAINTEXT" and not settings.kafka_username:
            # the demo's own broker's administrator (the password is made before the broker is)
            user, password = broker.admin_credential(broker_home)
            settings = settings.replace(kafka_username=user, kafka_password=password)
        if broker_answers(settings.kafka):
            leftover = demo_broker_pid(broker_home)
            if leftover:  # an earlier demo's broker that outlived it: this demo owns it now, and stops it
                print(f"demo: reusing the demo broker an earlier run left running (pid {leftover}); it stops "
                      f"with this demo", flush=True)
                started_broker = True
        else:
            print(f"demo: no Kafka at {settings.bootstrap_servers}; starting the local broker in {broker_home}",
                  flush=True)
            # owned from the moment it is launched: a Ctrl-C while it starts must stop it too
            started_broker = True
            broker.run("start", home=broker_home, plaintext=settings.kafka_security_protocol == "PLAINTEXT")
        created = create_topics(settings.kafka, settings.partitions, settings.replication_factor,
                                dead_letter_retention_ms=settings.dead_letter_retention_ms)
        print(f"demo: topics ready ({sum(v == 'created' for v in created.values())} created)", flush=True)
        log_path = home / "demo" / "worker.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if not settings.personal_data_key:
            settings = settings.replace(personal_data_key=demo_key(home / "demo" / "personal-data.key"))
        services, gateway_settings, simulator = demo_principals(settings)
        with log_path.open("ab") as log:
            worker = subprocess.Popen([sys.executable, "-m", "creditstream.cli", "worker"],
                                      env={**os.environ, **services.to_env()},
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        print(f"demo: worker started (pid {worker.pid}, log {log_path})", flush=True)
        with (home / "demo" / "gateway.log").open("ab") as log:
            gateway = subprocess.Popen([sys.executable, "-m", "creditstream.cli", "gateway", "--exit-with-parent"],
                                       env={**os.environ, **gateway_settings.to_env()}, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        as_of = live_as_of_month()
        subprocess.run([sys.executable, "-m", "creditstream.cli", "simulate", "--kafka", "--finance", "--enterprises",
                        str(enterprises), "--months", str(months), "--end-month", format_month(as_of)], check=True,
                       env={**os.environ, **connection_env(simulator)})
        firm = Simulator(enterprises, months, as_of, seed=1).firms()[0]
        uscc = normalise_uscc(firm["uscc"])
        key_id, key = apikeys.issue(settings.kafka, "lender", DEMO_LENDER)
        grant_demo_consent(settings, uscc, firm["name"])
        api = f"http://{settings.api_host}:{settings.api_port}"
        url = f"{api}/v1/enterprises/{uscc}/aggregates"
        operator_key = apikeys.issue(settings.kafka, "operator", "demo-operator", "demo operator")[1]
        enterprise_key = apikeys.issue(settings.kafka, "enterprise", uscc)[1]
        provider_key = apikeys.issue(settings.kafka, "provider", DEMO_PROVIDER, DEMO_PROVIDER,
                                     (UTILITY_TOPICS["water"],))[1]
        row = wait_for_lookup(url, key, settings, 300, worker, log_path)
        report = issue_demo_report(api, uscc, key)
        prometheus, prometheus_at = start_prometheus(settings, home)
        print(summary(settings, api, key, url, row, report, enterprise_key, operator_key, provider_key,
                      prometheus_at, broker_home), flush=True)
        if province:
            from creditstream.demo_province import ProvinceDemo

            provincial = ProvinceDemo(settings, home)
            print(provincial.start(), flush=True)
        while worker.poll() is None:
            time.sleep(1)
        print(f"demo: worker exited with {worker.returncode}; see {log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: stopping", flush=True)
        return 0
    finally:
        if provincial is not None:
            provincial.stop()
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(30)
        if gateway is not None and gateway.poll() is None:
            gateway.terminate()
            gateway.wait(30)
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        if started_broker:
            broker.run("stop", home=broker_home, check=False)
