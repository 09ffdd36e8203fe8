"""``make prod-smoke``: the production profile on real services, on loopback, end to end.

Starts PostgreSQL (hub DB, Iceberg catalogue, Airflow's metadata), a SeaweedFS S3
gateway (the lake), the tansu Kafka-protocol broker, Airflow's scheduler, DAG processor
and API server (LocalExecutor on PostgreSQL) and the hub's API (2 workers); simulates a
day of the camera platform's feeds (file drops and Kafka); has the *scheduler* run the
connector DAGs (unpaused, triggered through Airflow's REST API) and, on their assets,
the indicators DAG; reads indicator values and record pages over HTTP with OAuth2
tokens and checks them against the lake; then stops everything, whatever happened.

Standard library only (tooling, not the hub): the hub and Airflow are driven through
their commands and HTTP APIs, from the Python this runs with (the project's venv).
Logs of every service stay under the work directory; their tails are printed on failure.

    python deploy/smoke/prod_smoke.py [--workdir DIR] [--port-base N] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import services

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CITY, COUNTY = "371400", "371402"
BUCKET = "cityhub-lake"
CONNECTORS = ["camera_key_areas", "camera_registry", "camera_catalog_drop", "camera_status_kafka"]
"""The connector DAGs the simulated day feeds (file drops, and status events over Kafka)."""
CST = timezone(timedelta(hours=8))

LAKE_VIEW = """
import json, sys
from cityhub.core.settings import Settings
from cityhub.lake import Lake
from cityhub.pipelines.indicators.engine import latest
lake = Lake(Settings())
c = lake.decl.contract("camera_registry")
keys = lake.query(f'SELECT {", ".join(chr(34) + k + chr(34) for k in c.key)} FROM camera_registry '
                  f'WHERE "{c.region_field}" = ?', ["camera_registry"], [sys.argv[2]]).to_pylist()
values = [{"code": r["code"], "period": r["period"], "value": r["value"]} for r in latest(lake, region=sys.argv[1])]
print(json.dumps({"key": list(c.key), "registry_keys": [[str(r[k]) for k in c.key] for r in keys],
                  "values": values, "data_files": lake.files("camera_registry")}, default=str))
