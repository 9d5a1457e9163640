"""``porthole audit --from-nmap``: a real nmap XML scan of loopback listeners, diffed."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from porthole.cli import app


def test_audit_from_nmap_diffs_a_real_nmap_scan_against_the_master_profile(tmp_path: Path) -> None:
    # Given a listener on 127.0.0.9:22 (open) and nothing on 502 (closed), scanned by nmap
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.9", 22))
    listener.listen()
    try:
        scan = subprocess.run(["nmap", "-sT", "-Pn", "-n", "-p", "22,502", "127.0.0.9", "-oX", "-"], capture_output=True, check=True, timeout=120)
    finally:
        listener.close()
    xml_path = tmp_path / "scan.xml"
    xml_path.write_bytes(scan.stdout)
    # When porthole imports it against the master profile as CSV
    result = CliRunner().invoke(app, ["audit", "--from-nmap", str(xml_path), "--role", "master", "--format", "csv"])
    # Then SSH open is the forbidden-open finding and the exit code says findings (1)
    assert result.exit_code == 1, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()]
    assert ["port", "127.0.0.9", "", "master"] == rows[1][:4] and rows[1][5:12] == ["22", "tcp", "ssh", "closed", "open", "syn-ack", "forbidden-open"]
    assert any(row[0] == "finding" and row[13] == "profile-forbidden-open" for row in rows)


def test_audit_from_nmap_refuses_a_file_that_is_not_nmap_xml(tmp_path: Path) -> None:
    bad = tmp_path / "scan.xml"
    bad.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    result = CliRunner().invoke(app, ["audit", "--from-nmap", str(bad), "--role", "master"])
    assert result.exit_code == 2
