"""The deployment artefacts in ``deploy/`` hold up: the compose file is valid against the
compose specification's schema (vendored: ``deploy/schemas/compose-spec.json``, checked by
``check-jsonschema``); the Helm chart passes ``helm lint --strict`` and renders, with every
toggle off and on, manifests valid against the Kubernetes API's own JSON schemas (strict:
an unknown field is an error; from the ``kubernetes-validate`` package); every ``CITYHUB_*``
variable any artefact sets is a setting of ``Settings`` (or a declared connector's); the
API container runs one process (its command, run here, has no children) and its probes
point at ``/readyz`` and ``/healthz``; the Redis storage the artefacts give the API shares
rate limits (Debian's ``redis-server``); the runbook covers every setting and alert.

Offline: ``helm`` is the release binary ``make test-tools`` (part of ``make test``) put in the venv
(``deploy/helm/get_helm.py``); about 30 s in all, most of it the API's start-up."""
from __future__ import annotations

import asyncio
import copy
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import kubernetes_validate
import psutil
import pytest
import yaml
from limits import parse as parse_rate

from cityhub.core.settings import _CONNECTOR_VAR, Settings
from cityhub.declarations import load
from tests.support import clear_of_a_minute_turn

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
CHART = DEPLOY / "helm" / "cityhub"
AIRFLOW_VALUES = DEPLOY / "helm" / "values-airflow.yaml"
BIN = Path(sys.executable).parent

K8S_VERSIONS = ("1.29.0", "1.37.0")
"""The chart's ``kubeVersion`` floor and the newest API the schemas describe."""

ALL_ON = {
    "autoscaling": {"enabled": True},
    "ingress": {"enabled": True, "className": "nginx", "tlsSecretName": "hub-tls",
                "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "64m"}},
    "prometheusRule": {"enabled": True},
    "serviceMonitor": {"enabled": True},
    "secret": {"create": True, "values": {"CITYHUB_TOKEN_SECRET": "s" * 48,
                                          "CITYHUB_DB_URI": "postgresql+psycopg://hub:pw@pg:5432/cityhub"}},
    "reportKey": {"secretName": "cityhub-report-key"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
}


# ---- CITYHUB_* names ------------------------------------------------------------------

def _setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        if name == "connectors":  # CITYHUB_<CONNECTOR>_URL/_TOPIC/_FOLDER, checked below
            continue
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"CITYHUB_{name.upper()}")
    return names


def unknown_variables(used: set[str]) -> set[str]:
    """The names in ``used`` that are neither a setting nor a declared connector's
    ``CITYHUB_<CONNECTOR>_URL|TOPIC|FOLDER``."""
    settings, connectors = _setting_names(), set(load(None).connectors)
    out = set()
    for var in used:
        if var in settings:
            continue
        m = _CONNECTOR_VAR.match(var)
        if m and m.group(1).lower() in connectors:
            continue
        out.add(var)
    return out


_VAR = re.compile(r"\bCITYHUB_[A-Z0-9_]*[A-Z0-9]\b")


def _artefacts() -> list[Path]:
    files = [COMPOSE, DEPLOY / "Dockerfile", AIRFLOW_VALUES, *DEPLOY.glob("*.env.example")]
    files += [p for p in CHART.rglob("*") if p.is_file() and not p.is_symlink()]
    return files


def test_every_cityhub_variable_in_the_artefacts_is_a_setting():
    used = {}
    for path in _artefacts():
        for var in _VAR.findall(path.read_text(encoding="utf-8")):
            used.setdefault(var, path.relative_to(REPO).as_posix())
    assert len(used) > 15, used  # the scan sees the settings the artefacts set
    unknown = unknown_variables(set(used))
    assert not unknown, {v: used[v] for v in unknown}


def test_a_misspelt_setting_or_connector_variable_is_caught():
    assert unknown_variables({"CITYHUB_RATE_LIMIT_STORAGE", "CITYHUB_RATE_LIMT_STORAGE", "CITYHUB_LAKE",
                              "CITYHUB_LAKE_URI", "CITYHUB_CAMERA_STATUS_KAFKA_TOPIC",
                              "CITYHUB_CAMERA_STATUS_KAFK_TOPIC"}) == {
        "CITYHUB_RATE_LIMT_STORAGE", "CITYHUB_LAKE_URI", "CITYHUB_CAMERA_STATUS_KAFK_TOPIC"}


# ---- compose ---------------------------------------------------------------------------

def _check_jsonschema(schema: Path, *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "check-jsonschema"), "--schemafile", str(schema), *map(str, files)], check=False,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_is_valid_against_the_compose_specification(tmp_path):
    # beside it, a copy the check must refuse (so it bites): a misspelt healthcheck key and a
    # service key compose does not know; one run of check-jsonschema for both
    bad = tmp_path / "broken-compose.yaml"
    bad.write_text(COMPOSE.read_text(encoding="utf-8")
                   .replace("      start_period: 60s", "      start_periode: 60s", 1)
                   .replace("    image: redis:7.4", "    images: redis:7.4", 1), encoding="utf-8")
    out = _check_jsonschema(DEPLOY / "schemas" / "compose-spec.json", COMPOSE, bad)
    errors = [line for line in out.stdout.splitlines() if "::$" in line]
    assert errors and all(line.strip().startswith(str(bad)) for line in errors), out.stdout + out.stderr
    assert "start_periode" in out.stdout and "'images' was unexpected" in out.stdout, out.stdout