"""


class SmokeFailed(Exception):
    pass


def say(msg: str) -> None:
    print(f"[prod-smoke {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ports(base: int) -> dict[str, int | list[int]]:
    """Fixed offsets from ``base`` (a developer's range), or free ports (``base`` 0)."""
    if base:
        return {"api": base, "postgres": base + 32, "airflow": base + 80, "broker": base + 92,
                "s3": [base + 90, base + 91, *range(base + 93, base + 99)]}
    api, postgres, airflow, broker, *s3 = services.free_ports(12)
    return {"api": api, "postgres": postgres, "airflow": airflow, "broker": broker, "s3": s3}


def run(cmd: list[str], env: dict, log: Path, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    """A command to completion, its output appended to ``log``."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          check=False)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}\n")
    if check and done.returncode:
        raise SmokeFailed(f"{' '.join(cmd[:3])} exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    return done


def http(method: str, url: str, body: dict | None = None, form: dict | None = None, token: str | None = None,
         timeout: float = 60) -> tuple[int, dict | str]:
    data, headers = None, {"Accept": "application/json"}
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data, headers["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status = r.read().decode(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read().decode(errors="replace"), e.code
    except (urllib.error.URLError, OSError) as e:  # not listening (yet)
        return 0, str(e)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def wait_for(what: str, check, timeout: float, every: float = 2.0, alive=()):
    """Poll ``check`` until it returns something truthy; fail naming ``what`` (and any
    service of ``alive`` that died meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        for svc in alive:
            if svc.proc.poll() is not None:
                raise SmokeFailed(f"{svc.name} exited with {svc.proc.returncode} while waiting for {what}")
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise SmokeFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# -- the parts ---------------------------------------------------------------------------

def hub_env(work: Path, pg, s3, broker, api_port: int) -> dict:
    uri = pg.info["uri"]
    return {**os.environ,
            "CITYHUB_PROFILE": "production",
            "CITYHUB_HOME": str(work / "hub"),
            "CITYHUB_DROP": str(work / "drop"),
            "CITYHUB_DB_URI": uri("cityhub"),
            "CITYHUB_CATALOG_URI": uri("cityhub_catalog"),
            "CITYHUB_LAKE": f"s3://{BUCKET}/warehouse",
            "CITYHUB_S3_ENDPOINT": s3.info["endpoint"],
            "CITYHUB_S3_ACCESS_KEY_ID": s3.info["key"],
            "CITYHUB_S3_SECRET_ACCESS_KEY": s3.info["secret"],
            "CITYHUB_KAFKA_BOOTSTRAP": broker.info["bootstrap"],
            "CITYHUB_TOKEN_SECRET": secrets.token_urlsafe(48),
            "CITYHUB_API_HOST": "127.0.0.1", "CITYHUB_API_PORT": str(api_port),
            "CITYHUB_PARSE_WORKERS": "1",
            "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def airflow_env(work: Path, pg, port: int, hub: dict) -> dict:
    home = work / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return {**hub,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            # paused at creation: the run unpauses only the DAGs it feeds, so the other connectors'
            # schedules do not fire on this 2-core machine meanwhile
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.info["uri"]("airflow"),
            # Airflow's async engine would take asyncpg for postgresql://: psycopg 3 is async too
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": pg.info["uri"]("airflow").replace("+psycopg:", "+psycopg_async:"),
            "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",  # parsed once for this run
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False"}


def check_profile_refuses(env: dict, log: Path) -> str:
    """The production profile refuses to start without an explicit token secret."""
    bad = {k: v for k, v in env.items() if k != "CITYHUB_TOKEN_SECRET"}
    done = run([str(BIN / "cityhub"), "check"], bad, log, timeout=120, check=False)
    out = done.stdout + done.stderr
    if done.returncode == 0 or "CITYHUB_TOKEN_SECRET is not set" not in out:
        raise SmokeFailed(f"CITYHUB_PROFILE=production started without CITYHUB_TOKEN_SECRET:\n{out[-2000:]}")
    return next(line.strip() for line in out.splitlines() if "CITYHUB_TOKEN_SECRET is not set" in line)


def trigger(api: str, dag_id: str) -> str:
    status, body = http("POST", f"{api}/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
    if status not in (200, 201):
        raise SmokeFailed(f"triggering {dag_id}: {status} {body}")
    return body["dag_run_id"]


def dag_run(api: str, dag_id: str, run_id: str) -> dict:
    status, body = http("GET", f"{api}/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")
    if status != 200:
        raise SmokeFailed(f"reading run {run_id} of {dag_id}: {status} {body}")
    return body


def dag_runs(api: str, dag_id: str) -> list[dict]:
    status, body = http("GET", f"{api}/api/v2/dags/{dag_id}/dagRuns?limit=100")
    if status != 200:
        raise SmokeFailed(f"listing runs of {dag_id}: {status} {body}")
    return sorted(body["dag_runs"], key=lambda r: r["queued_at"] or "")


def set_paused(api: str, dag_id: str, paused: bool) -> None:
    status, body = http("PATCH", f"{api}/api/v2/dags/{dag_id}", {"is_paused": paused})
    if status != 200 or body["is_paused"] != paused:
        raise SmokeFailed(f"{'pausing' if paused else 'unpausing'} {dag_id}: {status} {body}")


def _result(raw: str) -> str:
    """A task's return value, short: what a connector landed, how many values were computed."""
    try:
        value = json.loads(raw)
        value = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return raw[:60]
    if not isinstance(value, dict):
        return str(value)[:60]
    keep = ("landed", "quarantined", "values", "with_value")
    return " ".join(f"{k}={value[k]}" for k in keep if k in value)


def api_token(base: str, creds: dict) -> str:
    status, body = http("POST", f"{base}/v1/token", form={"grant_type": "client_credentials",
                                                          "client_id": creds["client_id"],
                                                          "client_secret": creds["client_secret"]})
    if status != 200:
        raise SmokeFailed(f"POST /v1/token: {status} {body}")
    return body["access_token"]


# -- the run -----------------------------------------------------------------------------

def smoke(work: Path, base: int) -> dict:
    p = ports(base)
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cmdlog = logs / "commands.log"
    summary: dict = {"work": str(work), "services": {}, "runs": [], "checks": []}
    started: list[services.Service] = []

    def up(svc: services.Service, what: str) -> services.Service:
        started.append(svc)
        summary["services"][svc.name] = what
        say(f"{svc.name}: {what}")
        return svc

    t0 = time.monotonic()
    try:
        pg = services.start_postgres(work / "postgres", p["postgres"], ["cityhub", "cityhub_catalog", "airflow"])
        up(pg, f"{pg.info['version']} on 127.0.0.1:{p['postgres']} (databases cityhub, cityhub_catalog, airflow)")
        s3 = services.start_object_store(work / "s3", p["s3"], [BUCKET])
        up(s3, f"SeaweedFS {s3.info['version']} at {s3.info['endpoint']} (bucket {BUCKET})")
        broker = services.start_broker(work, p["broker"])
        up(broker, f"{broker.info['version']} on {broker.info['bootstrap']}")
        env = hub_env(work, pg, s3, broker, p["api"])
        cityhub = str(BIN / "cityhub")

        refusal = check_profile_refuses(env, cmdlog)
        summary["checks"].append(f"production profile without CITYHUB_TOKEN_SECRET refused: {refusal[:160]}")
        say("production profile refuses to start without CITYHUB_TOKEN_SECRET: ok")

        # the hub DB and the catalogue's tables, once, before concurrent writers start
        run([sys.executable, "-c", "from cityhub.core.settings import Settings\nfrom cityhub.lake import Lake\n"
             + "Lake(Settings())"], env, cmdlog)
        creds = {}
        for name, args in (("smoke-scoring", ["--role", "scoring"]),
                           ("smoke-county", ["--role", "county", "--region", COUNTY])):
            creds[name] = json.loads(run([cityhub, "clients", "create", "--name", name, *args], env,
                                         cmdlog).stdout.strip().splitlines()[-1])

        day = datetime.now(CST).date()
        out = run([cityhub, "simulate", "cameras", "--day", day.isoformat(), "--cameras-per-county", "60",
                   "--kafka"], env, cmdlog).stdout
        say(f"simulated {day} (CST): {' '.join(out.split())[:200]}")
        summary["day"] = day.isoformat()

        # Airflow: metadata on PostgreSQL, then its three services
        aenv = airflow_env(work, pg, p["airflow"], env)
        airflow = str(BIN / "airflow")
        say("airflow db migrate (PostgreSQL)")
        run([airflow, "db", "migrate"], aenv, logs / "airflow-db-migrate.log", timeout=600)
        af_version = run([airflow, "version"], aenv, cmdlog).stdout.strip().splitlines()[-1]
        api_server = up(services.start("airflow api-server", [airflow, "api-server", "--port", str(p["airflow"]),
                                                               "--host", "127.0.0.1"],
                                       logs / "airflow-api-server.log", env=aenv),
                        f"Airflow {af_version} on 127.0.0.1:{p['airflow']}")
        processor = up(services.start("airflow dag-processor", [airflow, "dag-processor"],
                                      logs / "airflow-dag-processor.log", env=aenv), f"DAGs from {REPO / 'dags'}")
        scheduler = up(services.start("airflow scheduler", [airflow, "scheduler"], logs / "airflow-scheduler.log",
                                      env=aenv), "LocalExecutor, metadata on PostgreSQL")
        airflow_services = (api_server, processor, scheduler)
        services.wait_port(p["airflow"], 180, api_server.proc, api_server.log)
        aapi = f"http://127.0.0.1:{p['airflow']}"

        def dags_loaded():
            status, body = http("GET", f"{aapi}/api/v2/dags?limit=200")
            if status != 200:
                return None
            have = {d["dag_id"]: d for d in body["dags"]}
            want = [f"connector_{c}" for c in CONNECTORS] + ["indicators"]
            return have if all(w in have for w in want) else None

        dags = wait_for("the DAG processor to parse dags/", dags_loaded, 300, alive=airflow_services)
        say(f"{len(dags)} DAGs parsed")

        # the day's feeds through the scheduler: runs triggered, then their DAGs (and the
        # indicators DAG, which the datasets' assets trigger) unpaused
        started_at = datetime.now(UTC)
        triggered = {f"connector_{c}": trigger(aapi, f"connector_{c}") for c in CONNECTORS}
        for dag_id in [*triggered, "indicators"]:
            set_paused(aapi, dag_id, False)
        say(f"triggered and unpaused {', '.join(triggered)}; unpaused indicators")

        def connectors_done():
            runs = {d: dag_run(aapi, d, r) for d, r in triggered.items()}
            return runs if all(r["state"] in ("success", "failed") for r in runs.values()) else None

        runs = wait_for("the connector DAG runs", connectors_done, 600, alive=airflow_services)
        failed = [d for d, r in runs.items() if r["state"] != "success"]
        if failed:
            raise SmokeFailed(f"connector DAG run(s) failed: {failed}")
        for dag_id in triggered:  # their later schedule ticks are not part of this run
            set_paused(aapi, dag_id, True)
        # unpausing also made the scheduler run each DAG's latest schedule tick: whichever of the
        # two runs takes the connector's lease first lands the files, the other finds nothing new
        wait_for("the connectors' other running runs", lambda: not any(
            r["state"] == "running" for d in triggered for r in dag_runs(aapi, d)), 600, alive=airflow_services)
        say("connector DAG runs succeeded; waiting for the asset-triggered indicators run")

        def indicators_done():
            runs = dag_runs(aapi, "indicators")
            if any(r["state"] in ("queued", "running") for r in runs):
                return None
            pending = services.psql(p["postgres"], "airflow", """
                SELECT (SELECT count(*) FROM asset_dag_run_queue WHERE target_dag_id = 'indicators'),
                       (SELECT to_char(max(e.timestamp) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
                        FROM asset_event e JOIN dag_schedule_asset_reference r ON r.asset_id = e.asset_id
                        WHERE r.dag_id = 'indicators')""")
            queued, last_event = pending[0]
            ind = [r for r in runs if r["run_type"] == "asset_triggered"]
            if queued != "0" or not ind or not last_event:
                return None
            last = ind[-1]  # it ran after the datasets' last change, so it counted all of it
            return ind if last["state"] == "success" and (last["start_date"] or "") >= last_event else None

        ind_runs = wait_for("the asset-triggered indicators DAG run", indicators_done, 600, alive=airflow_services)

        # who ran the tasks: the job that queued each (Airflow's metadata DB) and the executor the
        # scheduler reports it finished on (its log: "TaskInstance Finished: ... executor=...")
        def finished_on() -> dict[str, str]:
            return {m.group(1): m.group(2) for m in re.finditer(
                r"TaskInstance Finished: .*?ti_id=([0-9a-f-]+),.*?executor=(\w+)",
                scheduler.log.read_text(errors="replace"))}

        rows = services.psql(p["postgres"], "airflow", f"""
            SELECT ti.dag_id, ti.run_id, ti.task_id, ti.state, dr.run_type, j.job_type, ti.id,
                   to_char(ti.start_date, 'HH24:MI:SS'), round(extract(epoch FROM ti.end_date - ti.start_date)::numeric, 1),
                   coalesce(x.value::text, '')
            FROM task_instance ti JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id
            LEFT JOIN job j ON j.id = ti.queued_by_job_id
            LEFT JOIN xcom x ON x.dag_id = ti.dag_id AND x.run_id = ti.run_id AND x.task_id = ti.task_id
                             AND x.key = 'return_value'
            WHERE dr.queued_at >= '{started_at.isoformat()}'
              AND ti.state IN ('success', 'skipped', 'failed', 'upstream_failed')  -- not a tick's run left paused
            ORDER BY ti.start_date""")
        # the scheduler logs a task's finish once it has processed its executor's event, which
        # may come a moment after the run is seen done in the DB: wait for the lines, not judge early
        ran = {r[6] for r in rows if r[3] in ("success", "failed")}
        finished, deadline = finished_on(), time.monotonic() + 60
        while ran - finished.keys() and time.monotonic() < deadline:
            time.sleep(1)
            finished = finished_on()
        for dag_id, run_id, task, state, run_type, job_type, ti_id, start, took, result in rows:
            summary["runs"].append({"dag": dag_id, "run_type": run_type, "task": task, "state": state,
                                    "queued_by": job_type, "executor": finished.get(ti_id), "start": start,
                                    "seconds": took, "result": _result(result)})
        ours = [r for r in summary["runs"] if r["dag"] in triggered or r["dag"] == "indicators"]
        not_scheduler = [r for r in ours if r["queued_by"] != "SchedulerJob" or r["executor"] != "LocalExecutor"]
        if not ours or not_scheduler:
            raise SmokeFailed(f"task instances not run by the scheduler's LocalExecutor: {not_scheduler or rows}")
        failed = [r for r in ours if r["state"] not in ("success", "skipped")]
        if failed:
            raise SmokeFailed(f"task instances failed: {failed} (task logs under {work / 'airflow' / 'logs'})")
        if not any(r["dag"] == "indicators" and r["run_type"] == "asset_triggered" and r["state"] == "success"
                   for r in ours):
            raise SmokeFailed("no successful asset-triggered indicators task")
        summary["checks"].append(f"{len(ours)} task instances queued by the SchedulerJob and run by its LocalExecutor "
                                 f"({len(ind_runs)} asset-triggered indicators run(s))")

        # the hub's API, 2 workers, in the production profile
        hub_api = up(services.start("cityhub API", [cityhub, "serve", "--host", "127.0.0.1", "--port", str(p["api"]),
                                                    "--workers", "2"], logs / "cityhub-api.log", env=env),
                     f"cityhub serve --workers 2 on 127.0.0.1:{p['api']}")
        base = f"http://127.0.0.1:{p['api']}"
        ready = wait_for("the hub API's /readyz", lambda: http("GET", f"{base}/readyz")[0] == 200, 120, 1,
                         alive=(hub_api,))
        assert ready
        summary["checks"].append("/readyz: hub DB, catalogue and lake (object store) answer")

        lake = json.loads(run([sys.executable, "-c", LAKE_VIEW, CITY, COUNTY], env, cmdlog).stdout.strip()
                          .splitlines()[-1])
        if not all(f.startswith(f"s3://{BUCKET}/") for f in lake["data_files"]) or not lake["data_files"]:
            raise SmokeFailed(f"the lake's data files are not in the object store: {lake['data_files'][:3]}")

        scoring = api_token(base, creds["smoke-scoring"])
        status, body = http("GET", f"{base}/v1/indicators?region={CITY}", token=scoring)
        if status != 200:
            raise SmokeFailed(f"GET /v1/indicators: {status} {body}")
        served = {(v["code"], v["period"]): v["value"] for v in body["indicators"]}
        stored = {(v["code"], v["period"]): v["value"] for v in lake["values"]}
        if not served or served != stored:
            raise SmokeFailed(f"indicator values over HTTP differ from the lake's:\nHTTP {served}\nlake {stored}")
        with_value = {k: v for k, v in served.items() if v is not None}
        if not with_value:
            raise SmokeFailed(f"no indicator has a value: {served}")
        summary["values"] = {f"#{c} {p_}": v for (c, p_), v in sorted(
            with_value.items(), key=lambda kv: (int(kv[0][0]) if kv[0][0].isdigit() else 999, kv[0]))}
        summary["checks"].append(f"GET /v1/indicators?region={CITY}: {len(served)} values, equal to the lake's")

        county = api_token(base, creds["smoke-county"])
        keys, cursor, pages = [], None, 0
        while True:
            q = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            status, body = http("GET", f"{base}/v1/datasets/camera_registry/records?{urllib.parse.urlencode(q)}",
                                token=county)
            if status != 200:
                raise SmokeFailed(f"GET records: {status} {body}")
            pages += 1
            keys += [[str(r[k]) for k in lake["key"]] for r in body["records"]]
            cursor = body.get("next_cursor")
            if not cursor:
                break
        if not keys or sorted(keys) != sorted(lake["registry_keys"]):
            raise SmokeFailed(f"records over HTTP ({len(keys)}) differ from the lake's ({len(lake['registry_keys'])})")
        summary["checks"].append(f"GET /v1/datasets/camera_registry/records as county {COUNTY}: {len(keys)} records "
                                 f"in {pages} page(s), the same keys as the lake's")
        summary["seconds"] = round(time.monotonic() - t0)
        return summary
    except BaseException:
        for svc in started:
            print(services.tail(svc.log, 30), file=sys.stderr)
        print(services.tail(cmdlog, 30), file=sys.stderr)
        raise
    finally:
        for svc in reversed(started):
            svc.stop()
        say("stopped " + ", ".join(s.name for s in reversed(started)))


def report(s: dict) -> None:
    print("\n=== prod-smoke: passed ===")
    print(f"work directory (logs): {s['work']}   simulated day: {s['day']}   took: {s['seconds']} s")
    print("services:")
    for name, what in s["services"].items():
        print(f"  {name:32} {what}")
    print("task instances of this run (dag, run type, task, state, queued by, executor, start, seconds, result):")
    for r in s["runs"]:
        print(f"  {r['dag']:32} {r['run_type']:16} {r['task']:8} {r['state']:8} {r['queued_by'] or '-':13} "
              f"{r['executor'] or '-':14} {r['start']} {r['seconds']:>5}  {r['result']}")
    print("values read over HTTP (city, with a value):")
    for k, v in s["values"].items():
        print(f"  {k:24} {v}")
    print("checks:")
    for c in s["checks"]:
        print(f"  ok  {c}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    ap.add_argument("--port-base", type=int, default=int(os.environ.get("PROD_SMOKE_PORT_BASE", "0")),
                    help="ports at fixed offsets from this (API +0, PostgreSQL +32, Airflow +80, S3 +90.., "
                         "broker +92); 0: free ports")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (it is kept on failure)")
    args = ap.parse_args()
    # a CI timeout's SIGTERM unwinds like Ctrl-C: the services are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cityhub-prod-smoke-"))
    if args.workdir and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)  # PostgreSQL's user must reach its cluster below
    try:
        summary = smoke(work, args.port_base)
    except (SmokeFailed, RuntimeError, TimeoutError, subprocess.TimeoutExpired) as e:
        print(f"\n=== prod-smoke: FAILED ===\n{e}\n(logs kept in {work / 'logs'} and {work})", file=sys.stderr)
        return 1
    report(summary)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
