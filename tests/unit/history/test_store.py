"""The sweep store on both backends (a real SQLite file and a real PostgreSQL server, see
conftest.py): round trip, index rows, schema checks, several writing processes at once, and a
process killed half-way through a sweep. Backend-specific refusals are tested per backend."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from history_reports import finding, host, port, report, ssh_evidence, tls_evidence

from porthole.errors import UsageError
from porthole.history.store import MIGRATIONS, SCHEMA_VERSION, StoreConnection, StoreError, open_store

HERE = Path(__file__).parent


def sample_report() -> dict:
    return report(
        host(
            "198.18.0.10",
            port(22, service="ssh", summary="OpenSSH_9.2p1", evidence=ssh_evidence("SSH-2.0-OpenSSH_9.2p1", ["curve25519-sha256"])),
            port(443, service="https", evidence=tls_evidence("aa" * 32)),
            port(502, "closed", service="modbus"),
            findings=(finding("tls-self-signed-cert", "medium", 443),),
        )
    )


def test_a_stored_report_comes_back_whole_with_index_rows(store_location):
    # Given a new store
    with open_store(store_location) as store:
        # When a report is recorded
        sweep_id = store.record(sample_report())
        # Then the full JSON comes back unchanged and the sweep is listed
        assert store.report(sweep_id) == sample_report()
        [summary] = store.sweeps()
        assert (summary.id, summary.hosts_up, summary.open_ports, summary.findings, summary.interrupted) == (sweep_id, 1, 2, 1, False)
        # And the index rows hold ports, fingerprints and findings
        assert [row[1:6] for row in store.rows("port", sweep_id)] == [
            ("198.18.0.10", 22, "tcp", "open", "ssh"), ("198.18.0.10", 443, "tcp", "open", "https"), ("198.18.0.10", 502, "tcp", "closed", "modbus"),
        ]
        fingerprints = {(row[2], row[4]): row[5] for row in store.rows("fingerprint", sweep_id)}
        assert fingerprints[(443, "tls-certificate")] == "aa" * 32
        assert fingerprints[(22, "ssh-identification")] == "SSH-2.0-OpenSSH_9.2p1"
        assert len(fingerprints[(22, "ssh-kexinit")]) == 64
        assert [row[2:] for row in store.rows("finding", sweep_id)] == [("tls-self-signed-cert", "medium", 443, "tcp")]


def test_the_store_uses_wal_and_records_its_schema_version(tmp_path):
    path = tmp_path / "history.sqlite"
    open_store(path).close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_the_store_records_its_schema_version_in_meta(store_location, execute_directly):
    open_store(store_location).close()
    assert execute_directly(store_location, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_sweeps_are_listed_newest_first_and_limited(store_location):
    with open_store(store_location) as store:
        ids = [store.record(report()) for _ in range(3)]
        assert [summary.id for summary in store.sweeps()] == ids[::-1]
        assert [summary.id for summary in store.sweeps(limit=2)] == ids[:0:-1]
        assert store.previous_complete(ids[2]) == ids[1]


def test_default_comparison_pair_skips_interrupted_sweeps(store_location):
    with open_store(store_location) as store:
        first = store.record(report())
        second = store.record(report())
        store.record(report(interrupted=True))
        assert store.latest_complete(2) == [first, second]


def test_unknown_sweep_id_is_a_usage_error_naming_history(store_location):
    with open_store(store_location) as store, pytest.raises(StoreError, match="porthole history"):
        store.report(42)


def test_a_file_that_is_not_sqlite_is_refused_clearly(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(UsageError, match="not a readable porthole store"):
        open_store(path)


def test_an_sqlite_file_of_another_application_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE bookmarks (url TEXT)")
    with pytest.raises(StoreError, match="no porthole schema"):
        open_store(path)


def test_a_postgresql_database_of_another_application_is_refused(postgresql_url, execute_directly):
    # Given a database that already holds someone else's tables
    execute_directly(postgresql_url, "CREATE TABLE bookmarks (url TEXT)")
    # When porthole is pointed at it, Then it refuses instead of adding its tables
    with pytest.raises(StoreError, match="PostgreSQL schema has tables but no porthole schema"):
        open_store(postgresql_url)
    assert execute_directly(postgresql_url, "SELECT to_regclass('meta') IS NULL") == [(True,)]


def test_an_unreachable_postgresql_server_is_a_usage_error_without_the_password(tmp_path):
    # Given a URL whose socket directory has no server in it
    url = f"postgresql://audit:s3cret@/porthole?host={tmp_path}"
    # When it is opened, Then the error says what failed and how to fix it, and hides the password
    with pytest.raises(UsageError, match="cannot connect to the PostgreSQL server") as raised:
        open_store(url)
    assert "s3cret" not in str(raised.value)
    assert "audit:***@" in str(raised.value)


def test_an_unknown_url_scheme_is_refused(tmp_path):
    with pytest.raises(StoreError, match="unknown store URL scheme 'mysql'"):
        open_store("mysql://audit@db/porthole")


def test_a_store_from_a_newer_porthole_is_refused(store_location, execute_directly):
    open_store(store_location).close()
    execute_directly(store_location, "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer porthole"):
        open_store(store_location)


def test_an_older_store_is_refused_until_migrated_and_keeps_its_sweeps(store_location, execute_directly):
    # Given a store written by this version, holding one sweep
    path = store_location
    with open_store(path) as store:
        sweep_id = store.record(sample_report())

    # And a (future) porthole whose schema has one more migration
    def add_site_column(connection: StoreConnection) -> None:
        connection.execute("ALTER TABLE sweep ADD COLUMN site TEXT")

    newer = (*MIGRATIONS, add_site_column)
    # When that porthole opens the store without --migrate, Then it names the way out
    with pytest.raises(StoreError, match=r"porthole history --store .* --migrate"):
        open_store(path, migrations=newer)
    # When it migrates, Then the schema is current and the old sweep is intact
    with open_store(path, migrations=newer, migrate=True) as store:
        assert store.schema_version == len(newer)
        assert store.report(sweep_id) == sample_report()
    assert execute_directly(path, "SELECT site FROM sweep WHERE id = ?", (sweep_id,)) == [(None,)]


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {here!r})
    from history_reports import host, port, report
    from porthole.history.store import open_store
    with open_store(sys.argv[1]) as store:
        for number in range(int(sys.argv[2])):
            store.record(report(host("198.18.0." + sys.argv[3], *[port(p) for p in range(1, 60)])))
    """
)


