"""Configuration works the same for every command: `.env` is read by the CLI (the shell wins), an empty value
means the default everywhere, the state dir is read when used (not at import), and Dagster's compute logs
follow ORGANIZER_STATE_DIR whatever the current directory."""

from __future__ import annotations

import os

import pytest
import yaml

from organizer_pipeline import cli, settings
from organizer_pipeline.ops import backup


@pytest.fixture
def dotenv(tmp_path, monkeypatch):
    """A .env file the CLI reads instead of the project's; the variables it sets are undone after the test."""
    path = tmp_path / ".env"
    monkeypatch.setattr(settings, "DOTENV", path)

    def write(text: str) -> None:
        path.write_text(text)
        for line in text.splitlines():
            name = line.removeprefix("export ").partition("=")[0].strip()
            if name and not name.startswith("#") and name not in os.environ:
                monkeypatch.setenv(name, "placeholder")  # records "unset" for the undo
                monkeypatch.delenv(name)

    return write


def test_every_command_reads_dotenv(dotenv, monkeypatch, capsys):
    from organizer_pipeline.sandbox.cvdw import create_app
    from organizer_pipeline.sandbox.server import serve_in_thread

    with serve_in_thread(create_app(start="2023-10-01", n_reservas=20)) as root:
        dotenv(
            "# credentials live here, not in the shell\n"
            "CVCRM_API_EMAIL=sandbox@example.com\n"
            "export CVCRM_API_TOKEN='sandbox-token'\n"
            f'CVDW_BASE_URL="{root}/api/v1/cvdw"\n'
            "CVDW_MAX_REQUESTS_PER_MINUTE=0  # no client-side limit\n"
        )
        assert cli.main(["cvdw", "ping", "--endpoint", "reservas"], dotenv=True) == 0
    assert f"CVDW at {root}/api/v1/cvdw" in capsys.readouterr().out


def test_dotenv_rules(dotenv, monkeypatch):
    monkeypatch.setenv("ORGANIZER_WEB_HOST", "0.0.0.0")
    dotenv(
        "ORGANIZER_WEB_HOST=10.0.0.1\nORGANIZER_STATE_DIR=\nAUDIT_LOG_RETENTION_DAYS = 7\n\n# BACKUP_KEEP=3\n"
    )
    assert settings.load_dotenv() == ["AUDIT_LOG_RETENTION_DAYS"]
    assert settings.env("ORGANIZER_WEB_HOST") == "0.0.0.0"  # the shell wins
    assert "ORGANIZER_STATE_DIR" not in os.environ  # empty: not set at all, so the default holds
    assert settings.env_int("AUDIT_LOG_RETENTION_DAYS") == 7 and settings.env_int("BACKUP_KEEP") == 8

    dotenv("this line is not a setting\n")
    with pytest.raises(settings.ConfigError, match=r"\.env:1: expected KEY=VALUE"):
        settings.load_dotenv()


def test_an_empty_value_means_the_default(monkeypatch, tmp_path):
    for name in ("ORGANIZER_STATE_DIR", "BACKUP_DIR", "ORGANIZER_WEB_PORT", "CVDW_MAX_REQUESTS_PER_MINUTE"):
        monkeypatch.setenv(name, "")
    assert settings.STATE_DIR == settings.PROJECT_ROOT / ".organizer"  # not the current directory
    assert backup.default_backup_dir() == settings.PROJECT_ROOT / ".organizer" / "backups"
    assert settings.env_int("ORGANIZER_WEB_PORT") == 8080
    assert settings.env_float("CVDW_MAX_REQUESTS_PER_MINUTE") == 20

    monkeypatch.setenv("ORGANIZER_STATE_DIR", str(tmp_path))  # read when used, so .env counts
    assert settings.STATE_DIR == tmp_path and backup.default_backup_dir() == tmp_path / "backups"
    monkeypatch.setenv("ORGANIZER_STATE_DIR", "state")  # relative: from the project, not the current dir
    assert settings.STATE_DIR == settings.PROJECT_ROOT / "state"


def test_dagster_files_follow_the_state_dir_from_any_directory(monkeypatch, tmp_path):
    from dagster._core.instance.ref import InstanceRef

    def dirs() -> tuple[str, str]:
        ref = InstanceRef.from_dir(str(settings.PROJECT_ROOT))
        return ref.compute_log_manager._base_dir, ref.local_artifact_storage.base_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORGANIZER_STATE_DIR", str(tmp_path / "state"))
    assert dirs() == (str(tmp_path / "state/dagster/compute_logs"), str(tmp_path / "state/dagster/storage"))
    monkeypatch.setenv("ORGANIZER_STATE_DIR", "")
    default = settings.PROJECT_ROOT / ".organizer" / "dagster"
    assert dirs() == (str(default / "compute_logs"), str(default / "storage"))


def test_compose_keeps_the_image_paths_when_dotenv_leaves_them_empty():
    """env_file copies `BACKUP_DIR=` from .env as an empty value; `environment` wins over env_file, and
    `${X:-default}` treats empty as unset."""
    compose = yaml.safe_load((settings.PROJECT_ROOT / "docker-compose.yml").read_text())
    environment = compose["x-app"]["environment"]
    assert environment["BACKUP_DIR"] == "${BACKUP_DIR:-/backups}"
    assert environment["ORGANIZER_STATE_DIR"] == "${ORGANIZER_STATE_DIR:-/app/.organizer}"
