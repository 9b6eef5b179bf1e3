"""The Helm chart: it lints, its objects pass the Kubernetes API schemas, and the pods it
describes start here from their rendered spec (env, secret mounts, commands) and pass
their own probes. No cluster runs on these machines; helm and the schemas do."""

import copy
import math
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import requests
import yaml
from cryptography.fernet import Fernet
from django.db import connection

from auth.keys import write_key_pair
from tests.fixtures.kafka import Broker, consume
from tests.fixtures.server import make_production_assets
from tests.fixtures.storage import S3_BUCKET, S3_CREDENTIALS
from tests.helpers import BASE_DIR, free_port, yaml_problems

HELM = Path(sys.executable).parent / "helm"
CHART = BASE_DIR / "deploy" / "helm" / "restapi"
POD_IP = "127.0.0.1"

REQUIRED = {
    "allowedHosts": ["api.example.com"],
    "postgres": {"endpoint": "db.example.com:5432"},
    "secrets": {"env": "restapi-env", "tls": "restapi-tls", "jwt": "restapi-jwt"},
    "s3": {"bucket": "restapi-files"},
}


def merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


EVERYTHING = merged(
    REQUIRED,
    {
        "allowedHosts": ["api.example.com", "api.internal"],
        "secrets": {
            "postgresTls": "pg-tls",
            "postgresClientCert": True,
            "kafkaTls": "kafka-tls",
            "kafkaClientCert": True,
            "jwtItems": [
                {"key": "private-key-pkcs8.pem", "path": "private-key-pkcs8.pem"},
                {"key": "public-key.pem", "path": "public-key.pem"},
                {"key": "previous-abc.pem", "path": "previous/abc.pem"},
            ],
        },
        "api": {"clientAuth": True, "workers": 3},
        "s3": {"endpointUrl": "https://minio.example.com", "region": "eu-west-1"},
        "kafka": {"enabled": True, "brokers": "kafka:9093", "topics": ["audit"]},
        "relay": {"enabled": True},
        "env": {"LOG_LEVEL": "debug", "USER_DATA_QUOTA_BYTES": 1000000, "PRIVACY_JOBS_FROM_WEB": 0},
        "cronJobs": {"privacyJobs": {"enabled": True}},
        "autoscaling": {"enabled": True},
        "serviceMonitor": {"enabled": True},
        "imagePullSecrets": [{"name": "registry"}],
    },
)


