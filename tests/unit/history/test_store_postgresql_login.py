"""The PostgreSQL store over TCP with a password (SCRAM-SHA-256) and TLS, as a central
sweep database is usually reached.

A second throw-away cluster (the Debian binaries, run as ``nobody``) listens on
127.0.0.1 only, on a free port, with ``ssl = on`` (a certificate made here) and
``hostssl ... scram-sha-256`` as its only TCP rule: a login needs the right password
*and* TLS. Nothing but loopback is ever contacted.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg_cluster import UNPRIVILEGED, discard_cluster, postgresql_binaries
from porthole.history.store import StoreError, open_store

ROLE, PASSWORD, DATABASE = "sweeper", "c0rrect-h0rse-battery", "sweeps"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tls_password_server() -> Iterator[int]:
    """Port of a cluster that accepts only TLS + SCRAM logins on 127.0.0.1 (module-scoped)."""
    binaries = postgresql_binaries()
    directory = Path(tempfile.mkdtemp(prefix="porthole-pgtls-"))
    nobody = pwd.getpwnam("nobody")
    data, log = directory / "data", directory / "server.log"
    port = _free_port()

    def as_nobody(*command: str) -> None:
        subprocess.run([*UNPRIVILEGED, *command], check=True, capture_output=True, timeout=120, cwd=directory)

    try:
        os.chown(directory, nobody.pw_uid, nobody.pw_gid)
        as_nobody(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--no-sync")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-keyout", str(data / "server.key"), "-out", str(data / "server.crt")],
            check=True, capture_output=True, timeout=60,
        )
        for name in ("server.key", "server.crt"):
            os.chown(data / name, nobody.pw_uid, nobody.pw_gid)
        (data / "server.key").chmod(0o600)
        # TCP: TLS with a SCRAM password only (first match wins); the unix socket stays trust for setup
        hba = data / "pg_hba.conf"
        hba.write_text("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 reject\n", encoding="utf-8")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory} -c ssl=on "
            f"-c password_encryption=scram-sha-256 -c fsync=off -c max_connections=20"
        )
        as_nobody(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        admin = [*UNPRIVILEGED, str(binaries / "psql"), "-h", str(directory), "-p", str(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c"]
        subprocess.run([*admin, f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"], check=True, capture_output=True, timeout=60, cwd=directory)
        subprocess.run([*admin, f"CREATE DATABASE {DATABASE} OWNER {ROLE}"], check=True, capture_output=True, timeout=60, cwd=directory)
    except subprocess.CalledProcessError as exc:
        server_log = log.read_text(errors="replace") if log.exists() else ""
        discard_cluster(binaries, directory)
        pytest.fail(f"could not start the TLS/password PostgreSQL server: {exc.stderr.decode(errors='replace')}\n{server_log}")
    try:
        yield port
    finally:
        discard_cluster(binaries, directory)


def url(port: int, *, password: str = PASSWORD, sslmode: str = "require") -> str:
    return f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/{DATABASE}?sslmode={sslmode}"


def test_the_right_password_over_tls_opens_the_store_and_the_session_is_encrypted(tls_password_server: int) -> None:
    # When the store is opened with the password, TLS required
    store = open_store(url(tls_password_server))
    try:
        # Then the schema is in place, the location shown has no password, and the session is TLS
        assert store.schema_version >= 1
        assert store.path == f"postgresql://{ROLE}:***@127.0.0.1:{tls_password_server}/{DATABASE}?sslmode=require"
    finally:
        store.close()
    import psycopg

    with psycopg.connect(url(tls_password_server)) as connection:
        (encrypted,) = connection.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert encrypted is True


def test_a_wrong_password_is_a_clear_error_that_does_not_repeat_either_password(tls_password_server: int) -> None:
    with pytest.raises(StoreError) as raised:
        open_store(url(tls_password_server, password="wrong-guess"))
    message = str(raised.value)
    assert "cannot connect to the PostgreSQL server" in message and "password authentication failed" in message
    assert "wrong-guess" not in message and PASSWORD not in message
    assert f"postgresql://{ROLE}:***@127.0.0.1:{tls_password_server}/" in message


def test_a_login_without_tls_is_refused_by_the_server_and_said_so(tls_password_server: int) -> None:
    with pytest.raises(StoreError) as raised:
        open_store(url(tls_password_server, sslmode="disable"))
    assert "no pg_hba.conf entry" in str(raised.value) or "rejects connection" in str(raised.value)


def test_the_cli_stores_a_sweep_over_tls_and_lists_it(tls_password_server: int, tmp_path: Path) -> None:
    # Given a listening loopback port and the CLI pointed at the TLS/password store
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        watched = subprocess.run(
            [sys.executable, "-m", "porthole", "watch", "127.0.0.1", "--once", "--no-discovery", "--ports", str(port), "--store", url(tls_password_server)],
            capture_output=True, text=True, timeout=120, check=False,
        )
    finally:
        listener.close()
    assert watched.returncode == 0, watched.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "porthole", "history", "--store", url(tls_password_server), "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert listed.returncode == 0, listed.stderr
    # Then the sweep is there, and its recorded command holds no password
    import json

    sweeps = json.loads(listed.stdout)
    assert sweeps and sweeps[0]["open_ports"] == 1
    assert PASSWORD not in sweeps[0]["command"] and f"{ROLE}:***@127.0.0.1" in sweeps[0]["command"]
