"""The ``creditstream`` command. Heavy modules are imported by the command that needs them, so
``creditstream --help`` and the small commands start fast."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from creditstream.schemas.months import parse_month
from creditstream.settings import Settings, SettingsError, credential_env, hide_url_password


def month_arg(text: str) -> int:
    try:
        return parse_month(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def date_arg(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def instant_arg(text: str):
    import datetime as dt

    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant") from None
    if stamp.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +08:00)")
    return stamp


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="creditstream",
        description="Streaming platform for SME credit-information sharing. Settings come from "
        "CREDITSTREAM_* environment variables; flags override them.",
    )
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (CREDITSTREAM_BOOTSTRAP_SERVERS)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data_commands(sub)
    add_service_commands(sub)
    for kind in ("lenders", "enterprises", "operators", "providers"):
        add_key_commands(sub, kind)
    add_kafka_commands(sub)
    add_province_commands(sub)
    show = sub.add_parser("settings", help="every setting: its environment variable, value and meaning")
    show.set_defaults(run=cmd_settings)

    demo = sub.add_parser("demo", help="run the whole platform locally (broker, topics, worker, simulated providers)")
    demo.add_argument("--enterprises", type=int, default=200)
    demo.add_argument("--months", type=int, default=24)
    demo.add_argument("--province", action="store_true",
                      help="also a provincial node: a second broker, MirrorMaker 2 and the provincial worker and API")
    demo.set_defaults(run=cmd_demo)
    return parser


def add_data_commands(sub) -> None:
    """topics, publish, simulate, replay: getting provider data in (and computing rows offline)."""
    topics = sub.add_parser("topics", help="manage Kafka topics")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    create = topics_sub.add_parser("create", help="create every contract and platform topic (idempotent)")
    create.add_argument("--partitions", type=int, help="partitions per topic (CREDITSTREAM_PARTITIONS)")
    create.add_argument("--replication-factor", type=int, help="(CREDITSTREAM_REPLICATION_FACTOR)")
    create.set_defaults(run=cmd_topics_create)

    publish = sub.add_parser("publish", help="publish a JSON Lines or CSV provider export to Kafka")
    publish.add_argument("--topic", help="target topic; required for CSV, checked against each JSON line")
    publish.add_argument("file", type=Path)
    publish.set_defaults(run=cmd_publish)

    simulate = sub.add_parser("simulate", help="realistic, deterministic provider traffic")
    simulate.add_argument("--enterprises", type=int, default=100)
    simulate.add_argument("--months", type=int, default=24)
    simulate.add_argument("--end-month", type=month_arg, help="last billing month, YYYY-MM (default: last complete month)")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--invalid-share", type=float, default=0.01, help="share of invalid records (0..1)")
    simulate.add_argument("--finance", action="store_true",
                          help="with --kafka: also six months of the loan loop (products, applications, loans, "
                               "reports, claims) on the finance topics, as the platform would write them")
    target = simulate.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write JSON Lines (the replay format) to this file")
    target.add_argument("--kafka", action="store_true", help="publish straight to Kafka")
    simulate.set_defaults(run=cmd_simulate)

    replay = sub.add_parser("replay", help="aggregates from a JSON Lines file, as the stream computes them")
    replay.add_argument("--as-of", type=month_arg, required=True, help="as-of month YYYY-MM")
    replay.add_argument("--as-of-date", type=date_arg,
                        help="reference date YYYY-MM-DD of the registers (default: the last day of the as-of month)")
    replay.add_argument("--now", type=instant_arg,
                        help="the time of processing for FUTURE_TIMESTAMP (ISO 8601 with zone; default: now)")
    replay.add_argument("file")
    replay.set_defaults(run=cmd_replay)


def add_service_commands(sub) -> None:
    """worker, sink, sql, api, gateway: the platform's processes."""
    worker = sub.add_parser("worker", help="run the stream processor (Faust worker)")
    worker.add_argument("--as-of", help="pin the as-of month YYYY-MM (CREDITSTREAM_AS_OF)")
    worker.add_argument("--web-port", type=int, help="HTTP port for /metrics (CREDITSTREAM_WEB_PORT)")
    worker.set_defaults(run=cmd_worker)
    sink = sub.add_parser("sink", help="run the ClickHouse sink service (the worker starts it; with embedded "
                                       "ClickHouse, its query endpoint serves the API process)")
    # started by a worker: the service writes the ports it bound (port 0: the kernel's choice) to this pipe
    sink.add_argument("--ports-fd", type=int, help=argparse.SUPPRESS)
    sink.set_defaults(run=cmd_sink)
    sql = sub.add_parser("sql", help="run a read-only SQL query on ClickHouse and print JSON lines "
                                     "(embedded ClickHouse: only while no worker holds it)")
    sql.add_argument("query")
    sql.set_defaults(run=cmd_sql)

    api = sub.add_parser("api", help="run the lender API alone (with a ClickHouse server URL)")
    api.add_argument("--port", type=int, help="(CREDITSTREAM_API_PORT)")
    api.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)  # started by a worker
    api.set_defaults(run=cmd_api)

    gateway = sub.add_parser("gateway", help="run the provider push gateway alone (POST /v1/providers/events and "
                                              "/files) on its own address, as its own Kafka principal")
    gateway.add_argument("--port", type=int, help="(CREDITSTREAM_GATEWAY_PORT)")
    gateway.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)  # started by the demo
    gateway.set_defaults(run=cmd_gateway)


