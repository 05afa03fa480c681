"""`make run` end to end: everything comes up, the sandbox company's history arrives as one backfill and the
dashboard shows it (the first look, issue 14), Ctrl-C leaves nothing behind, a second start reuses the data and
launches no second backfill, and when `organizer up` itself is killed (SIGKILL) nothing outlives it either."""

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

import psutil
import pytest
import requests
import sqlalchemy as sa

from organizer_pipeline import settings
from organizer_pipeline.db.embedded import EmbeddedPostgres, free_port, port_is_free
from organizer_pipeline.processes import organizer_command
from organizer_pipeline_tests.browser import CHROMIUM, chromium, screenshot

pytestmark = pytest.mark.slow

WORKSPACE_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
FIRST_LOOK_QUERY = """{
  partitionBackfillsOrError { ... on PartitionBackfills { results { id status timestamp endTimestamp } } }
  runsOrError(filter: {pipelineName: "hotmart_inbox_job"}) { ... on Runs { results { creationTime } } }
  assetNodes(assetKeys: [{path: ["empreendimentos"]}, {path: ["tipologias"]}, {path: ["prosoluto"]}]) {
    assetKey { path } partitionDefinition { description } assetMaterializations(limit: 1) { timestamp } } }"""
TOKEN = "first-look-token"


