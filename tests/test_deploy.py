"""What can be checked here of the deployment files (no Docker engine on these machines)."""

import json
import re
from pathlib import Path

import yaml

from auth import metrics as auth_metrics
from kafka_events import metrics as kafka_metrics
from privacy import metrics as privacy_metrics
from restapi import metrics
from tests.helpers import BASE_DIR, YAMLLINT, yaml_problems
from userdata import metrics as userdata_metrics
from users import metrics as users_metrics

DEPLOY = BASE_DIR / "deploy"
METRIC_NAMES = {
    collector._name  # type: ignore[attr-defined]
    for module in [
        metrics,
        auth_metrics,
        users_metrics,
        userdata_metrics,
        privacy_metrics,
        kafka_metrics,
    ]
    for collector in vars(module).values()
    if hasattr(collector, "_name") and hasattr(collector, "_type")
} | {
    # What collectors read at scrape time.
    "restapi_outbox_pending",
    "restapi_outbox_oldest_pending_age_seconds",
    "restapi_erasures_pending",
    "restapi_erasures_overdue_seconds",
    "restapi_tls_certificate_expiry_timestamp_seconds",
    "restapi_jwt_signing_key_age_seconds",
}


def referenced_metrics(expression: str) -> set[str]:
    names = set(re.findall(r"\b((?:http|restapi)_[a-z_]+)", expression))
    return {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in names}


def known(name: str) -> bool:
    return (
        name in METRIC_NAMES
        or f"{name}_total" in METRIC_NAMES
        or name.removesuffix("_total") in METRIC_NAMES
    )


def test_every_yaml_file_lints():
    paths = [
        path
        for path in DEPLOY.rglob("*.y*ml")
        if not YAMLLINT.is_file_ignored(str(path.relative_to(BASE_DIR)))
    ]
    assert len(paths) == 8
    for path in paths:
        assert yaml.safe_load(path.read_text()), path
        assert yaml_problems(path.read_text()) == [], path


def test_alerts_and_dashboard_use_metrics_the_service_exports():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "restapi-dashboard.json").read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 15
    for expression in expressions:
        for name in referenced_metrics(expression):
            assert known(name), f"{name} in {expression!r} is not exported"


def test_image_runs_as_non_root_with_a_healthcheck_and_no_secrets():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^USER 10001$", dockerfile, re.MULTILINE)
    assert re.search(
        r'^HEALTHCHECK .* CMD \["python", "-m", "restapi.healthcheck"\]$', dockerfile, re.MULTILINE
    )
    assert "DEBUG=0" in dockerfile
    ignored = (BASE_DIR / ".dockerignore").read_text().split()
    assert {"certs/tls", "jwt/*.pem", ".venv", "var"} <= set(ignored)


def test_compose_names_only_settings_the_service_reads():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    settings_text = "".join(p.read_text() for p in Path(BASE_DIR / "restapi").rglob("*.py"))
    for name in compose["services"]["api"]["environment"]:
        assert name.startswith("AWS_") or f'"{name}"' in settings_text, name


def host_path(service: dict, container_path: str) -> Path | None:
    """Where a file a container reads comes from, through the service's bind mounts."""
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith(".") and (
            container_path == target or container_path.startswith(target.rstrip("/") + "/")
        ):
            return (DEPLOY / source / container_path.removeprefix(target).lstrip("/")).resolve()
    return None


def test_compose_hands_no_container_the_ca_key():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    ca_key = BASE_DIR / "certs" / "tls" / "ca" / "ca.key"
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                mounted = (DEPLOY / source).resolve()
                assert not ca_key.is_relative_to(mounted), (name, volume)


def test_compose_mounts_what_prometheus_and_grafana_read():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    token_file = host_path(services["prometheus"], job["authorization"]["credentials_file"])
    assert token_file is not None
    assert token_file.read_text().strip() == services["api"]["environment"]["METRICS_TOKEN"]
    ca_file = host_path(services["prometheus"], job["tls_config"]["ca_file"])
    assert ca_file == BASE_DIR / "certs" / "tls" / "api" / "api-ca.pem"
    for rules in config["rule_files"]:
        assert host_path(services["prometheus"], f"/etc/prometheus/{rules}").is_file()

    grafana = services["grafana"]
    provisioning = host_path(grafana, "/etc/grafana/provisioning")
    [provider] = yaml.safe_load((provisioning / "dashboards" / "restapi.yml").read_text())[
        "providers"
    ]
    dashboards = provider["options"]["path"]
    assert host_path(grafana, f"{dashboards}/restapi-dashboard.json") == (
        DEPLOY / "grafana" / "restapi-dashboard.json"
    )
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
