"""``porthole watch --once``, ``history`` and ``drift`` end to end on loopback: a real
listening socket that is closed between two sweeps, a real SQLite file or PostgreSQL database."""

from __future__ import annotations

import json
import socket

from history_reports import report
from typer.testing import CliRunner

from porthole.cli import app
from porthole.cli.history import DRIFT_EXIT_CODE
from porthole.history.store import open_store

runner = CliRunner()


def watch_once(store, listening_port: int, *extra: str):
    return runner.invoke(app, ["watch", "127.0.0.1", "--once", "--no-discovery", "--ports", f"{listening_port}", "--store", str(store), *extra])


def test_watch_once_exits_4_when_a_port_closed_since_the_last_sweep_and_drift_shows_it(tmp_path, store_location):
    store = store_location
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listening_port = listener.getsockname()[1]
    # Given a first sweep while the port listens: stored, nothing to compare with, exit 0
    first = watch_once(store, listening_port, "--metrics-file", str(tmp_path / "porthole.prom"))
    assert first.exit_code == 0, first.output
    assert 'porthole_open_ports{host="127.0.0.1"} 1' in (tmp_path / "porthole.prom").read_text()
    # When the port is closed and the watch runs again
    listener.close()
    second = watch_once(store, listening_port)
    # Then it exits with the drift code
    assert second.exit_code == DRIFT_EXIT_CODE, second.output
    # And `porthole drift` (default: the last two) names the closed port
    drift = runner.invoke(app, ["drift", "--store", str(store), "--format", "json"])
    assert drift.exit_code == 0, drift.output
    [change] = json.loads(drift.stdout)["changes"]
    assert (change["kind"], change["host"], change["port"], change["after"]) == ("port-closed", "127.0.0.1", listening_port, "closed")
    # And `porthole history` lists both sweeps, newest first
    history = runner.invoke(app, ["history", "--store", str(store), "--format", "json"])
    assert [row["id"] for row in json.loads(history.stdout)] == [2, 1]
    assert [row["open_ports"] for row in json.loads(history.stdout)] == [0, 1]


def test_drift_with_fewer_than_two_sweeps_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["drift", "--store", str(tmp_path / "empty.sqlite")])
    assert result.exit_code == 2
    assert "needs two complete sweeps" in result.output


def test_a_corrupt_store_is_exit_2_with_a_clear_message(tmp_path):
    store = tmp_path / "history.sqlite"
    store.write_bytes(b"garbage" * 1000)
    result = runner.invoke(app, ["history", "--store", str(store)])
    assert result.exit_code == 2
    assert "not a readable porthole store" in result.output


def test_history_migrate_on_a_current_store_reports_its_version(tmp_path):
    result = runner.invoke(app, ["history", "--store", str(tmp_path / "h.sqlite"), "--migrate"])
    assert result.exit_code == 0, result.output
    assert "schema version 1" in result.output


def test_history_uses_a_postgresql_url_from_porthole_store(postgresql_url, monkeypatch):
    # Given $PORTHOLE_STORE naming a PostgreSQL database that holds one sweep
    with open_store(postgresql_url) as store:
        sweep_id = store.record(report())
    monkeypatch.setenv("PORTHOLE_STORE", postgresql_url)
    # When `porthole history` runs without --store, Then it lists that sweep
    listed = runner.invoke(app, ["history", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert [row["id"] for row in json.loads(listed.stdout)] == [sweep_id]