def helm(command: str, values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    args = [str(HELM), command, *(["r"] if command == "template" else []), str(CHART)]
    if command == "lint":
        args.append("--strict")
    return subprocess.run(
        [*args, "--values", "-"],
        input=yaml.safe_dump(values),
        capture_output=True,
        text=True,
        timeout=60,
    )


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    result = helm("template", values)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    specs = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            specs[doc["metadata"]["name"]] = doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            specs[doc["metadata"]["name"]] = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return specs


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {var["name"]: var.get("value", var.get("valueFrom")) for var in container["env"]}


@pytest.mark.parametrize("values", [REQUIRED, EVERYTHING], ids=["required", "everything"])
def test_chart_lints_strictly(values):
    result = helm("lint", values)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", [REQUIRED, EVERYTHING], ids=["required", "everything"])
def test_rendered_yaml_lints(values):
    result = helm("template", values)
    assert result.returncode == 0, result.stderr
    documents = [text.strip() + "\n" for text in result.stdout.split("\n---\n") if text.strip()]
    assert len(documents) >= 6
    for document in documents:
        assert yaml_problems(document) == [], document


@pytest.mark.parametrize("version", ["1.29.0", "1.37.0"])
@pytest.mark.parametrize("values", [REQUIRED, EVERYTHING], ids=["required", "everything"])
def test_rendered_objects_pass_the_kubernetes_api_schemas(values, version):
    docs = render(values)
    kinds = sorted(doc["kind"] for doc in docs)
    if values is REQUIRED:
        assert kinds == [
            "CronJob",
            "CronJob",
            "Deployment",
            "Job",
            "PodDisruptionBudget",
            "Service",
        ]
    else:
        assert kinds == [
            "CronJob",
            "CronJob",
            "CronJob",
            "Deployment",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Job",
            "PodDisruptionBudget",
            "PodMonitor",
            "Service",
            "ServiceMonitor",
        ]
    if values is EVERYTHING:
        privacy = pod_specs(docs)["r-restapi-privacy-jobs"]["containers"][0]
        assert privacy["command"] == ["python", "manage.py", "privacy_jobs"]
    for doc in docs:
        if doc["kind"] not in ("ServiceMonitor", "PodMonitor"):  # CRDs: checked field by field
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({}, "/allowedHosts"),
        (merged(REQUIRED, {"allowedHosts": []}), "/allowedHosts"),
        (merged(REQUIRED, {"postgres": {"endpoint": "db.example.com"}}), "/postgres/endpoint"),
        (merged(REQUIRED, {"secrets": {"jwt": ""}}), "/secrets/jwt"),
        (merged(REQUIRED, {"s3": {"bucket": ""}}), "/s3/bucket"),
        (merged(REQUIRED, {"kafka": {"enabled": True}}), "/kafka/brokers"),
        (merged(REQUIRED, {"env": {"DEBUG": "1"}}), "DEBUG"),
        (merged(REQUIRED, {"replicas": 3}), "replicas"),
    ],
    ids=["none", "no-hosts", "no-port", "no-jwt", "no-bucket", "no-brokers", "debug", "typo"],
)
def test_values_schema_refuses_incomplete_or_unsafe_values(values, complaint):
    result = helm("template", values)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_service_budget_autoscaler_and_monitor_select_the_api_pods():
    docs = render(EVERYTHING)
    api = named(docs, "Deployment", "r-restapi")
    relay = named(docs, "Deployment", "r-restapi-relay")
    api_labels = api["spec"]["template"]["metadata"]["labels"]
    relay_labels = relay["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return selector.items() <= labels.items()

    service = named(docs, "Service", "r-restapi")
    budget = named(docs, "PodDisruptionBudget", "r-restapi")
    for selector in (
        api["spec"]["selector"]["matchLabels"],
        service["spec"]["selector"],
        budget["spec"]["selector"]["matchLabels"],
    ):
        assert selects(selector, api_labels) and not selects(selector, relay_labels)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["https"]
    assert api["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] == "https"

    autoscaler = named(docs, "HorizontalPodAutoscaler", "r-restapi")
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "r-restapi",
    }
    assert "replicas" not in api["spec"]  # the autoscaler owns it
    assert named(render(REQUIRED), "Deployment", "r-restapi")["spec"]["replicas"] == 2

    monitor = named(docs, "ServiceMonitor", "r-restapi")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert (endpoint["scheme"], endpoint["path"]) == ("https", "/metrics")
    assert endpoint["tlsConfig"] == {
        "ca": {"secret": {"name": "restapi-tls", "key": "ca.crt"}},
        "serverName": "api.example.com",
    }
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "restapi-env", "key": "METRICS_TOKEN"},
    }
    pod_monitor = named(docs, "PodMonitor", "r-restapi-relay")
    assert selects(pod_monitor["spec"]["selector"]["matchLabels"], relay_labels)
    assert not selects(pod_monitor["spec"]["selector"]["matchLabels"], api_labels)
    [relay_endpoint] = pod_monitor["spec"]["podMetricsEndpoints"]
    assert (
        relay_endpoint["port"]
        == relay["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"]
    )
    assert {k: v for k, v in relay_endpoint.items() if k != "port"} == {
        k: v for k, v in endpoint.items() if k != "port"
    }


