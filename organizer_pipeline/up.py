"""`organizer up` (what `make run` runs): database, migrations, simulators for absent credentials,
Dagster (webserver + daemon) and the web app — and on Ctrl-C/SIGTERM, everything it started stops again,
the embedded database last."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from organizer_pipeline import settings
from organizer_pipeline.db import migrate, urls
from organizer_pipeline.db.embedded import EmbeddedPostgres, default_server, free_port
from organizer_pipeline.db.engine import DAGSTER_DB, WAREHOUSE_DB, check_connection, ensure_database
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.processes import organizer_command, wait_for_http

log = logging.getLogger("organizer.up")


@dataclass
class Supervisor:
    """The child processes of `organizer up`, each in its own process group so one signal stops it all.

    Nothing outlives up, however it ends:
    - Ctrl-C / SIGTERM: `stop_all` — SIGTERM to every group, a grace period, SIGKILL to what is left, then
      the embedded database is stopped;
    - up itself killed (SIGKILL, OOM, a closed terminal): the kernel sends each direct child SIGTERM
      (PR_SET_PDEATHSIG), and the guardian — a small process in its own session that holds the other end of
      a pipe from up — sees the pipe close and does what `stop_all` would have done, database included.
    """

    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    guardian: subprocess.Popen | None = None
    _orders: Any = None  # the write end of the guardian's pipe

    def start_guardian(self) -> None:
        read, write = os.pipe()  # not inherited by the other children: only the guardian holds the read end
        try:
            self.guardian = subprocess.Popen(
                [sys.executable, "-c", "from organizer_pipeline.up import guard; guard()"],
                stdin=read,
                stdout=self._log("guardian"),
                stderr=subprocess.STDOUT,
                cwd=settings.PROJECT_ROOT,
                start_new_session=True,  # outside the terminal's process group: Ctrl-C is up's business
            )
        finally:
            os.close(read)
        self._orders = os.fdopen(write, "w", buffering=1)

    def _tell(self, line: str) -> None:
        if self._orders is not None:
            self._orders.write(line + "\n")

    def database_started(self, data_dir: Path) -> None:
        self._tell(f"db {data_dir}")

    def release_guardian(self) -> None:
        """up cleaned up after itself: the guardian has nothing to do."""
        if self._orders is not None:
            self._tell("done")
            self._orders.close()
            self._orders = None
        if self.guardian is not None:
            try:
                self.guardian.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.guardian.kill()

    @staticmethod
    def _log(name: str):
        log_dir = settings.STATE_DIR / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        return open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=settings.PROJECT_ROOT,
            stdout=self._log(name),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # noqa: PLW1509 - up is single-threaded when it starts children
        )
        self.children.append((name, process))
        self._tell(f"group {process.pid}")
        return process

    def first_exited(self) -> tuple[str, int] | None:
        for name, process in self.children:
            if process.poll() is not None:
                return name, process.returncode
        return None

    def stop_all(self, grace: float = 20.0) -> None:
        processes = [process for _, process in self.children]
        stop_groups([p.pid for p in processes], grace, reap=lambda: [p.poll() for p in processes])


def stop_groups(groups: list[int], grace: float, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM every process group (the last started first), wait until they are all gone or `grace` has
    passed, then SIGKILL whatever is left (grandchildren included: they share the group)."""
    for pgid in reversed(groups):
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap()  # our own exited children stay zombies (and their group alive) until waited for
        if not any(_group_alive(pgid) for pgid in groups):
            break
        time.sleep(0.2)
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)
    reap()


def guard(grace: float = 20.0) -> None:
    """The guardian (see Supervisor): read up's orders until the pipe closes; unless up said it cleaned up,
    stop its process groups and the embedded database it started."""
    groups: list[int] = []
    data_dir, done = None, False
    for line in sys.stdin:
        kind, _, value = line.strip().partition(" ")
        if kind == "group":
            groups.append(int(value))
        elif kind == "db":
            data_dir = Path(value)
        elif kind == "done":
            done = True
    if done:
        return
    stop_groups(groups, grace)
    if data_dir is not None:
        EmbeddedPostgres(data_dir).stop()
    print(
        f"guardian: organizer up ended without cleaning up; stopped {len(groups)} process groups", flush=True
    )


PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """A preexec function: the kernel sends the child SIGTERM when `organizer up` dies, however it dies.
    SIGTERM, not SIGKILL: `dagster dev` and uvicorn then stop their own children. If up died before the
    child got here, the child stops itself. Linux only (elsewhere: None, the guardian still acts)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_database(env: dict[str, str]) -> bool:
    """Point env at the databases (starting the embedded one if no DATABASE_URL); True when we started it."""
    started = False
    if settings.env("DATABASE_URL"):
        warehouse = urls.normalize(settings.env("DATABASE_URL") or "")
        log.info("database: DATABASE_URL (%s); the embedded server is not used", urls.describe(warehouse))
    else:
        server = default_server()
        started = server.start()
        warehouse = urls.normalize(server.url(WAREHOUSE_DB))
        log.info(
            "database: embedded PostgreSQL %s at %s (data in %s)",
            "started" if started else "already running",
            urls.describe(warehouse),
            server.data_dir,
        )
    dagster = urls.normalize(settings.env("DAGSTER_PG_URL") or urls.with_database(warehouse, DAGSTER_DB))
    for url in (warehouse, dagster):
        ensure_database(url)
        check_connection(url)
    migrate.upgrade(warehouse)
    build_kpi_views(warehouse)
    env["DATABASE_URL"] = urls.render(warehouse)
    env["DAGSTER_PG_URL"] = urls.render(dagster)
    return started


def build_kpi_views(warehouse) -> None:
    """The dashboard works from the first start; later refreshes follow the data (kpi automation)."""
    from organizer_pipeline.db.engine import get_engine
    from organizer_pipeline.kpi.build import build_all

    build_all(get_engine(warehouse))


def start_simulators(supervisor: Supervisor, env: dict[str, str], mode: str) -> list[str]:
    from organizer_pipeline.sandbox import SIMULATORS

    simulated = []
    for sim in SIMULATORS.values():
        if mode == "off" or all(env.get(name) for name in sim.credentials):
            continue
        port = free_port()
        supervisor.start(
            f"sandbox-{sim.name}",
            organizer_command("sandbox", "serve", sim.name, "--port", str(port)),
            env,
        )
        env.update(sim.env(f"http://127.0.0.1:{port}"))
        simulated.append(sim.name)
        log.info(
            "%s: credentials absent (%s) -> sandbox simulator at http://127.0.0.1:%s",
            sim.name,
            ", ".join(sim.credentials),
            port,
        )
    return simulated


def run_everything(dagster_port: int | None, web_port: int | None, host: str | None, sandbox: str) -> int:
    env = dict(os.environ)  # `.env` included: the CLI read it at start
    env["DAGSTER_HOME"] = str(settings.PROJECT_ROOT)  # the top-level dagster.yaml
    from organizer_pipeline.cvdw.partitions import DAGSTER_ENV

    for name, value in DAGSTER_ENV.items():  # the daemon and webserver create range runs too
        env.setdefault(name, value)
    env.setdefault("PYTHONUNBUFFERED", "1")
    dagster_host = host or settings.env("DAGSTER_WEB_HOST")
    web_host = host or settings.env("ORGANIZER_WEB_HOST")
    dagster_port = dagster_port or settings.env_int("DAGSTER_WEB_PORT")
    web_port = web_port or settings.env_int("ORGANIZER_WEB_PORT")

    supervisor = Supervisor()
    started_db = False
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        supervisor.start_guardian()
        started_db = prepare_database(env)
        if started_db:
            supervisor.database_started(default_server().data_dir)
        set_cvdw_pool_limit(env)
        simulated = start_simulators(supervisor, env, sandbox)
        if not env.get("HOTMART_HOTTOK"):
            env["HOTMART_HOTTOK"] = secrets.token_urlsafe(24)
            log.info("hotmart: HOTMART_HOTTOK not set -> a random one for this session (sandbox events only)")
            simulated.append("hotmart")
        if not env.get("ORGANIZER_API_TOKEN"):
            env["ORGANIZER_API_TOKEN"] = secrets.token_urlsafe(24)
            log.info(
                "api: ORGANIZER_API_TOKEN not set -> for this session use: %s", env["ORGANIZER_API_TOKEN"]
            )
        web_url = f"http://{web_host}:{web_port}"
        env.setdefault("ORGANIZER_WEB_URL", web_url)
        dagster_bin = str(Path(sys.executable).parent / "dagster")
        supervisor.start(
            "dagster",
            [
                dagster_bin,
                "dev",
                "-w",
                str(settings.PROJECT_ROOT / "workspace.yaml"),
                "-h",
                dagster_host,
                "-p",
                str(dagster_port),
            ],
            env,
        )
        supervisor.start(
            "web",
            # two workers: the webhook benchmark's figures are with two (2 cores)
            organizer_command("web", "--host", web_host, "--port", str(web_port), "--workers", "2"),
            env,
        )
        if "hotmart" in simulated:
            start_hotmart_trickle(supervisor, env, web_url)
        ready_web = wait_for_http(f"{web_url}/health", 60)
        ready_dagster = wait_for_http(f"http://{dagster_host}:{dagster_port}/server_info", 180)
        if ready_dagster and "cvdw" in simulated:
            load_sandbox_history(f"http://{dagster_host}:{dagster_port}", env["CVDW_START_DATE"])
        print(
            f"\n  Dagster UI : http://{dagster_host}:{dagster_port}{'' if ready_dagster else '  (still starting)'}"
            f"\n  Web app    : {web_url}  (health {web_url}/health, dashboard {web_url}/dashboard)"
            f"{'' if ready_web else '  (still starting)'}"
            f"\n  Logs       : {settings.STATE_DIR / 'logs'}"
            f"\n  Sandbox    : {', '.join(simulated) or 'none: every API uses real credentials'}"
            "\n  Ctrl-C stops everything started here.\n",
            flush=True,
        )
        while not stopping:
            exited = supervisor.first_exited()
            if exited:
                name, code = exited
                log.error(
                    "%s exited with code %s (see %s) - stopping everything",
                    name,
                    code,
                    settings.STATE_DIR / "logs" / f"{name}.log",
                )
                return 1
            time.sleep(0.5)
        return 0
    except OrganizerError:
        raise
    finally:
        log.info("stopping %d processes", len(supervisor.children))
        supervisor.stop_all()
        if started_db:
            default_server().stop()
            log.info("embedded PostgreSQL stopped")
        supervisor.release_guardian()


def set_cvdw_pool_limit(env: dict[str, str]) -> None:
    """Name the pool explicitly (dagster.yaml's default_limit covers it too, but the UI then shows it)."""
    dagster_bin = str(Path(sys.executable).parent / "dagster")
    result = subprocess.run(
        [dagster_bin, "instance", "concurrency", "set", "cvdw_api", "1"],
        env=env,
        cwd=settings.PROJECT_ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise OrganizerError(f"dagster instance: {lines[-1] if lines else 'failed'} (check DAGSTER_PG_URL)")


def load_sandbox_history(dagster_url: str, start: str) -> None:
    """Sandbox demo: the simulator's whole company (from `start`, its first day, to today) as one Dagster
    backfill, at the first start only (`cvdw/history.py` asks for missing partitions alone); the 4-hourly
    schedule takes over after."""
    from organizer_pipeline.cvdw import history, partitions

    first = datetime.strptime(start, partitions.DAY_FORMAT).date()
    try:
        history.ensure_history(
            dagster_url, first, partitions.today(), trigger="organizer up", wait_seconds=120
        )
    except OrganizerError as error:
        log.warning(
            "cvdw: sandbox history not launched (%s); launch it with `organizer cvdw backfill`", error
        )


def start_hotmart_trickle(supervisor: Supervisor, env: dict[str, str], web_url: str) -> None:
    """Demo events so a newcomer sees sensor-triggered runs; the generator lives in sandbox/hotmart.py."""
    from organizer_pipeline.sandbox import hotmart_feed

    command = hotmart_feed.trickle_command(web_url)
    if command:
        supervisor.start("sandbox-hotmart", command, env)
        log.info("hotmart: sandbox trickle of demo events -> %s/webhooks/hotmart", web_url)
