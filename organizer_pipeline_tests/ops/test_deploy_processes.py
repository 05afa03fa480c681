"""The docker-compose process layout without containers: a code server over gRPC, the Dagster webserver
and daemon loading it through a workspace file, and the web app — all against the test database. Each must
come up healthy; then all are stopped and none may be left behind."""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import free_port
from organizer_pipeline.db.engine import ensure_database
from organizer_pipeline.processes import organizer_command
from organizer_pipeline_tests.conftest import drop_database

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
STATUS_QUERY = """{
  workspaceOrError { ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on PythonError { message }
      ... on RepositoryLocation { repositories { name
      schedules { name scheduleState { status } } sensors { name sensorState { status } } } } } } } }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } }
}"""


@pytest.fixture
def dagster_home(db_url, pg_server):
    home = settings.STATE_DIR / f"test-deploy-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    shutil.copy(settings.PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    dagster_db = urls.normalize(os.environ["DAGSTER_PG_URL"])
    ensure_database(dagster_db)
    yield home
    shutil.rmtree(home, ignore_errors=True)
    drop_database(pg_server, dagster_db.database)


def wait_until(check, timeout: float, what: str, processes: dict):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                log = Path(process.args[0]).name, _log_tail(process)
                raise AssertionError(f"{name} exited with {process.returncode}: {log}")
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, KeyError, TypeError):
            pass
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _log_tail(process: subprocess.Popen) -> str:
    """The last lines its log file holds (the test writes each process's output to <home>/<name>.log)."""
    log = getattr(process, "log_path", None)
    try:
        return "\n".join(Path(log).read_text(errors="replace").splitlines()[-15:]) if log else ""
    except OSError:
        return ""


def test_code_server_webserver_daemon_and_web_app_come_up_healthy(dagster_home):
    grpc_port, ui_port, web_port = free_port(), free_port(), free_port()
    (dagster_home / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "grpc_server": {
                            "host": "127.0.0.1",
                            "port": grpc_port,
                            "location_name": "organizer_pipeline",
                        }
                    }
                ]
            }
        )
    )
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "PYTHONUNBUFFERED": "1"}
    workspace = str(dagster_home / "workspace.yaml")
    commands = {
        "code_server": [
            str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(grpc_port),
            "-m", "organizer_pipeline.definitions", "--location-name", "organizer_pipeline", "--log-format", "json",
        ],
        "webserver": [
            str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(ui_port), "-w", workspace, "--log-format", "json",
        ],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", workspace, "--log-format", "json"],
        "web": organizer_command("web", "--port", str(web_port)),
    }  # fmt: skip
    processes: dict[str, subprocess.Popen] = {}
    logs = {name: open(dagster_home / f"{name}.log", "wb") for name in commands}  # noqa: SIM115

    def start(name: str) -> None:
        processes[name] = subprocess.Popen(
            commands[name], env=env, cwd=dagster_home, stdout=logs[name], stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        processes[name].log_path = dagster_home / f"{name}.log"

    try:
        # As docker-compose orders them: the webserver and the daemon once the code server is healthy (a
        # webserver that finds no code server keeps the location's load error until it is reloaded).
        start("code_server")
        health_check = [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(grpc_port)]
        wait_until(
            lambda: subprocess.run(health_check, env=env, capture_output=True).returncode == 0,
            180, "the code server's gRPC health check", processes,
        )  # fmt: skip
        for name in ("webserver", "daemon", "web"):
            start(name)
        ui = f"http://127.0.0.1:{ui_port}"
        wait_until(lambda: requests.get(f"{ui}/server_info", timeout=3).ok, 180, "the webserver", processes)
        web = f"http://127.0.0.1:{web_port}"
        health = wait_until(lambda: requests.get(f"{web}/health", timeout=3), 60, "the web app", processes)
        assert health.status_code == 200 and health.json()["database"] == "ok"

        def daemon_healthy():
            data = requests.post(f"{ui}/graphql", json={"query": STATUS_QUERY}, timeout=30).json()["data"]
            statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
            required = [s for s in statuses if s["required"]]
            return data if required and all(s["healthy"] for s in required) else None

        data = wait_until(daemon_healthy, 180, "the daemon's heartbeats", processes)
        liveness = subprocess.run(
            [str(BIN / "dagster-daemon"), "liveness-check"], env=env, capture_output=True
        )
        assert liveness.returncode == 0, liveness.stdout + liveness.stderr

        [entry] = data["workspaceOrError"]["locationEntries"]
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        [repository] = location["repositories"]
        schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
        sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
        assert schedules["audit_log_cleanup"] == schedules["db_health"] == "RUNNING"
        assert sensors["run_failure_alerts"] == "RUNNING"
    finally:
        for process in processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for log in logs.values():
            log.close()
    assert all(process.poll() is not None for process in processes.values())
