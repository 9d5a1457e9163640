"""Store locations for the history tests: an SQLite file, or a database on a real,
throw-away PostgreSQL server.

The server is a private cluster made with the Debian binaries (initdb, pg_ctl) in a
temporary directory: it listens only on a unix socket in that directory (no TCP at all),
runs as ``nobody`` because PostgreSQL refuses to run as root, and is stopped and removed
when the test session ends. The system cluster the ``postgresql`` package may have set
up is never touched. Each test gets a database of its own.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pg_cluster import UNPRIVILEGED, discard_cluster, postgresql_binaries

SUPERUSER = "porthole"


@dataclass(frozen=True, slots=True, kw_only=True)
class PostgresServer:
    socket_directory: Path

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_directory}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    binaries = postgresql_binaries()
    # mkdtemp in /tmp, not tmp_path: pytest's base directory is private to root, and the
    # server (running as nobody) must reach its directory; the unix socket path must also
    # stay under the 107-byte limit
    directory = Path(tempfile.mkdtemp(prefix="porthole-pg-"))
    nobody = pwd.getpwnam("nobody")
    os.chown(directory, nobody.pw_uid, nobody.pw_gid)
    data = directory / "data"
    log = directory / "server.log"

    def as_nobody(*command: str) -> None:
        subprocess.run([*UNPRIVILEGED, *command], check=True, capture_output=True, timeout=120, cwd=directory)

    try:
        as_nobody(str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
        # listen_addresses='' : unix socket only; fsync off: a throw-away cluster needs no durability
        options = f"-c listen_addresses='' -c unix_socket_directories={directory} -c fsync=off -c max_connections=50"
        as_nobody(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    except subprocess.CalledProcessError as exc:
        server_log = log.read_text(errors="replace") if log.exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(f"could not start the test PostgreSQL server: {exc.stderr.decode(errors='replace')}\n{server_log}")
    try:
        yield PostgresServer(socket_directory=directory)
    finally:
        discard_cluster(binaries, directory)


_database_numbers = itertools.count(1)


@pytest.fixture
def postgresql_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the test server."""
    import psycopg

    database = f"store_test_{next(_database_numbers)}"
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    return postgres_server.url(database)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives, once per backend: a file path or a ``postgresql://`` URL."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    return request.getfixturevalue("postgresql_url")


@pytest.fixture
def execute_directly():
    """``execute_directly(location, statement, parameters)``: one statement on the store's
    database behind porthole's back (``?`` placeholders on both backends)."""
    return _execute_directly


def _execute_directly(location: str, statement: str, parameters: tuple = ()) -> list[tuple]:
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location, autocommit=True) as connection:
            cursor = connection.execute(statement.replace("?", "%s"), parameters)
            return cursor.fetchall() if cursor.description else []
    import sqlite3

    with sqlite3.connect(location) as connection:
        return connection.execute(statement, parameters).fetchall()