def add_key_commands(sub, kind: str) -> None:
    """lenders, enterprises, operators, providers: principals and their API keys."""
    principal_kind = kind[:-1]
    keys = sub.add_parser(kind, help=f"{kind} and their API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    if kind == "providers":
        add = keys_sub.add_parser("add", help="a key for a data provider, named by its provider_id, printed once")
        add.add_argument("principal", metavar="PROVIDER_ID", help="as its records carry it, e.g. heihe-water")
        add.add_argument("--topics", default="", help="comma-separated provider topics it may push to through "
                                                      "the HTTP gateway, e.g. credit.utility.water.v1")
        more = keys_sub.add_parser("add-key", help="another key for a provider")
        more.add_argument("principal", metavar="PROVIDER_ID")
        more.set_defaults(run=cmd_key_add_more, principal_kind=principal_kind)
    elif kind in ("lenders", "operators"):
        add = keys_sub.add_parser("add", help=f"register a new {principal_kind} (a new id) and print its first "
                                              "key once")
        add.add_argument("principal", metavar="NAME", help=f"the {principal_kind}'s name, e.g. a bank branch")
        more = keys_sub.add_parser("add-key", help=f"another key for an existing {principal_kind} (for a lender: "
                                                   "it shares its consents)")
        more.add_argument("principal", metavar="ID")
        more.set_defaults(run=cmd_key_add_more, principal_kind=principal_kind)
    else:
        add = keys_sub.add_parser("add", help="issue a new API key for an enterprise and print it once")
        add.add_argument("principal", metavar="USCC")
    add.set_defaults(run=cmd_key_add, principal_kind=principal_kind)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its key id (not the key itself)" + (
        "; --provider ID: every key of the provider, and its Kafka credential and ACLs" if kind == "providers"
        else ""))
    revoke.add_argument("key_id", metavar="KEY_ID", nargs="?" if kind == "providers" else None)
    if kind == "providers":
        revoke.add_argument("--provider", metavar="PROVIDER_ID", help="revoke everything of this provider")
    revoke.set_defaults(run=cmd_key_revoke, principal_kind=principal_kind)
    listing = keys_sub.add_parser("list", help=f"{kind} and their key ids (never the keys)")
    listing.set_defaults(run=cmd_key_list, principal_kind=principal_kind)


def add_kafka_commands(sub) -> None:
    """kafka setup, kafka acls: Kafka principals and their ACLs."""
    kafka = sub.add_parser("kafka", help="Kafka principals and their ACLs (as the broker's administrator)")
    kafka_sub = kafka.add_subparsers(dest="kafka_command", required=True, metavar="ACTION")
    setup = kafka_sub.add_parser("setup", help="make (or renew) the worker, sink, api, gateway and operator principals of "
                                               "CREDITSTREAM_APP_ID with their ACLs; print their passwords once")
    setup.add_argument("--app-id-prefix", action="store_true",
                       help="grant every app id that begins with CREDITSTREAM_APP_ID (blue/green deployments)")
    setup.add_argument("--simulator", action="store_true",
                       help="also a provider principal `provider-simulator` that may write every provider topic and "
                            "the loan loop's topics (simulate --finance)")
    setup.add_argument("--env-dir", type=Path, help="write <service>.env files (mode 600) there instead of printing "
                                                    "the passwords (docker-compose's services source them)")
    setup.set_defaults(run=cmd_kafka_setup)
    acls = kafka_sub.add_parser("acls", help="the ACLs of a principal")
    acls.add_argument("user", metavar="USER", help="e.g. creditstream-worker or provider-heihe-water")
    acls.set_defaults(run=cmd_kafka_acls)