@pytest.mark.parametrize("values", [REQUIRED, EVERYTHING], ids=["required", "everything"])
def test_every_pod_runs_unprivileged_with_its_secrets_mounted_read_only(values):
    docs = render(values)
    assert not [doc for doc in docs if doc["kind"] in ("Secret", "ConfigMap")]
    settings_text = "".join(p.read_text() for p in Path(BASE_DIR / "restapi").rglob("*.py"))
    specs = pod_specs(docs)
    assert len(specs) == (6 if values is EVERYTHING else 4)
    for name, spec in specs.items():
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        for volume in volumes.values():
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] == 0o440, name
        [container] = spec["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        # gunicorn and the metrics files need a writable /tmp on a read-only root.
        assert "emptyDir" in mounts["/tmp"]  # noqa: S108
        env = env_of(container)
        assert env["DEBUG"] == "0"
        for variable, value in env.items():
            assert variable == "POD_IP" or f'"{variable}"' in settings_text, variable
            if isinstance(value, str) and value.startswith("/etc/restapi/"):
                mount = Path(value).parent.as_posix()
                secret = mounts[mount if mount in mounts else value]["secret"]
                assert secret["secretName"] in values["secrets"].values(), variable
        assert container["envFrom"] == [{"secretRef": {"name": "restapi-env"}}]


def test_probes_check_only_the_port_when_client_certificates_are_required():
    for values, check in ((REQUIRED, "httpGet"), (EVERYTHING, "tcpSocket")):
        [api] = named(render(values), "Deployment", "r-restapi")["spec"]["template"]["spec"][
            "containers"
        ]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert check in api[probe], probe


def test_the_relay_deployment_takes_publishing_from_the_web_workers():
    with_kafka = merged(REQUIRED, {"kafka": {"enabled": True, "brokers": "kafka:9092"}})
    docs = render(with_kafka)
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"] == ["r-restapi"]
    assert env_of(pod_specs(docs)["r-restapi"]["containers"][0])["KAFKA_PUBLISH_FROM_WEB"] == "1"

    specs = pod_specs(render(merged(with_kafka, {"relay": {"enabled": True}})))
    assert env_of(specs["r-restapi"]["containers"][0])["KAFKA_PUBLISH_FROM_WEB"] == "0"
    relay = specs["r-restapi-relay"]["containers"][0]
    assert relay["command"] == ["python", "manage.py", "kafka_relay"]
    assert [port["name"] for port in relay["ports"]] == ["metrics"]  # no API port


def test_migrations_run_as_a_hook_before_install_and_upgrade():
    job = named(render(REQUIRED), "Job", "r-restapi-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python",
        "manage.py",
        "migrate",
        "--no-input",
    ]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


# ---- the rendered pods, started here ------------------------------------------------


def cpu_count(quantity: str) -> int:
    """A Kubernetes CPU quantity rounded up, as resourceFieldRef with divisor 1 gives it."""
    return math.ceil(int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity))


@dataclass
class Container:
    command: list[str]
    env: dict[str, str]


