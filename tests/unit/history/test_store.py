"""The SQLite sweep store on real files: round trip, index rows, schema checks,
several writing processes at once, and a process killed half-way through a sweep."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from history_reports import finding, host, port, report, ssh_evidence, tls_evidence

from porthole.errors import UsageError
from porthole.history.store import MIGRATIONS, SCHEMA_VERSION, StoreError, open_store

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


def test_a_stored_report_comes_back_whole_with_index_rows(tmp_path):
    # Given a new store file
    with open_store(tmp_path / "history.sqlite") as store:
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


def test_default_comparison_pair_skips_interrupted_sweeps(tmp_path):
    with open_store(tmp_path / "h.sqlite") as store:
        first = store.record(report())
        second = store.record(report())
        store.record(report(interrupted=True))
        assert store.latest_complete(2) == [first, second]


def test_unknown_sweep_id_is_a_usage_error_naming_history(tmp_path):
    with open_store(tmp_path / "h.sqlite") as store, pytest.raises(StoreError, match="porthole history"):
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


def test_a_store_from_a_newer_porthole_is_refused(tmp_path):
    path = tmp_path / "h.sqlite"
    open_store(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer porthole"):
        open_store(path)


def test_an_older_store_is_refused_until_migrated_and_keeps_its_sweeps(tmp_path):
    # Given a store written by this version, holding one sweep
    path = tmp_path / "h.sqlite"
    with open_store(path) as store:
        sweep_id = store.record(sample_report())

    # And a (future) porthole whose schema has one more migration
    def add_site_column(connection: sqlite3.Connection) -> None:
        connection.execute("ALTER TABLE sweep ADD COLUMN site TEXT")

    newer = (*MIGRATIONS, add_site_column)
    # When that porthole opens the store without --migrate, Then it names the way out
    with pytest.raises(StoreError, match=r"porthole history --store .* --migrate"):
        open_store(path, migrations=newer)
    # When it migrates, Then the schema is current and the old sweep is intact
    with open_store(path, migrations=newer, migrate=True) as store:
        assert store.schema_version == len(newer)
        assert store.report(sweep_id) == sample_report()
    with sqlite3.connect(path) as connection:
        assert "site" in [row[1] for row in connection.execute("PRAGMA table_info(sweep)")]


def test_postgresql_urls_are_refused_as_not_yet_supported(tmp_path):
    with pytest.raises(StoreError, match="only SQLite"):
        open_store("postgresql://audit@db/porthole")


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


def test_several_processes_writing_at_once_lose_nothing_and_corrupt_nothing(tmp_path):
    # Given an existing store and six writer processes started together
    path = tmp_path / "h.sqlite"
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


def test_a_process_killed_mid_sweep_leaves_only_complete_sweeps(tmp_path):
    # Given a process that stores one sweep and is killed while writing the second
    path = tmp_path / "h.sqlite"
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