def test_several_processes_writing_at_once_lose_nothing_and_corrupt_nothing(store_location):
    # Given an existing store and six writer processes started together
    path = store_location
    open_store(path).close()
    script = WRITER.format(here=str(HERE))
    writers = [subprocess.Popen([sys.executable, "-c", script, str(path), "15", str(index)]) for index in range(6)]
    # When they all finish
    assert [writer.wait(timeout=120) for writer in writers] == [0] * 6
    # Then every sweep is there with all its port rows and the file is sound
    with open_store(path) as store:
        sweeps = store.sweeps()
        assert len(sweeps) == 90
        assert all(len(store.rows("port", sweep.id)) == 59 for sweep in sweeps)
        assert store.integrity_problems() == []


CRASHER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {here!r})
    from history_reports import finding, host, port, report
    from porthole.history.store import SweepStore, open_store

    def die(*arguments):
        os.kill(os.getpid(), signal.SIGKILL)   # a crash after the ports, before the findings

    with open_store(sys.argv[1]) as store:
        store.record(report(host("198.18.0.10", port(80))))
        SweepStore._insert_findings = staticmethod(die)
        store.record(report(host("198.18.0.10", port(80), port(443)), started_at="2025-01-02T00:00:00Z"))
    """
)


def test_a_process_killed_mid_sweep_leaves_only_complete_sweeps(store_location):
    # Given a process that stores one sweep and is killed while writing the second
    path = store_location
    process = subprocess.run([sys.executable, "-c", CRASHER.format(here=str(HERE)), str(path)], timeout=60, check=False)
    assert process.returncode == -9
    # When the store is opened again
    with open_store(path) as store:
        # Then only the first sweep is there, with no stray rows of the second
        [only] = store.sweeps()
        assert len(store.rows("port", only.id)) == 1
        assert store.rows("port", only.id + 1) == []
        assert store.integrity_problems() == []
        # And the store takes new sweeps
        assert store.record(report()) > only.id


def test_several_processes_creating_a_new_store_at_once_build_one_schema(store_location):
    # Given no store yet, and four writer processes started together
    script = WRITER.format(here=str(HERE))
    writers = [subprocess.Popen([sys.executable, "-c", script, store_location, "2", str(index)]) for index in range(4)]
    # When they all finish, Then each created-or-found the schema and stored its sweeps
    assert [writer.wait(timeout=120) for writer in writers] == [0] * 4
    with open_store(store_location) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert len(store.sweeps()) == 8


def test_index_rows_that_disagree_with_their_sweep_are_reported(store_location, execute_directly):
    # Given a stored sweep whose finding row was removed behind porthole's back
    with open_store(store_location) as store:
        sweep_id = store.record(sample_report())
    execute_directly(store_location, "DELETE FROM finding WHERE sweep_id = ?", (sweep_id,))
    # When the store is checked, Then that sweep is named
    with open_store(store_location) as store:
        assert store.integrity_problems() == [f"sweep {sweep_id}: its index rows do not match its report"]


def test_a_postgresql_store_can_live_in_its_own_schema_beside_other_tables(postgresql_url, execute_directly):
    # Given a database whose public schema belongs to another application, and an empty schema for porthole
    execute_directly(postgresql_url, "CREATE TABLE bookmarks (url TEXT)")
    execute_directly(postgresql_url, "CREATE SCHEMA porthole")
    # When the store is opened with that schema first on the search path
    in_schema = postgresql_url + "&options=-csearch_path%3Dporthole"
    with open_store(in_schema) as store:
        sweep_id = store.record(sample_report())
    # Then porthole's tables are there, and the other application's are untouched
    assert execute_directly(postgresql_url, "SELECT count(*) FROM porthole.sweep WHERE id = ?", (sweep_id,)) == [(1,)]
    assert execute_directly(postgresql_url, "SELECT to_regclass('public.meta') IS NULL") == [(True,)]
