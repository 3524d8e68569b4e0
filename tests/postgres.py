"""A real PostgreSQL server for the tests, started by the test session itself in a temporary
folder and stopped at its end: `initdb` and `pg_ctl` from /usr/lib/postgresql/*/bin or PATH,
run as the `postgres` user when the tests run as root (the server refuses root). It listens on
127.0.0.1, on a free port, with fsync off; each test gets a database of its own, copied from
an empty template.

Connections need a password, which the store URLs leave out: it is in PGPASSWORD, as the
README tells users to do. Without the binaries (or psycopg) the PostgreSQL tests skip, saying
why; with OUTREACH_REQUIRE_POSTGRES=1 (as `.ci/run` sets) they fail instead.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE = "OUTREACH_REQUIRE_POSTGRES"
USER = "outreach"
PASSWORD = "test-only-password"  # a throwaway server on loopback
TEMPLATE = "outreach_template"
START_TRIES = 3  # a free port may be taken between the probe and the server's bind


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when PostgreSQL tests must run."""
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"PostgreSQL is required ({REQUIRE}=1) but {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL: {reason} (`.ci/run` installs the server)")


def find_binaries() -> Path | None:
    """The folder with `initdb` and `pg_ctl`: the newest under /usr/lib/postgresql, else PATH."""
    folders = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0,
    )
    for folder in reversed(folders):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).resolve().parent == Path(pg_ctl).resolve().parent:
        return Path(initdb).resolve().parent
    return None


@dataclass
class Server:
    """The tests' server: its programs, its folder (data, log, socket) and its port."""

    binaries: Path
    folder: Path
    port: int = 0
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str) -> str:
        """A store URL without the password: see PGPASSWORD."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        if os.geteuid() == 0:  # the server will not run as root: as postgres, who owns it all
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed: {done.stderr.strip() or done.stdout}\n{log}")

    def start(self) -> None:
        password_file = self.folder / "password"
        password_file.write_text(PASSWORD)
        self.run(
            "initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(password_file),
            "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync",
        )  # fmt: skip
        for attempt in range(START_TRIES):
            self.port = _free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            try:
                self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                         "-w", "-t", "60", "start")  # fmt: skip
                break
            except RuntimeError:
                if attempt == START_TRIES - 1:
                    raise
        self.execute(f"CREATE DATABASE {TEMPLATE}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def execute(self, statement: str) -> None:
        """One statement, outside a transaction (CREATE DATABASE needs that)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
            dbname="postgres", autocommit=True,
        ) as connection:  # fmt: skip
            connection.execute(statement)

    def new_database(self) -> str:
        """The name of a new, empty database."""
        name = f"test_{next(self._counter)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    """A new server in a temporary folder, for as long as the block lasts."""
    binaries = find_binaries()
    if binaries is None:
        unavailable("no initdb and pg_ctl under /usr/lib/postgresql/*/bin or on PATH")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install -c constraints.txt -e '.[test]')")
    folder = Path(tempfile.mkdtemp(prefix="outreach-pg-"))  # short: a socket path is <108
    server = Server(binaries, folder)
    try:
        try:
            if os.geteuid() == 0:
                shutil.chown(folder, "postgres", "postgres")
            server.start()
        except (RuntimeError, OSError, LookupError, subprocess.TimeoutExpired) as exc:
            unavailable(f"the server did not start: {exc}")
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