def add_province_commands(sub) -> None:
    """province admit | mirror-user | mirror: the city node's link to the provincial node."""
    province = sub.add_parser("province", help="the link to the provincial node (docs/provincial-node.md)")
    province_sub = province.add_subparsers(dest="province_command", required=True, metavar="ACTION")
    admit = province_sub.add_parser("admit", help="at the province, as its administrator: a principal for city CITY "
                                                  "that may write only topics and groups under CITY.; password once")
    admit.add_argument("city", metavar="CITY", help="the city's alias, e.g. heihe")
    admit.set_defaults(run=cmd_province_admit)
    user = province_sub.add_parser("mirror-user", help="at the city, as its administrator: the principal MirrorMaker 2 "
                                                       "reads the city as (the outbound topics only); password once")
    user.set_defaults(run=cmd_province_mirror_user)
    mirror = province_sub.add_parser("mirror", help="run MirrorMaker 2 from this city to the province, with the "
                                                    "replication lag on /metrics (CREDITSTREAM_MIRROR_METRICS_PORT)")
    mirror.set_defaults(run=cmd_province_mirror)


def cmd_province_admit(args, settings: Settings) -> int:
    from creditstream.kafka_access import mirror_target_grants
    from creditstream.kafka_admin import make_principal
    from creditstream.schemas.topics import NODE_ALIAS

    if not NODE_ALIAS.fullmatch(args.city):
        print(f"creditstream province admit: {args.city!r} is not a city alias (lower-case letters and digits, 2-31, "
              "beginning with a letter)", file=sys.stderr)
        return 2
    user = f"city-{args.city}"
    password = make_principal(settings.kafka, user, mirror_target_grants(args.city))
    print(f"# the city {args.city} at this provincial cluster (topics and groups under {args.city}.); shown once\n"
          f"CREDITSTREAM_PROVINCE_KAFKA_USERNAME={user}\nCREDITSTREAM_PROVINCE_KAFKA_PASSWORD={password}")
    return 0


def cmd_province_mirror_user(args, settings: Settings) -> int:
    from creditstream.kafka_access import mirror_source_grants
    from creditstream.kafka_admin import make_principal
    from creditstream.province import MIRROR_USER

    password = make_principal(settings.kafka, MIRROR_USER, mirror_source_grants())
    print(f"# MirrorMaker 2 reading this city (the outbound topics only); shown once: give it to "
          f"`creditstream province mirror`\nCREDITSTREAM_KAFKA_USERNAME={MIRROR_USER}\n"
          f"CREDITSTREAM_KAFKA_PASSWORD={password}")
    return 0


def cmd_province_mirror(args, settings: Settings) -> int:
    from creditstream.runtime import run_mirror

    return run_mirror(settings)


def cmd_settings(args, settings: Settings) -> int:
    current = settings.to_env()
    for variable, default, doc in Settings.describe():
        value = current.get(variable, "")
        if (variable.endswith(("_KEY", "_TOKEN", "_PASSWORD")) or value.startswith("sinkservice://")) and value:
            value = "*** (set)"
        value = hide_url_password(value)
        print(f"{variable}={value}\n    {doc} (default: {default})")
    return 0


