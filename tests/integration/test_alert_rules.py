"""The Prometheus files in ``deploy/prometheus``: promtool (Debian's ``prometheus``
package; ``.ci/run`` installs it) accepts the scrape config and the rules and passes the
rules' unit tests, and every metric the rules name is one the hub's ``/metrics`` serves."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO

HERE = REPO / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus; .ci/run installs it)")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=HERE, capture_output=True, text=True, timeout=120, check=False)


@needs_promtool
def test_the_rules_and_the_scrape_config_are_valid():
    r = promtool("check", "rules", "alerts.yml")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    r = promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr


@needs_promtool
def test_the_rules_fire_on_what_they_are_for_and_not_on_a_healthy_hub():
    r = promtool("test", "rules", "alerts.test.yml")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


@needs_promtool
def test_a_rule_that_never_fires_is_caught(tmp_path):
    """The unit tests can fail: a threshold changed makes them fail."""
    rules = (HERE / "alerts.yml").read_text(encoding="utf-8").replace("> 0.05", "> 0.5")
    (tmp_path / "alerts.yml").write_text(rules, encoding="utf-8")
    shutil.copy(HERE / "alerts.test.yml", tmp_path)
    r = subprocess.run([PROMTOOL, "test", "rules", "alerts.test.yml"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode != 0 and "CityHubApi5xxRate" in r.stdout + r.stderr


def test_every_metric_the_rules_name_is_served(api):
    rules = yaml.safe_load((HERE / "alerts.yml").read_text(encoding="utf-8"))
    named = {n for g in rules["groups"] for rule in g["rules"] for n in re.findall(r"\bcityhub_\w+", rule["expr"])}
    assert {"cityhub_connector_data_age_seconds", "cityhub_connector_last_run_failed", "cityhub_ready",
            "cityhub_http_requests_total"} <= named
    api.get("/healthz")
    served = api.get("/metrics").text
    missing = [n for n in sorted(named) if not re.search(rf"^(# TYPE )?{n}\b", served, re.MULTILINE)]
    assert not missing, missing
