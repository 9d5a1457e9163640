"""The sweep store: every stored audit as its full JSON report plus indexed rows.

Contract:
* One sweep is written in one transaction (``BEGIN IMMEDIATE``): a process that dies
  half-way leaves no trace of that sweep, and readers never see part of one.
* Several processes may write at once: SQLite's WAL journal plus a busy timeout serialises
  the writers; none of them corrupts the file or loses a sweep.
* The schema is versioned in the ``meta`` table. A store written by an older porthole is
  refused with a message naming ``porthole history --migrate``; one written by a newer
  porthole, or a file that is not a store at all, is refused with a message saying so.
  Nothing is ever migrated silently.
* The full report JSON is the record of truth; the rows beside it (hosts, ports,
  fingerprints, findings) are indexes for queries and can be rebuilt from it.

It does no scanning and no rendering; errors are ``StoreError`` (a ``UsageError``: exit 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from porthole.errors import UsageError
from porthole.model import Report
from porthole.report.encode import dumps_report

__all__ = [
    "SCHEMA_VERSION",
    "MIGRATIONS",
    "StoreError",
    "SweepSummary",
    "SweepStore",
    "default_store_location",
    "open_store",
    "fingerprints_of",
]

#: applied in order: MIGRATIONS[n] takes a store from version n to n + 1
Migration = Callable[[sqlite3.Connection], None]


class StoreError(UsageError):
    """The sweep store cannot be used as asked (wrong schema, corrupt, unknown sweep)."""


def _execute_each(connection: sqlite3.Connection, script: str) -> None:
    # not executescript(): it COMMITs first, which would split the migration's transaction
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


def _create_version_1(connection: sqlite3.Connection) -> None:
    _execute_each(
        connection,
        """
        CREATE TABLE sweep (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at    TEXT NOT NULL,
            finished_at   TEXT NOT NULL,
            duration_s    REAL NOT NULL,
            command       TEXT NOT NULL,
            interrupted   INTEGER NOT NULL,
            hosts_up      INTEGER NOT NULL,
            open_ports    INTEGER NOT NULL,
            findings      INTEGER NOT NULL,
            report_json   TEXT NOT NULL
        );
        CREATE TABLE port (
            sweep_id  INTEGER NOT NULL REFERENCES sweep(id) ON DELETE CASCADE,
            host      TEXT NOT NULL,
            port      INTEGER NOT NULL,
            protocol  TEXT NOT NULL,
            state     TEXT NOT NULL,
            service   TEXT,
            summary   TEXT,
            PRIMARY KEY (sweep_id, host, port, protocol)
        );
        CREATE TABLE fingerprint (
            sweep_id  INTEGER NOT NULL REFERENCES sweep(id) ON DELETE CASCADE,
            host      TEXT NOT NULL,
            port      INTEGER NOT NULL,
            protocol  TEXT NOT NULL,
            kind      TEXT NOT NULL,
            value     TEXT NOT NULL
        );
        CREATE TABLE finding (
            sweep_id    INTEGER NOT NULL REFERENCES sweep(id) ON DELETE CASCADE,
            host        TEXT NOT NULL,
            finding_id  TEXT NOT NULL,
            severity    TEXT NOT NULL,
            port        INTEGER,
            protocol    TEXT
        );
        CREATE INDEX port_by_host ON port(host, port, protocol);
        CREATE INDEX fingerprint_by_value ON fingerprint(kind, value);
        CREATE INDEX finding_by_id ON finding(finding_id, host);
        """
    )


MIGRATIONS: tuple[Migration, ...] = (_create_version_1,)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSummary:
    """One line of ``porthole history``."""

    id: int
    started_at: str
    duration_s: float
    command: str
    interrupted: bool
    hosts_up: int
    open_ports: int
    findings: int


def default_store_location() -> Path:
    """``$PORTHOLE_STORE``, else ``$XDG_DATA_HOME/porthole/history.sqlite``."""
    if configured := os.environ.get("PORTHOLE_STORE"):
        return Path(configured)
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "porthole" / "history.sqlite"


def open_store(location: str | Path, *, migrate: bool = False, migrations: Sequence[Migration] = MIGRATIONS) -> SweepStore:
    """Open (creating if absent) the store at a path; ``postgresql://`` URLs are not supported yet."""
    text = str(location)
    if "://" in text:
        raise StoreError(f"--store {text}: only SQLite files are supported in this version; give a file path")
    return SweepStore(Path(text), migrate=migrate, migrations=migrations)


