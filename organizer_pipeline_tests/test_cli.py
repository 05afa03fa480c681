"""Every `organizer` command ends in one line a person can act on, never a traceback — for the inputs an
operator really types: a bad or unreachable DATABASE_URL, a database that is not migrated, malformed numbers,
ports and URLs in the environment, bad arguments. And `--help` works for every command whatever the
environment holds."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess

import pytest

from organizer_pipeline import cli, settings
from organizer_pipeline.db import urls
from organizer_pipeline.processes import organizer_command
from organizer_pipeline_tests.conftest import create_database, drop_database

HOSTILE_ENV = {
    "ORGANIZER_WEB_PORT": "eighty",
    "ORGANIZER_PG_PORT": "x",
    "CVDW_MAX_REQUESTS_PER_MINUTE": "lots",
    "DAGSTER_WEB_PORT": "-1",
    "CVDW_BASE_URL": "acme.cvcrm.com.br/api/v1/cvdw",
    "DATABASE_URL": "not a url",
    "ORGANIZER_LOG_LEVEL": "chatty",
}
DB_COMMANDS = [
    ["hotmart", "status"],
    ["hotmart", "process"],
    ["backup"],
    ["erase", "--email", "ana@gmail.com"],
]


def run(argv: list[str], capsys) -> tuple[int, str]:
    """`organizer ARGV` in this process: (exit code, what it printed on stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse
        code = stop.code
    return code, capsys.readouterr().err


def one_line(code: int, err: str) -> str:
    """The error line, checked: exit 1 or 2, no traceback, one line that is not a JSON log line."""
    assert code in (1, 2), (code, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, err
    return lines[0]


def subcommand_paths(parser: argparse.ArgumentParser, prefix=()) -> list[tuple[str, ...]]:
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths += subcommand_paths(sub, (*prefix, name))
    return paths


def test_help_works_for_every_command_whatever_the_environment(monkeypatch, capsys):
    for name, value in HOSTILE_ENV.items():
        monkeypatch.setenv(name, value)
    paths = subcommand_paths(cli.build_parser())
    assert len(paths) > 20 and ("hotmart", "process") in paths and ("sandbox", "serve") in paths
    for path in [(), *paths]:
        with pytest.raises(SystemExit) as stop:
            cli.main([*path, "--help"])
        out = capsys.readouterr()
        assert stop.value.code == 0 and "usage: organizer" in out.out and "Traceback" not in out.err, path


def test_the_real_command_line_too():
    """The installed entry point, with every malformed setting at once: --help, then a command."""
    env = {**os.environ, **HOSTILE_ENV}
    organizer = organizer_command()
    help_ = subprocess.run([*organizer, "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert help_.returncode == 0 and "usage: organizer" in help_.stdout, help_.stderr
    status = subprocess.run(
        [*organizer, "hotmart", "status"], env=env, capture_output=True, text=True, timeout=120
    )
    line = one_line(status.returncode, status.stderr)
    assert "ORGANIZER_LOG_LEVEL must be one of DEBUG" in line


@pytest.mark.parametrize("command", DB_COMMANDS, ids=" ".join)
def test_a_malformed_database_url(command, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "mysql://ana:pw@db/organizer")
    assert "must be PostgreSQL" in one_line(*run(command, capsys))


@pytest.mark.parametrize("command", DB_COMMANDS, ids=" ".join)
def test_an_unreachable_database(command, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://ana:s3cret-pw@127.0.0.1:9/organizer")
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql://ana:s3cret-pw@127.0.0.1:9/dagster")
    line = one_line(*run(command, capsys))
    assert "127.0.0.1:9" in line and "is the server running" in line and "s3cret-pw" not in line


@pytest.fixture
def unmigrated(pg_server, template_url, monkeypatch):
    """An empty database: as if `organizer db upgrade` had never run."""
    name = f"{template_url.database}_empty"
    url = create_database(pg_server, name)
    monkeypatch.setenv("DATABASE_URL", urls.render(url))
    yield url
    drop_database(pg_server, name)


@pytest.mark.parametrize(
    "command",
    [["hotmart", "status"], ["hotmart", "process"], ["erase", "--email", "ana@gmail.com"]],
    ids=" ".join,
)
def test_a_database_that_is_not_migrated(command, unmigrated, capsys):
    line = one_line(*run(command, capsys))
    assert "not migrated" in line and "run `organizer db upgrade`" in line


@pytest.mark.parametrize(
    ("name", "value", "command", "expected"),
    [
        (
            "ORGANIZER_WEB_PORT",
            "eighty",
            ["web"],
            "ORGANIZER_WEB_PORT must be a TCP port (1-65535), got 'eighty'",
        ),
        (
            "ORGANIZER_WEB_PORT",
            "99999",
            ["web"],
            "ORGANIZER_WEB_PORT must be a TCP port (1-65535), got '99999'",
        ),
        ("ORGANIZER_PG_PORT", "x", ["db", "status"], "ORGANIZER_PG_PORT must be a TCP port"),
        (
            "CVDW_MAX_REQUESTS_PER_MINUTE",
            "lots",
            ["cvdw", "ping"],
            "CVDW_MAX_REQUESTS_PER_MINUTE must be a number",
        ),
        (
            "CVDW_BASE_URL",
            "acme.cvcrm.com.br/api/v1/cvdw",
            ["cvdw", "ping"],
            "CVDW_BASE_URL must be a full URL",
        ),
        ("BACKUP_KEEP", "0", ["backup"], "BACKUP_KEEP must be a whole number >= 1"),
    ],
)
def test_a_malformed_setting_is_named(name, value, command, expected, monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CVCRM_API_EMAIL", "ops@example.com")
    monkeypatch.setenv("CVCRM_API_TOKEN", "t0ken-value")
    monkeypatch.setenv("CVDW_BASE_URL", "http://127.0.0.1:9/api/v1/cvdw")
    monkeypatch.setenv(name, value)
    if command == ["backup"]:  # BACKUP_KEEP is read by the weekly job: through the same accessor
        with pytest.raises(settings.ConfigError, match=expected):
            settings.env_int(name)
        return
    assert expected in one_line(*run(command, capsys))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["hotmart", "process", "--batch-size", "-5"], "--batch-size: must be a whole number >= 1, got '-5'"),
        (["web", "--port", "99999"], "--port: must be a TCP port (1-65535), got '99999'"),
        (["up", "--web-port", "http"], "--web-port: must be a TCP port"),
        (["restore"], "the following arguments are required: file"),
    ],
)
def test_bad_arguments_are_one_line(argv, expected, capsys):
    code, err = run(argv, capsys)
    assert code == 2 and expected in one_line(code, err)


def test_an_unexpected_error_is_still_one_line(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("disk on fire\nsecond line of detail for ana@gmail.com")

    monkeypatch.setattr(cli, "cmd_db", broken)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.choices["db"].set_defaults(func=broken)
    line = one_line(*run(["db", "url"], capsys))
    assert line.startswith("organizer: unexpected RuntimeError: disk on fire") and "ana@gmail.com" not in line


def test_web_and_simulators_print_their_url_at_start_and_stop_on_sigterm(tmp_path):
    """Started with SIGTERM ignored, as children of a Dagster process whose SIGINT is ignored are (the
    pytest-xdist worker after an in-process run, a background job of a non-interactive shell): a SIGTERM
    that came before uvicorn took over the signals was lost, and the simulator ran on."""
    from organizer_pipeline.db.embedded import free_port

    port = free_port()
    for argv, expected in (
        (["web", "--port", str(port)], f"organizer web: http://127.0.0.1:{port}"),
        (["sandbox", "serve", "brevo"], "brevo simulator: http://127.0.0.1:"),
    ):
        process = subprocess.Popen(
            organizer_command(*argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "DATABASE_URL": "postgresql://u@127.0.0.1:9/x"},
            preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
        )
        try:
            assert process.stdout.readline().startswith(expected)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            finally:
                process.kill()
        assert process.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), (argv, process.returncode)