def cmd_sql(args, settings: Settings) -> int:
    """Read-only SQL: straight to ClickHouse, or, with an operator key, through the running API
    (the way into an embedded ClickHouse that the worker's sink service holds)."""
    import json

    if settings.operator_key:
        from creditstream.runtime import sql_through_api

        try:
            columns, rows = sql_through_api(settings, args.query)
        except RuntimeError as exc:
            print(f"creditstream sql: {exc}", file=sys.stderr)
            return 2
        for row in rows:
            print(json.dumps(dict(zip(columns, row)), default=str, ensure_ascii=False))
        return 0
    from creditstream.sinks.clickhouse import connect

    try:
        result = connect(settings.clickhouse_url).query(args.query, settings={"readonly": 1})
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = (" (while the platform runs, its embedded ClickHouse is best read through the API: set "
                "CREDITSTREAM_OPERATOR_KEY to a key from `creditstream operators add NAME`)"
                if settings.clickhouse_url.startswith("chdb:") else "")
        print(f"creditstream sql: {first}{hint}", file=sys.stderr)
        return 2
    for row in result.named_results():
        print(json.dumps(row, default=str, ensure_ascii=False))
    return 0


def cmd_api(args, settings: Settings) -> int:
    from creditstream.runtime import run_api

    if settings.clickhouse_url.startswith("chdb:"):
        print("creditstream api: embedded ClickHouse belongs to the worker's sink service, and the worker starts "
              "the API itself; set CREDITSTREAM_CLICKHOUSE_URL to a server to run the API alone", file=sys.stderr)
        return 2
    return run_api(settings.replace(api_port=args.port), exit_with_parent=args.exit_with_parent)


def cmd_gateway(args, settings: Settings) -> int:
    from creditstream.runtime import run_gateway

    return run_gateway(settings.replace(gateway_port=args.port), exit_with_parent=args.exit_with_parent)


def key_command(run):
    """A key command's refusals and Kafka trouble as one line on stderr and exit status 2."""
    def command(args, settings: Settings) -> int:
        from creditstream.apikeys import KeyRefused

        try:
            return run(args, settings)
        except (KeyRefused, TimeoutError, RuntimeError) as exc:
            print(f"creditstream {args.principal_kind}s {args.keys_command}: {exc}", file=sys.stderr)
            return 2
    return command


@key_command
def cmd_key_add(args, settings: Settings) -> int:
    from creditstream import apikeys
    from creditstream.schemas.uscc import normalise_uscc, uscc_problem

    if args.principal_kind in ("lender", "operator"):
        principal_id, key_id, key = apikeys.add_named(settings.kafka, args.principal_kind, args.principal)
        print(f"{args.principal_kind} id: {principal_id}")
    elif args.principal_kind == "provider":
        from creditstream.kafka_admin import setup_provider

        topics = tuple(t.strip() for t in args.topics.split(",") if t.strip())
        key_id, key = apikeys.add_provider(settings.kafka, args.principal, topics)
        print(f"may push to: {', '.join(topics) or 'no topic (answer disputes only)'}")
        if topics and settings.kafka.sasl:
            user, password = setup_provider(settings.kafka, args.principal, topics)
            print(f"Kafka ({settings.kafka_sasl_mechanism}, may write only those topics): user {user}\n"
                  f"Kafka password (shown once, store it now): {password}")
        elif topics:
            print("Kafka: no credential made (CREDITSTREAM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT: the broker checks no one)")
    else:
        uscc = normalise_uscc(args.principal)
        if uscc_problem(uscc):
            raise apikeys.KeyRefused(uscc_problem(uscc))
        key_id, key = apikeys.issue(settings.kafka, "enterprise", uscc)
    print(f"key id: {key_id}\nAPI key (shown once, store it now): {key}")
    print(apikeys.wait_until_live(settings, key))
    return 0


@key_command
def cmd_key_add_more(args, settings: Settings) -> int:
    from creditstream import apikeys

    key_id, key = apikeys.add_key(settings.kafka, args.principal_kind, args.principal)
    print(f"key id: {key_id}\nAPI key (shown once, store it now): {key}")
    print(apikeys.wait_until_live(settings, key))
    return 0


@key_command
def cmd_key_revoke(args, settings: Settings) -> int:
    from creditstream import apikeys

    if getattr(args, "provider", None):
        return revoke_provider(args.provider, settings)
    if not args.key_id:
        raise apikeys.KeyRefused("name a KEY_ID, or --provider PROVIDER_ID for everything of a provider")
    event = apikeys.revoke_key(settings.kafka, args.principal_kind, args.key_id)
    print(f"revoked key {args.key_id} of {args.principal_kind} {event.principal_id}")
    return 0