class SweepStore:
    def __init__(self, path: Path, *, migrate: bool = False, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = path
        self._migrations = tuple(migrations)
        if not path.parent.is_dir():
            raise StoreError(f"--store {path}: directory {path.parent} does not exist")
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is
        # exactly the block we say it is (the sqlite3 module's implicit ones are not).
        self._connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        try:
            self._prepare(migrate)
        except sqlite3.DatabaseError as exc:
            self._connection.close()
            raise StoreError(
                f"--store {path}: not a readable porthole store ({exc}); move it aside and a new one is created, "
                f"or restore it from a backup"
            ) from None
        except BaseException:
            self._connection.close()
            raise

    # --- schema ------------------------------------------------------------------

    def _prepare(self, migrate: bool) -> None:
        connection = self._connection
        connection.execute("PRAGMA busy_timeout = 30000")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA foreign_keys = ON")
        with self._transaction():
            version = self._schema_version()
            if version is None:
                if self._has_foreign_tables():
                    raise StoreError(f"--store {self.path}: this SQLite file has tables but no porthole schema; give another file")
                connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                version = 0
                migrate = True  # a new store: building it is not a migration anyone must approve
            if version > len(self._migrations):
                raise StoreError(
                    f"--store {self.path}: schema version {version} was written by a newer porthole "
                    f"(this one knows up to {len(self._migrations)}); upgrade porthole"
                )
            if version < len(self._migrations):
                if not migrate:
                    raise StoreError(
                        f"--store {self.path}: schema version {version} is older than this porthole's "
                        f"{len(self._migrations)}; run `porthole history --store {self.path} --migrate` "
                        f"(copy the file first if you want to keep a backup)"
                    )
                for step in self._migrations[version:]:
                    step(connection)
                connection.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (str(len(self._migrations)),),
                )

    def _schema_version(self) -> int | None:
        has_meta = self._connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        if not has_meta:
            return None
        row = self._connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise StoreError(f"--store {self.path}: the meta table has no valid schema_version; the file is damaged")
        return int(row[0])

    def _has_foreign_tables(self) -> bool:
        return self._connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchone() is not None

    @property
    def schema_version(self) -> int:
        with self._transaction():
            version = self._schema_version()
        assert version is not None
        return version

    # --- writing -----------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front: two writers wait for each other
        # (busy_timeout) instead of both reading and then failing to upgrade.
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield self._connection
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def record(self, report: Mapping[str, Any]) -> int:
        """Store one report (its JSON form) and its index rows; return the new sweep id."""
        hosts = report.get("hosts", [])
        open_ports = sum(1 for host in hosts for port in host.get("ports", []) if port.get("state") == "open")
        findings = sum(len(host.get("findings", [])) for host in hosts)
        hosts_up = sum(1 for host in hosts if host.get("status") == "up")
        with self._transaction() as connection:
            sweep_id = connection.execute(
                "INSERT INTO sweep(started_at, finished_at, duration_s, command, interrupted, hosts_up, open_ports, findings, report_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    report.get("started_at", ""), report.get("finished_at", ""), float(report.get("duration_s", 0.0)),
                    report.get("command", ""), int(bool(report.get("interrupted"))), hosts_up, open_ports, findings,
                    json.dumps(report, sort_keys=True),
                ),
            ).lastrowid
            assert sweep_id is not None
            self._insert_ports(connection, sweep_id, hosts)
            self._insert_findings(connection, sweep_id, hosts)
        return sweep_id

    def record_report(self, report: Report) -> int:
        """Store a ``Report`` exactly as ``--format json`` would write it."""
        return self.record(json.loads(dumps_report(report)))

    @staticmethod
    def _insert_ports(connection: sqlite3.Connection, sweep_id: int, hosts: Sequence[Mapping[str, Any]]) -> None:
        for host in hosts:
            for port in host.get("ports", []):
                key = (sweep_id, host["address"], port["port"], port["protocol"])
                connection.execute(
                    "INSERT INTO port(sweep_id, host, port, protocol, state, service, summary) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*key, port["state"], port.get("service"), port.get("summary")),
                )
                for kind, value in fingerprints_of(port).items():
                    connection.execute(
                        "INSERT INTO fingerprint(sweep_id, host, port, protocol, kind, value) VALUES (?, ?, ?, ?, ?, ?)", (*key, kind, value)
                    )

    @staticmethod
    def _insert_findings(connection: sqlite3.Connection, sweep_id: int, hosts: Sequence[Mapping[str, Any]]) -> None:
        for host in hosts:
            for finding in host.get("findings", []):
                connection.execute(
                    "INSERT INTO finding(sweep_id, host, finding_id, severity, port, protocol) VALUES (?, ?, ?, ?, ?, ?)",
                    (sweep_id, host["address"], finding["id"], finding["severity"], finding.get("port"), finding.get("protocol")),
                )

    # --- reading -----------------------------------------------------------------

    def sweeps(self, *, limit: int | None = None) -> list[SweepSummary]:
        """Sweeps, newest first."""
        rows = self._connection.execute(
            "SELECT id, started_at, duration_s, command, interrupted, hosts_up, open_ports, findings FROM sweep ORDER BY id DESC LIMIT ?",
            (-1 if limit is None else limit,),
        ).fetchall()
        return [
            SweepSummary(id=row[0], started_at=row[1], duration_s=row[2], command=row[3], interrupted=bool(row[4]), hosts_up=row[5], open_ports=row[6], findings=row[7])
            for row in rows
        ]

    def report(self, sweep_id: int) -> dict[str, Any]:
        row = self._connection.execute("SELECT report_json FROM sweep WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            raise StoreError(f"sweep {sweep_id} is not in {self.path}; `porthole history` lists the stored sweeps")
        return json.loads(row[0])

    def latest_complete(self, count: int) -> list[int]:
        """Ids of the newest ``count`` sweeps that were not interrupted, oldest first."""
        rows = self._connection.execute("SELECT id FROM sweep WHERE interrupted = 0 ORDER BY id DESC LIMIT ?", (count,)).fetchall()
        return sorted(row[0] for row in rows)

    def previous_complete(self, sweep_id: int) -> int | None:
        """The newest sweep before ``sweep_id`` that was not interrupted."""
        row = self._connection.execute("SELECT max(id) FROM sweep WHERE id < ? AND interrupted = 0", (sweep_id,)).fetchone()
        return row[0] if row else None

    def rows(self, table: str, sweep_id: int) -> list[tuple[Any, ...]]:
        """The index rows of one sweep (``port``, ``fingerprint`` or ``finding``), for queries and tests."""
        if table not in ("port", "fingerprint", "finding"):
            raise ValueError(table)
        return self._connection.execute(f"SELECT * FROM {table} WHERE sweep_id = ? ORDER BY rowid", (sweep_id,)).fetchall()

    def integrity_problems(self) -> list[str]:
        rows = self._connection.execute("PRAGMA integrity_check").fetchall()
        return [] if rows == [("ok",)] else [row[0] for row in rows]

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def fingerprints_of(port: Mapping[str, Any]) -> dict[str, str]:
    """Identity fingerprints found in a port's evidence, by kind.

    * ``tls-certificate``: SHA-256 of the leaf certificate the server sent;
    * ``ssh-kexinit``: SHA-256 over the server's KEXINIT algorithm lists. porthole does not
      complete a key exchange, so it never sees the host key itself; the KEXINIT is what
      changes when the daemon, its configuration or its host-key types change.
    * ``ssh-identification``: the identification line (software and version).
    """
    evidence = port.get("evidence") or {}
    found: dict[str, str] = {}
    tls = evidence.get("tls")
    if isinstance(tls, Mapping):
        leaf = next((certificate for certificate in tls.get("certificates") or () if certificate.get("position") == 0), None)
        if leaf and leaf.get("sha256"):
            found["tls-certificate"] = str(leaf["sha256"])
    ssh = evidence.get("ssh")
    if isinstance(ssh, Mapping):
        if isinstance(ssh.get("kexinit"), Mapping):
            kexinit = {key: value for key, value in ssh["kexinit"].items() if isinstance(value, list)}
            found["ssh-kexinit"] = hashlib.sha256(json.dumps(kexinit, sort_keys=True).encode()).hexdigest()
        if isinstance(ssh.get("identification"), Mapping) and ssh["identification"].get("line"):
            found["ssh-identification"] = str(ssh["identification"]["line"])
    return found