def materialise(
    spec: dict[str, Any], stores: dict[str, dict[str, str]], root: Path, listen: dict[str, str]
) -> Container:
    """What the kubelet would do for the pod's one container: secret files under their
    mount paths (here below `root`), the environment resolved, the command made local."""
    [container] = spec["containers"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    local_paths = {}
    for mount in container["volumeMounts"]:
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        secret = volumes[mount["name"]].get("secret")
        if secret:
            data = stores[secret["secretName"]]
            for item in secret.get("items") or [{"key": key, "path": key} for key in data]:
                path = target / item["path"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(data[item["key"]])
        local_paths[mount["mountPath"]] = str(target)

    env = {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1"}  # the image's own ENV
    for source in container["envFrom"]:
        env.update(stores[source["secretRef"]["name"]])
    for var in container["env"]:
        if "value" in var:
            # Kubernetes expands $(NAME) of variables defined before this one.
            value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), var["value"])
        elif "fieldRef" in var["valueFrom"]:
            assert var["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
            value = POD_IP
        else:
            field = var["valueFrom"]["resourceFieldRef"]
            limit = container["resources"]["limits"][field["resource"].removeprefix("limits.")]
            value = str(cpu_count(limit))
        for mount_path, local in local_paths.items():
            if value == mount_path or value.startswith(mount_path + "/"):
                value = local + value.removeprefix(mount_path)
        env[var["name"]] = value
    # Servers on these machines listen on loopback only: `listen` moves their endpoints.
    env.update(listen)

    program, *args = container["command"]
    local = {"python": [sys.executable], "gunicorn": [sys.executable, "-m", "gunicorn"]}
    return Container(command=[*local[program], *args], env=env)


def start(container: Container, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            container.command,
            cwd=BASE_DIR,
            env=container.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def worker_count(pid: int) -> int:
    return len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


@dataclass
class Pod:
    """An API pod listening on loopback, reached the way the kubelet and Prometheus do."""

    port: int
    ca: Path

    def get(self, path: str, host: str | None = None, **headers: str) -> requests.Response:
        return requests.get(
            f"https://localhost:{self.port}{path}",
            headers={"Host": host or f"{POD_IP}:{self.port}", **headers},
            verify=str(self.ca),
            timeout=10,
        )

    def wait_until_started(self, path: str, process: subprocess.Popen[bytes], log: Path) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if self.get(path).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


@pytest.fixture
def secret_stores(tmp_path: Path) -> dict[str, dict[str, str]]:
    """The contents of the Secrets the chart names, as an operator would create them."""
    assets = make_production_assets(tmp_path / "assets")
    write_key_pair(tmp_path / "old.pem", tmp_path / "old.pub", dev=False)
    return {
        "restapi-env": {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "MFA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "METRICS_TOKEN": secrets.token_urlsafe(32),
            "POSTGRES_PASSWORD": connection.settings_dict["PASSWORD"] or "",
            **S3_CREDENTIALS,
        },
        "restapi-tls": {
            "tls.crt": assets.api_cert.read_text(),
            "tls.key": assets.api_key.read_text(),
            "ca.crt": assets.api_ca.read_text(),
        },
        "restapi-jwt": {
            "private-key-pkcs8.pem": assets.jwt_private.read_text(),
            "public-key.pem": assets.jwt_public.read_text(),
            # A former signer's public key, still trusted for the tokens it signed.
            "previous-old.pem": (tmp_path / "old.pub").read_text(),
        },
    }


# transaction=True: the pods' processes commit to the test database, which is flushed after.
@pytest.mark.django_db(transaction=True)
def test_the_rendered_pods_migrate_serve_their_probes_and_relay_events(
    s3_endpoint: str,
    kafka_broker: Broker,
    secret_stores: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    topic = f"helm.user.events.{uuid.uuid4().hex[:12]}"
    database = connection.settings_dict  # the test database
    values = merged(
        REQUIRED,
        {
            "postgres": {
                "endpoint": f"{database['HOST']}:{database['PORT']}",
                "username": database["USER"],
                "database": database["NAME"],
            },
            "s3": {"bucket": S3_BUCKET, "endpointUrl": s3_endpoint},
            "kafka": {"enabled": True, "brokers": kafka_broker.address, "userEventsTopic": topic},
            "relay": {"enabled": True},
            "secrets": {
                "jwtItems": [
                    {"key": name, "path": name}
                    for name in ("private-key-pkcs8.pem", "public-key.pem")
                ]
                + [{"key": "previous-old.pem", "path": "previous/old.pem"}]
            },
            "serviceMonitor": {"enabled": True},
            "env": {
                "USER_EMAIL_VERIFICATION_ENABLED": "0",
                "KAFKA_PUBLISH_IDLE_INTERVAL_SEC": "0.2",
            },
        },
    )
    docs = render(values)
    specs = pod_specs(docs)
    port = free_port()
    pod = Pod(port=port, ca=tmp_path / "assets" / "tls" / "api" / "api-ca.pem")

    listen = {"API_ENDPOINT": f"{POD_IP}:{port}"}
    migrate = materialise(specs["r-restapi-migrate"], secret_stores, tmp_path / "migrate", listen)
    result = subprocess.run(
        migrate.command, cwd=BASE_DIR, env=migrate.env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No migrations to apply" in result.stdout

    web = materialise(specs["r-restapi"], secret_stores, tmp_path / "web", listen)
    assert web.env["DEBUG"] == "0"
    assert web.env["API_WORKERS"] == "2"  # the container's CPU limit
    [relay_container] = specs["r-restapi-relay"]["containers"]
    assert env_of(relay_container)["KAFKA_RELAY_METRICS_ENDPOINT"] == "0.0.0.0:9100"
    assert relay_container["ports"] == [
        {"name": "metrics", "containerPort": 9100, "protocol": "TCP"}
    ]
    relay_metrics = Pod(port=free_port(), ca=pod.ca)
    relay = materialise(
        specs["r-restapi-relay"],
        secret_stores,
        tmp_path / "relay",
        {**listen, "KAFKA_RELAY_METRICS_ENDPOINT": f"{POD_IP}:{relay_metrics.port}"},
    )
    web_process = start(web, tmp_path / "web.log")
    relay_process = start(relay, tmp_path / "relay.log")
    try:
        [api] = specs["r-restapi"]["containers"]
        pod.wait_until_started(
            api["startupProbe"]["httpGet"]["path"], web_process, tmp_path / "web.log"
        )
        for probe in ("livenessProbe", "readinessProbe"):
            assert api[probe]["httpGet"]["scheme"] == "HTTPS"
            response = pod.get(api[probe]["httpGet"]["path"])
            assert response.status_code == 200, (probe, response.text)
        assert pod.get("/health/ready", host="api.example.com").status_code == 200
        assert pod.get("/health/live", host="evil.example.com").status_code == 400

        [endpoint] = named(docs, "ServiceMonitor", "r-restapi")["spec"]["endpoints"]
        credentials = endpoint["authorization"]["credentials"]
        token = secret_stores[credentials["name"]][credentials["key"]]
        metrics = pod.get(endpoint["path"], Authorization=f"Bearer {token}")
        assert metrics.status_code == 200
        assert (
            'restapi_http_requests_total{method="GET",route="health/ready",status="200"}'
            in metrics.text
        )
        assert pod.get(endpoint["path"]).status_code == 401

        deadline = time.monotonic() + 30
        while worker_count(web_process.pid) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker_count(web_process.pid) == 2  # API_WORKERS from the CPU limit

        jwks = pod.get("/.well-known/jwks.json", host="api.example.com").json()
        assert len(jwks["keys"]) == 2  # the signer and the key mounted under previous/

        # The web pod only writes the outbox row; the relay pod publishes it.
        email = f"helm-{uuid.uuid4().hex[:12]}@example.com"
        response = requests.post(
            f"https://localhost:{port}/user",
            json={"email": email, "password": "correct horse battery staple"},
            headers={"Host": "api.example.com"},
            verify=str(pod.ca),
            timeout=30,
        )
        assert response.status_code == 201, response.text
        [event] = consume(kafka_broker.address, topic, count=1)
        assert f'"email": "{email}"' in event["value"] or f'"email":"{email}"' in event["value"]
        assert event["headers"]["event_type"] == "user.created"

        # The relay's own counters, scraped as its PodMonitor says.
        [relay_endpoint] = named(docs, "PodMonitor", "r-restapi-relay")["spec"][
            "podMetricsEndpoints"
        ]
        assert relay_endpoint["authorization"] == endpoint["authorization"]
        scraped = relay_metrics.get(relay_endpoint["path"], Authorization=f"Bearer {token}")
        assert scraped.status_code == 200
        published = [
            line
            for line in scraped.text.splitlines()
            if line.startswith("restapi_outbox_published_total ")
        ]
        assert published and float(published[0].split()[1]) >= 1
        assert relay_metrics.get(relay_endpoint["path"]).status_code == 401
    finally:
        web_exit = stop(web_process)
        relay_exit = stop(relay_process)
    assert "Relaying the outbox" in (tmp_path / "relay.log").read_text()
    assert (web_exit, relay_exit) == (0, 0)