def revoke_provider(provider_id: str, settings: Settings) -> int:
    """Every active key of a provider, then its Kafka credential and ACLs: it can push nothing."""
    from creditstream import apikeys
    from creditstream.kafka_access import provider_user
    from creditstream.kafka_admin import remove_principal

    revoked = apikeys.revoke_provider(settings.kafka, provider_id)
    print(f"revoked {len(revoked)} key(s) of provider {provider_id}" + (f": {', '.join(revoked)}" if revoked else ""))
    if settings.kafka.sasl:
        had, acls = remove_principal(settings.kafka, provider_user(provider_id))
        print(f"Kafka user {provider_user(provider_id)}: {'credential deleted' if had else 'had no credential'}, "
              f"{acls} ACL(s) deleted")
    return 0


def cmd_kafka_setup(args, settings: Settings) -> int:
    from creditstream.kafka_admin import setup_provider, setup_services
    from creditstream.schemas.topics import FINANCE_TOPICS, PROVIDER_TOPICS

    made = setup_services(settings.kafka, settings.app_id, args.app_id_prefix, settings.cities())
    if args.simulator:
        # it plays every provider and, for `simulate --finance`, the platform's loan loop
        made["simulator"] = setup_provider(settings.kafka, "simulator", (*PROVIDER_TOPICS, *FINANCE_TOPICS))
    files = {  # which variables each process gets: the worker starts its sink, so it has both
        "worker": {**credential_env(*made["worker"]), **credential_env(*made["sink"], "sink")},
        **{name: credential_env(*made[name]) for name in ("api", "gateway", "operator", "simulator") if name in made}}
    if args.env_dir:
        args.env_dir.mkdir(parents=True, exist_ok=True)
        for name, variables in files.items():
            path = args.env_dir / f"{name}.env"
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text("".join(f"{variable}={value}\n" for variable, value in variables.items()))
            print(f"{path}: {', '.join(v for k, v in variables.items() if k.endswith('_USERNAME'))}")
        return 0
    print(f"# Kafka principals of app {settings.app_id}{'*' if args.app_id_prefix else ''}; passwords shown once. "
          "Give each process its own:")
    for name, variables in files.items():
        print(f"# {name}")
        for variable, value in variables.items():
            print(f"{variable}={value}")
    return 0


def cmd_kafka_acls(args, settings: Settings) -> int:
    from creditstream.kafka_admin import acls_of

    grants = acls_of(settings.kafka, args.user)
    for g in grants:
        print(f"ALLOW User:{args.user} {g.operation.upper()} {g.resource} {g.name}{'*' if g.pattern == 'prefixed' else ''}")
    if not grants:
        print(f"User:{args.user} has no ACL")
    return 0


@key_command
def cmd_key_list(args, settings: Settings) -> int:
    from creditstream import apikeys

    for event in apikeys.list_keys(settings.kafka, args.principal_kind):
        state = "revoked" if event.revoked else "active"
        name = f"  {event.name}" if event.name else ""
        topics = f"  may push to {','.join(event.topics)}" if event.topics else ""
        print(f"{event.principal_id}  {event.key_id}  {state:7}  {event.created_at:%Y-%m-%d %H:%M}{name}{topics}")
    return 0


def cmd_demo(args, settings: Settings) -> int:
    from creditstream.demo import run_demo

    return run_demo(settings, args.enterprises, args.months, args.province)


def cmd_topics_create(args, settings: Settings) -> int:
    from creditstream.kafka_admin import create_topics

    settings = settings.replace(partitions=args.partitions, replication_factor=args.replication_factor)
    for topic, outcome in create_topics(settings.kafka, settings.partitions, settings.replication_factor,
                                        dead_letter_retention_ms=settings.dead_letter_retention_ms,
                                        cities=settings.cities()).items():
        print(f"{topic}: {outcome}")
    print(f"dead letters are kept {settings.dead_letter_retention_days:g} days (CREDITSTREAM_DEAD_LETTER_RETENTION_DAYS)")
    return 0


def cmd_publish(args, settings: Settings) -> int:
    from creditstream.connectors.publish import publish_file

    try:
        result = publish_file(settings.kafka, args.file, args.topic)
    except (OSError, ValueError) as exc:
        print(f"creditstream publish: {exc}", file=sys.stderr)
        return 2
    print(f"read {result.read}, published {result.report.delivered}, rejected {len(result.rejected)}, "
          f"delivery failures {result.report.failed}")
    return 0 if result.ok else 1


