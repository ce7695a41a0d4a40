"""Monitoring artefacts: alert rules (promtool), the compose file (docker-compose config), the
Grafana dashboard, and metric naming. promtool and docker-compose come from Debian's packages
(.ci/run installs them); without them these tests fail rather than skip."""
import json
import os
import re
import shutil
import subprocess

import yaml
from prometheus_client import REGISTRY

from creditstream.monitoring.metrics import SERVICE  # importing registers every metric
from tests.support.kafka import ROOT

MONITORING = ROOT / "monitoring"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: install Debian's {'prometheus' if name == 'promtool' else name} package"
    return path


def test_alert_rules_are_valid():
    result = subprocess.run([tool("promtool"), "check", "rules", "alerts.yml"], cwd=MONITORING,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 19 rules found" in result.stdout


def test_alert_rule_unit_tests_pass():
    result = subprocess.run([tool("promtool"), "test", "rules", "alerts.test.yml"], cwd=MONITORING,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_can_fail(tmp_path):
    """A rule that never fires must make the unit tests fail: the check above is not vacuous."""
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        rule["expr"] = "vector(0) > 1"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    shutil.copy(MONITORING / "alerts.test.yml", tmp_path)
    result = subprocess.run([tool("promtool"), "test", "rules", "alerts.test.yml"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode != 0


COMPOSE_SECRETS = ("CREDITSTREAM_PERSONAL_DATA_KEY", "KAFKA_ADMIN_PASSWORD", "KAFKA_CONTROLLER_PASSWORD")


def test_compose_file_is_valid_and_complete():
    compose = [tool("docker-compose"), "config"]
    secrets = {name: "k" * 64 for name in COMPOSE_SECRETS}
    for missing in COMPOSE_SECRETS:  # no secret, no stack
        env = {**{k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}, **secrets}
        del env[missing]
        refused = subprocess.run(compose, cwd=ROOT, capture_output=True, text=True, env=env)
        assert refused.returncode != 0 and missing in refused.stderr, missing
    result = subprocess.run(compose, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **secrets})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    # Kafka is secured, and each service connects as its own principal: only the one-shot setup
    # holds the administrator's password; the others source their own credential file
    services = config["services"]
    assert "StandardAuthorizer" in (ROOT / "broker" / "compose-kafka.sh").read_text()
    holders = {name for name, s in services.items() if "KAFKA_ADMIN_PASSWORD" in str(s.get("environment", {}))
               or "admin" == (s.get("environment") or {}).get("CREDITSTREAM_KAFKA_USERNAME")}
    assert holders == {"kafka", "kafka-setup", "province-kafka", "province-setup"}  # each cluster's own
    for name, own in (("worker", "worker"), ("api", "api"), ("gateway", "gateway"), ("simulator", "simulator"),
                      ("mirror", "mirror")):
        assert f"/run/creditstream-kafka/{own}.env" in " ".join(services[name]["command"]), name
    # the provincial node (profile "province"): its own cluster and credentials; the mirror holds
    # the city's read-only mirror principal and the city's principal at the province, nothing more
    assert "/run/creditstream-province/worker.env" in " ".join(services["province-worker"]["command"])
    assert "/run/creditstream-province/city-heihe.env" in " ".join(services["mirror"]["command"])
    assert services["province-worker"]["environment"]["CREDITSTREAM_PROVINCE_CITIES"] == "heihe"
    assert set(config["services"]) >= {"kafka", "clickhouse", "worker", "api", "simulator", "prometheus", "grafana"}
    for name in ("kafka", "clickhouse", "worker", "api", "prometheus", "grafana"):
        assert "healthcheck" in config["services"][name], name
    assert set(config["volumes"]) >= {"kafka-data", "clickhouse-data", "prometheus-data", "grafana-data"}


def defined_metrics() -> set[str]:
    names = set()
    for metric in [*REGISTRY.collect(), *SERVICE.collect()]:
        for sample in metric.samples:
            names.add(sample.name)
    return names


def test_metric_names_follow_prometheus_conventions():
    creditstream = [m for m in [*REGISTRY.collect(), *SERVICE.collect()] if m.name.startswith("creditstream")]
    assert len(creditstream) >= 15
    for metric in creditstream:
        assert re.fullmatch(r"creditstream_[a-z_]+", metric.name), metric.name
        if metric.type == "counter":
            assert any(s.name == metric.name + "_total" for s in metric.samples) or not metric.samples
    from creditstream.monitoring import metrics as m
    for value in vars(m).values():
        labels = getattr(value, "_labelnames", ())
        assert not {"uscc", "enterprise", "account_no"} & set(labels)


def test_dashboard_and_alerts_only_use_defined_metrics():
    from creditstream.monitoring import metrics as m
    known = {v._name for v in vars(m).values() if hasattr(v, "_name")}
    suffixes = ("_total", "_bucket", "_count", "_sum", "_created")
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "creditstream.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [r["expr"] for g in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    used = {name for e in exprs for name in re.findall(r"creditstream_[a-z_]+", e)}
    assert used
    for name in used:
        base = next((name[: -len(s)] for s in suffixes if name.endswith(s) and name[: -len(s)] in known), name)
        assert base in known, f"{name} is not a metric of monitoring/metrics.py"


def test_the_compose_broker_is_secured_like_the_local_one():
    """broker/compose-kafka.sh repeats broker/kafka.sh's security properties for the apache/kafka
    image (other listeners, passwords from the environment): the two must not drift apart."""
    keys = ("sasl.enabled.mechanisms", "sasl.mechanism.inter.broker.protocol", "sasl.mechanism.controller.protocol",
            "listener.name.controller.sasl.enabled.mechanisms", "authorizer.class.name",
            "allow.everyone.if.no.acl.found", "super.users")

    def settings(name):
        lines = (ROOT / "broker" / name).read_text().splitlines()
        return {key: next(line for line in lines if line.startswith(key + "=")) for key in keys}

    assert settings("compose-kafka.sh") == settings("kafka.sh")
