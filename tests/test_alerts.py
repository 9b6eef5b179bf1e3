"""The Prometheus files in deploy/prometheus/, checked by promtool (Debian's prometheus
package; scripts/test.sh installs it when missing): the scrape config and the rules are
valid, every alert fires in its unit test, and every alert links its runbook section."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fixtures.server import dev_tls_assets
from tests.helpers import BASE_DIR
from tests.test_deploy import DEPLOY, host_path

PROMETHEUS = DEPLOY / "prometheus"
RUNBOOKS = BASE_DIR / "docs" / "runbooks.md"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: scripts/test.sh installs it (apt-get install prometheus)"
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=60, check=False
    )


def alerts() -> list[dict]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def test_the_rules_are_valid(promtool):
    result = run(promtool, "check", "rules", PROMETHEUS / "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_the_scrape_config_is_valid_with_the_files_compose_mounts(promtool, tmp_path):
    """As the compose stack's Prometheus reads it: its container paths are where compose
    mounts them from (the API's CA is made here: certs/tls is not in the repository)."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    service = compose["services"]["prometheus"]
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["rule_files"] = [
        str(host_path(service, f"/etc/prometheus/{name}")) for name in config["rule_files"]
    ]
    dev_tls_assets(tmp_path / "tls")
    for job in config["scrape_configs"]:
        authorization = job["authorization"]
        authorization["credentials_file"] = str(
            host_path(service, authorization["credentials_file"])
        )
        assert host_path(service, job["tls_config"]["ca_file"]) is not None
        job["tls_config"]["ca_file"] = str(tmp_path / "tls" / "api" / "api-ca.pem")
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    result = run(promtool, "check", "config", checked)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_every_alert_fires_in_its_unit_test(promtool):
    result = run(promtool, "test", "rules", PROMETHEUS / "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert fired == {rule["alert"] for rule in alerts()}


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_links_a_runbook_section():
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alerts():
        link = rule["annotations"]["runbook_url"]
        path, _, anchor = link.partition("#")
        assert (BASE_DIR / path).resolve() == RUNBOOKS, (rule["alert"], link)
        assert anchor in anchors, (rule["alert"], link)
    sections = [line for line in RUNBOOKS.read_text().splitlines() if line.startswith("## ")]
    assert {line[3:] for line in sections} == {rule["alert"] for rule in alerts()}


def test_the_anchor_rule_is_githubs():
    assert github_anchor(" What it means, and why? ") == "what-it-means-and-why"
    assert github_anchor("RestapiTargetDown") == "restapitargetdown"


def test_runbooks_say_what_how_to_check_and_how_to_fix():
    text = RUNBOOKS.read_text()
    for section in text.split("\n## ")[1:]:
        name = section.splitlines()[0]
        for part in ("**Means:**", "**Check:**", "**Fix:**"):
            assert part in section, (name, part)