def cmd_simulate(args, settings: Settings) -> int:
    import datetime as dt

    if args.finance and not args.kafka:
        print("creditstream: --finance goes with --kafka (the replay format carries provider records only)",
              file=sys.stderr)
        return 2
    from tqdm import tqdm

    from creditstream.connectors.simulate import Simulator, event_bytes, event_line
    from creditstream.schemas.months import live_as_of_month

    end = args.end_month if args.end_month is not None else live_as_of_month()
    sim = Simulator(args.enterprises, args.months, end, seed=args.seed, invalid_share=args.invalid_share,
                    now=dt.datetime.now(dt.timezone.utc))
    events = tqdm(sim.events(), desc="simulate", unit="ev", file=sys.stderr, disable=None)
    if args.out:
        with args.out.open("w", encoding="utf-8") as fh:
            count = sum(1 for e in events if fh.write(event_line(e) + "\n"))
        print(f"wrote {count} events to {args.out}")
        return 0
    from creditstream.connectors.kafka_producer import DeliveryReport, produce, provider_producer, settle
    from creditstream.schemas.codec import default_codec

    codec, report = default_codec(), DeliveryReport()
    producer = provider_producer(settings.kafka, report)
    count = 0
    for event in events:
        if report.refused:
            break
        key, value = event_bytes(codec, event)
        produce(producer, report, event.topic, key, value)
        producer.poll(0)
        count += 1
    if args.finance and not report.refused:
        firms = Simulator(args.enterprises, args.months, end, seed=args.seed).firms()  # the same firms, afresh
        count += send_finance(firms, args.seed, codec, producer, report, settings)
    settle(producer, report)
    for error in report.errors:
        print(f"delivery failed: {error}", file=sys.stderr)
    print(f"sent {count} events, delivered {report.delivered}, failed {report.failed}")
    return 0 if report.failed == 0 else 1


def send_finance(firms: list[dict], seed: int, codec, producer, report, settings: Settings) -> int:
    """The loan loop's simulated history (connectors/simulate_finance.py), after the providers'."""
    import datetime as dt

    from creditstream.connectors.kafka_producer import produce
    from creditstream.connectors.simulate_finance import FinanceTraffic
    from creditstream.schemas.records import record_from_json
    from creditstream.schemas.topics import FINANCE_TOPIC_OF
    from creditstream.schemas.uscc import normalise_uscc

    firms = [{**firm, "uscc": normalise_uscc(firm["uscc"])} for firm in firms]
    traffic = FinanceTraffic(firms, dt.datetime.now(dt.timezone.utc), seed=seed, holidays=settings.holiday_dates())
    count = 0
    for record, key, change in traffic.changes():
        value = codec.encode(record, record_from_json(codec.current(record).raw, change))
        produce(producer, report, FINANCE_TOPIC_OF[record], key.encode(), value)
        producer.poll(0)
        count += 1
    print(f"loan loop: {count} changes", file=sys.stderr)
    return count


def cmd_replay(args, settings: Settings) -> int:
    import datetime as dt

    from creditstream.streams.replay import replay

    try:
        return replay(args.file, args.as_of, args.as_of_date, now=args.now,
                      skew=dt.timedelta(seconds=settings.future_skew_seconds))
    except OSError as exc:
        print(f"creditstream replay: {exc}", file=sys.stderr)
        return 2


def cmd_worker(args, settings: Settings) -> int:
    from creditstream.runtime import run_worker

    return run_worker(settings.replace(as_of=args.as_of, web_port=args.web_port))


def cmd_sink(args, settings: Settings) -> int:
    from creditstream.runtime import run_sink_service

    return run_sink_service(settings, ports_fd=args.ports_fd)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(bootstrap_servers=args.bootstrap_servers)
        if args.command == "worker":
            settings = settings.replace(as_of=args.as_of, web_port=args.web_port)  # checked here, not mid-start
    except SettingsError as exc:
        print(f"creditstream: {exc}", file=sys.stderr)
        return 2
    from creditstream.kafka_admin import KafkaRefused
    from creditstream.schemas.kafka import KafkaCredentialsMissing

    try:
        return args.run(args, settings)
    except (KafkaCredentialsMissing, KafkaRefused) as exc:
        print(f"creditstream {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