@pytest.fixture
def state_dir():
    path = settings.PROJECT_ROOT / ".organizer" / f"test-up-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    yield path
    EmbeddedPostgres(path / "pgdata").stop()
    shutil.rmtree(path, ignore_errors=True)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Up(subprocess.Popen):
    """`organizer up` with its output read as it comes (`text()`), so a test can wait for a line."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.stdout), daemon=True)
        self.reader.start()

    def text(self) -> str:
        return "".join(self.lines)

    def finish(self, timeout: float) -> str:
        self.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return self.text()


def start_up(state_dir, dagster_port, web_port) -> Up:
    env = {k: v for k, v in os.environ.items() if k not in settings.ENV_VARS and k != "DAGSTER_HOME"}
    env.update(
        ORGANIZER_STATE_DIR=str(state_dir), ORGANIZER_PG_PORT=str(free_port()), ORGANIZER_API_TOKEN=TOKEN
    )
    return Up(
        organizer_command("up", "--dagster-port", str(dagster_port), "--web-port", str(web_port)),
        env=env,
        cwd=settings.PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def is_alive(pid: int) -> bool:
    """Running and not a zombie (an exited daemon may linger unreaped under its new parent)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_and_check_nothing_left(up: Up, state_dir) -> str:
    descendants = psutil.Process(up.pid).children(recursive=True)
    assert descendants, "up started no processes"
    postmaster = EmbeddedPostgres(state_dir / "pgdata")._postmaster()
    up.send_signal(signal.SIGINT)
    output = up.finish(timeout=90)
    assert up.returncode == 0, output
    time.sleep(1)
    alive = [p for p in descendants if is_alive(p.pid)]
    assert not alive, f"left behind: {[p.cmdline() for p in alive]}"
    assert postmaster and not is_alive(postmaster[0]), "embedded PostgreSQL still running"
    assert not (state_dir / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL not shut down cleanly"
    return output


def api(web_port: int, view: str) -> list[dict]:
    answer = requests.get(
        f"http://127.0.0.1:{web_port}/api/kpis/{view}?limit=1000",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["data"]


def dagster_state(dagster_port: int) -> dict:
    answer = requests.post(
        f"http://127.0.0.1:{dagster_port}/graphql", json={"query": FIRST_LOOK_QUERY}, timeout=60
    ).json()
    return answer["data"]


def first_look(dagster_port: int, web_port: int, tmp_path) -> None:
    """What a newcomer sees within minutes of `make run` with no credentials: the company's history loaded by
    one completed backfill, a year or more of sales and VSO, whole derived tables, a readable Runs page."""
    wait_until(
        lambda: (
            [b["status"] for b in dagster_state(dagster_port)["partitionBackfillsOrError"]["results"]]
            == ["COMPLETED_SUCCESS"]
        ),
        480,
        "the history backfill to complete",
    )
    wait_until(
        lambda: (
            len({r["mes"] for r in api(web_port, "vendas_mensal") if r["total"] and r["vendas"]}) >= 12
            and len({r["mes"] for r in api(web_port, "vso_mensal") if r["total"] and r["vso"] is not None})
            >= 12
        ),
        300,
        "12 months of sales and of VSO in the BI API",
    )
    wait_until(
        lambda: all(node["assetMaterializations"] for node in dagster_state(dagster_port)["assetNodes"]),
        180,
        "the derived tables to be built",
    )
    wait_until(  # the view over prosoluto follows it (the next automation tick)
        lambda: (
            len({r["mes"] for r in api(web_port, "prosoluto_mensal") if r["total"] and r["valor_prosoluto"]})
            >= 12
        ),
        180,
        "12 months of pró-soluto",
    )
    state = dagster_state(dagster_port)
    assert all(node["partitionDefinition"] is None for node in state["assetNodes"])  # whole tables
    created = sorted(run["creationTime"] for run in state["runsOrError"]["results"])
    busiest = max((sum(1 for t in created if start <= t < start + 180) for start in created), default=0)
    assert busiest <= 6, f"{busiest} Hotmart runs within 3 minutes"
    if CHROMIUM:
        dashboard = f"http://127.0.0.1:{web_port}/dashboard"
        dom = chromium(["--dump-dom", dashboard], tmp_path)
        assert 'data-js-errors="[]"' in dom.stdout and 'data-charts-rendered="7"' in dom.stdout
        screenshot(dashboard, "first_look_dashboard.png", tmp_path, size="1600,1800")


def test_make_run_starts_everything_and_ctrl_c_stops_it(state_dir, tmp_path):
    dagster_port, web_port = free_port(), free_port()
    up = start_up(state_dir, dagster_port, web_port)
    try:
        wait_until(
            lambda: requests.get(f"http://127.0.0.1:{web_port}/health", timeout=2).json()["database"] == "ok",
            120,
            "/health",
        )
        wait_until(
            lambda: requests.get(f"http://127.0.0.1:{dagster_port}/server_info", timeout=2).ok,
            240,
            "the Dagster UI",
        )
        answer = requests.post(
            f"http://127.0.0.1:{dagster_port}/graphql", json={"query": WORKSPACE_QUERY}, timeout=30
        ).json()
        entries = answer["data"]["workspaceOrError"]["locationEntries"]
        assert [e["locationOrLoadError"]["__typename"] for e in entries] == ["RepositoryLocation"], entries
        first_look(dagster_port, web_port, tmp_path)
        server = EmbeddedPostgres(state_dir / "pgdata")
        engine = sa.create_engine(server.url("organizer"), poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("insert into ops.audit_log (actor, action) values ('test', 'marker')"))
        engine.dispose()
    finally:
        if up.poll() is None:
            output = stop_and_check_nothing_left(up, state_dir)
    assert "Dagster UI" in output and "Web app" in output

    # Second start: same data, nothing re-initialised (port 8080 of the first run was given back).
    dagster_port = free_port()
    up = start_up(state_dir, dagster_port, web_port)
    try:
        wait_until(lambda: requests.get(f"http://127.0.0.1:{web_port}/health", timeout=2).ok, 120, "/health")
        engine = sa.create_engine(
            EmbeddedPostgres(state_dir / "pgdata").url("organizer"), poolclass=sa.pool.NullPool
        )
        with engine.connect() as conn:
            assert (
                conn.execute(sa.text("select count(*) from ops.audit_log where action='marker'")).scalar()
                == 1
            )
        engine.dispose()
        wait_until(
            lambda: requests.get(f"http://127.0.0.1:{dagster_port}/server_info", timeout=2).ok, 240, "Dagster"
        )
        # The history is loaded: no second backfill, not even of part of it.
        wait_until(lambda: "already loaded: no backfill" in up.text(), 180, "the history check")
        backfills = dagster_state(dagster_port)["partitionBackfillsOrError"]["results"]
        assert len(backfills) == 1, backfills
    finally:
        if up.poll() is None:
            kill_and_check_nothing_left(up, state_dir)


def listening_ports(processes) -> set[int]:
    ports = set()
    for process in processes:
        try:
            ports |= {c.laddr.port for c in process.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        except psutil.Error:
            pass
    return ports


def kill_and_check_nothing_left(up: Up, state_dir) -> None:
    """SIGKILL the supervisor (no chance to clean up): its children, their children and the embedded
    database it started must all go, and every port they listened on must be free again."""
    descendants = psutil.Process(up.pid).children(recursive=True)
    postmaster = EmbeddedPostgres(state_dir / "pgdata")._postmaster()
    ports = listening_ports(descendants) | {postmaster[1]}
    assert len(ports) >= 6, ports  # Dagster UI, web app, 3 simulators, PostgreSQL (and gRPC servers)
    up.kill()
    up.finish(timeout=30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        any(is_alive(p.pid) for p in descendants) or is_alive(postmaster[0])
    ):
        time.sleep(0.5)
    alive = [p for p in descendants if is_alive(p.pid)]
    assert not alive, f"left behind: {[p.cmdline() for p in alive]}"
    assert not is_alive(postmaster[0]), "embedded PostgreSQL still running"
    taken = [port for port in ports if not port_is_free(port)]
    assert not taken, f"still listening: {taken}"