def test_compose_runs_every_part_of_the_hub(compose):
    services = compose["services"]
    assert {"postgres", "kafka", "minio", "redis", "init", "api", "airflow-apiserver", "airflow-scheduler",
            "airflow-dag-processor", "airflow-worker", "prometheus"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker"):
        svc = services[name]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile" and svc["image"] == services["api"]["image"]
        assert svc["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert svc["depends_on"]["init"]["condition"] == "service_completed_successfully"
    # rate limits shared by every API container, in Redis, through a client the image has
    assert services["api"]["environment"]["CITYHUB_RATE_LIMIT_STORAGE"].startswith("valkey://redis:6379/")
    assert '[airflow,postgres,redis]' in (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    init = services["init"]["command"][0]
    assert "cityhub catalog load" in init and "airflow db migrate" in init


def test_compose_references_resolve(compose):
    """What the schema cannot see: every service a service waits for, and every named volume,
    secret and config it uses, is defined; the build context holds the Dockerfile."""
    services = compose["services"]
    for name, svc in services.items():
        assert set(svc.get("depends_on", {})) <= set(services) - {name}, name
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if not source.startswith(("./", "/")):
                assert source in compose["volumes"], (name, source)
        assert {s if isinstance(s, str) else s["source"] for s in svc.get("secrets", [])} <= set(compose["secrets"])
        assert {c["source"] for c in svc.get("configs", [])} <= set(compose.get("configs", {}))
        if "build" in svc:
            assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def test_compose_takes_secrets_from_files_it_names(compose):
    """No credential is inline; every env file has its example beside the compose file,
    and every mounted file exists (Prometheus's config and alert rules)."""
    env_files = set()
    for name, svc in compose["services"].items():
        inline = [k for k in svc.get("environment", {}) if re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", k)]
        assert not inline, f"{name}: {inline} written into compose.yaml"
        files = svc.get("env_file", [])
        env_files.update([files] if isinstance(files, str) else files)
        for vol in svc.get("volumes", []):
            if vol.startswith("./"):
                assert (DEPLOY / vol.split(":")[0]).is_file(), vol
    assert env_files == {"cityhub.env", "services.env", "airflow.env"}
    for f in env_files:
        assert (DEPLOY / f"{f}.example").is_file(), f
    assert compose["secrets"]["report_key"]["file"].startswith("./secrets/")


def test_api_containers_share_rate_limits_in_redis(compose, tmp_path):
    """The rate-limit storage compose and the chart give the API (``valkey://``: the Redis
    protocol, the image's ``redis`` extra) works, and shares one count between API
    processes, against a real Redis server (Debian's) in place of theirs."""
    server = shutil.which("redis-server")
    if server is None:
        msg = "redis-server is not installed: `make test-tools` (part of `make test`) installs Debian's"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    from cityhub.api.limits import limiter

    given = {compose["services"]["api"]["environment"]["CITYHUB_RATE_LIMIT_STORAGE"],
             yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["settings"]["CITYHUB_RATE_LIMIT_STORAGE"]}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
            time.sleep(0.05)
        rule = parse_rate("3/minute")
        for db, uri in enumerate(sorted(given | {"redis://redis:6379/0"})):  # and the plain Redis URI operators write
            parts = urlsplit(uri)
            url = urlunsplit((parts.scheme, f"127.0.0.1:{port}", f"/{db}", "", ""))
            assert Settings(rate_limit_storage=url).rate_limit_storage == url

            async def hits(url=url) -> list[bool]:
                a, b = limiter(url), limiter(url)  # two API containers
                return [await a.hit(rule, "client:c1"), await b.hit(rule, "client:c1"),
                        await a.hit(rule, "client:c1"), await b.hit(rule, "client:c1"),
                        await b.hit(rule, "client:c2")]

            clear_of_a_minute_turn()
            assert asyncio.run(hits()) == [True, True, True, False, True], uri
    finally:
        proc.terminate()
        proc.wait(10)


# ---- one API process per container, probes ---------------------------------------------

def _workers(argv: list[str]) -> int | None:
    return int(argv[argv.index("--workers") + 1]) if "--workers" in argv else None


def test_the_api_container_runs_one_process(compose, rendered_default):
    api = compose["services"]["api"]
    argv = [*api["entrypoint"], *api["command"]]
    assert argv[:2] == ["cityhub", "serve"] and _workers(argv) == 1
    (deployment,) = [d for d in rendered_default if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["cityhub", "serve"] and _workers(container["command"]) == 1
    # the chart's set-up Job runs after each install and upgrade, with the pods' settings
    (job,) = [d for d in rendered_default if d["kind"] == "Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    (init,) = job["spec"]["template"]["spec"]["containers"]
    assert "cityhub check && cityhub catalog load" in init["command"][-1] and init["envFrom"] == container["envFrom"]
    # nothing in the image asks for more
    assert all(n == "1" for n in re.findall(r"--workers\W+(\d+)", (DEPLOY / "Dockerfile").read_text()))


def test_the_api_containers_command_serves_from_one_process(compose, tmp_path):
    """compose's API command, run as the container runs it (settings from the environment):
    one process, no supervisor or worker children, and the readiness endpoint its
    healthcheck asks answers 200."""
    api = compose["services"]["api"]
    argv = [*api["entrypoint"], *api["command"]]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CITYHUB_HOME": str(tmp_path / "home"), "CITYHUB_API_HOST": "127.0.0.1",
           "CITYHUB_API_PORT": str(port), "CITYHUB_PROFILE": "development"}
    proc = subprocess.Popen([str(BIN / argv[0]), *argv[1:]], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not answer within 90 s"
                time.sleep(0.2)
        assert ready.status_code == 200, ready.text
        assert psutil.Process(proc.pid).children(recursive=True) == []
    finally:
        proc.terminate()
        proc.wait(20)


def test_probes_point_at_readyz_and_healthz(compose, rendered_default):
    assert "/readyz" in " ".join(compose["services"]["api"]["healthcheck"]["test"])
    (deployment,) = [d for d in rendered_default if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (port,) = container["ports"]
    assert all(container[p]["httpGet"]["port"] == port["name"] for p in ("readinessProbe", "livenessProbe"))
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert port["containerPort"] == int(env["CITYHUB_API_PORT"]) and env["CITYHUB_API_HOST"] == "0.0.0.0"


# ---- the Helm chart --------------------------------------------------------------------

@pytest.fixture(scope="module")
def helm() -> str:
    found = shutil.which("helm", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        msg = "helm is not installed: `make test-tools` (part of `make test`) runs deploy/helm/get_helm.py"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return found


def _helm(helm: str, *args: str, values: dict | None = None, tmp: Path) -> subprocess.CompletedProcess:
    extra = []
    if values is not None:
        f = tmp / f"values-{len(list(tmp.glob('values-*')))}.yaml"
        f.write_text(yaml.safe_dump(values), encoding="utf-8")
        extra = ["--values", str(f)]
    return subprocess.run([helm, *args, *extra], check=False, capture_output=True, text=True, timeout=120)


def _render(helm: str, tmp: Path, values: dict | None = None) -> list[dict]:
    out = _helm(helm, "template", "cityhub", str(CHART), "--namespace", "cityhub", values=values, tmp=tmp)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def rendered_default(helm, tmp_path_factory) -> list[dict]:
    return _render(helm, tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="module")
def rendered_all_on(helm, tmp_path_factory) -> list[dict]:
    return _render(helm, tmp_path_factory.mktemp("helm"), ALL_ON)


@pytest.mark.parametrize("values", [None, ALL_ON], ids=["defaults", "all-toggles-on"])
def test_the_chart_lints(helm, tmp_path, values):
    out = _helm(helm, "lint", "--strict", str(CHART), values=values, tmp=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def _validate(docs: list[dict]) -> None:
    for doc in docs:
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_rendered_manifests_are_valid_kubernetes_objects(rendered_default, rendered_all_on):
    kinds = sorted(d["kind"] for d in rendered_default)
    assert kinds == ["ConfigMap", "Deployment", "Job", "PodDisruptionBudget", "Service"]
    _validate(rendered_default)
    operator = [d for d in rendered_all_on if d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert sorted(d["kind"] for d in operator) == ["PrometheusRule", "ServiceMonitor"]
    core = [d for d in rendered_all_on if d not in operator]
    assert sorted(d["kind"] for d in core) == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "Job",
                                               "PodDisruptionBudget", "Secret", "Service"]
    _validate(core)
    # with the HPA on, the Deployment leaves the replica count to it
    (deployment,) = [d for d in core if d["kind"] == "Deployment"]
    assert "replicas" not in deployment["spec"]


def test_the_schema_check_bites(rendered_default):
    (deployment,) = [d for d in rendered_default if d["kind"] == "Deployment"]
    bad = copy.deepcopy(deployment)
    container = bad["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(bad, K8S_VERSIONS[0], strict=True)


def test_settings_and_secrets_reach_the_pods(rendered_all_on):
    by_kind = {d["kind"]: d for d in rendered_all_on}
    (container,) = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"]
    sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources == {"configMapRef": by_kind["ConfigMap"]["metadata"]["name"],
                       "secretRef": by_kind["Secret"]["metadata"]["name"]}
    assert by_kind["ConfigMap"]["data"]["CITYHUB_PROFILE"] == "production"
    assert set(by_kind["Secret"]["stringData"]) == set(ALL_ON["secret"]["values"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["CITYHUB_REPORT_KEY"].startswith(mounts["report-key"] + "/")


def test_the_chart_refuses_what_would_not_run(helm, tmp_path):
    not_a_setting = _helm(helm, "template", "cityhub", str(CHART), values={"settings": {"RATE_LIMIT": "60/minute"}},
                          tmp=tmp_path)
    assert not_a_setting.returncode != 0 and "invalid propertyName 'RATE_LIMIT'" in not_a_setting.stderr
    misspelt = _helm(helm, "template", "cityhub", str(CHART), values={"replicas": 3}, tmp=tmp_path)
    assert misspelt.returncode != 0 and "additional properties 'replicas' not allowed" in misspelt.stderr
    no_token = _helm(helm, "template", "cityhub", str(CHART),
                     values={"secret": {"create": True, "values": {"CITYHUB_DB_URI": "postgresql+psycopg://h/db"}}},
                     tmp=tmp_path)
    assert no_token.returncode != 0 and "CITYHUB_TOKEN_SECRET is required" in no_token.stderr


def test_the_prometheus_rule_carries_the_alert_rules(rendered_all_on):
    alerts = DEPLOY / "prometheus" / "alerts.yml"
    assert (CHART / "files" / "alerts.yml").resolve() == alerts.resolve()  # one set of rules, linked
    (rule,) = [d for d in rendered_all_on if d["kind"] == "PrometheusRule"]
    groups = yaml.safe_load(alerts.read_text(encoding="utf-8"))["groups"]
    assert groups and rule["spec"]["groups"] == groups
    (monitor,) = [d for d in rendered_all_on if d["kind"] == "ServiceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"


# ---- Airflow through the official chart ---------------------------------------------------

def test_airflow_values_run_the_hub_image_with_the_hub_settings(rendered_default):
    values = yaml.safe_load(AIRFLOW_VALUES.read_text(encoding="utf-8"))
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["images"]["airflow"]["repository"] == chart_values["image"]["repository"]
    # one Airflow release everywhere: the wheel's airflow extra, the image's base, the chart's values
    extra = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    (pin,) = [r for r in extra["airflow"] if r.startswith("apache-airflow==")]
    version = pin.split("==")[1]
    assert values["airflowVersion"] == version and values["airflowVersion"].startswith("3.")
    assert f"ARG AIRFLOW_IMAGE=apache/airflow:{version}-python3.11" in (DEPLOY / "Dockerfile").read_text()
    assert values["executor"] == "CeleryExecutor"
    # the DAGs come with the image: no git-sync or volume over Airflow's DAG folder
    assert not values["dags"]["gitSync"]["enabled"] and not values["dags"]["persistence"]["enabled"]
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY --chown=airflow:0 dags/ /opt/airflow/dags/" in dockerfile
    assert re.search(r"FROM \$\{AIRFLOW_IMAGE\}", dockerfile) and "ARG AIRFLOW_IMAGE=apache/airflow:3." in dockerfile
    # every Airflow pod reads the same ConfigMap and Secret as the API's pods
    sources = yaml.safe_load(values["extraEnvFrom"])
    (configmap,) = [d for d in rendered_default if d["kind"] == "ConfigMap"]
    assert {"configMapRef": {"name": configmap["metadata"]["name"]}} in sources
    assert {"secretRef": {"name": chart_values["secret"]["name"]}} in sources
    assert values["postgresql"]["enabled"] is False


# ---- the runbook ---------------------------------------------------------------------------

def test_the_runbook_documents_every_setting():
    """deploy/README.md's settings table names every setting: a new one is documented for
    operators, or this fails naming it."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    table = {m for line in readme.splitlines() if line.startswith("| `CITYHUB_") for m in _VAR.findall(line)}
    missing = _setting_names() - table
    assert not missing, f"not in deploy/README.md's settings table: {sorted(missing)}"
    assert not unknown_variables(set(_VAR.findall(readme))), "the runbook names a variable that is no setting"


def test_the_runbook_says_what_to_do_for_every_alert():
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(" `") for line in readme.splitlines() if line.startswith("| `CityHub")}
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert alerts and alerts == rows, f"alerts without a row in deploy/README.md: {sorted(alerts - rows)}; " \
                                      f"rows of no alert: {sorted(rows - alerts)}"
