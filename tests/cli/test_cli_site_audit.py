"""``porthole audit --site FILE``: each listed controller's OCPP link audited into the report.

The lab CSMS emulators (real ``ocpp`` + ``websockets`` servers) run on loopback addresses
in a background event loop; porthole runs in-process through typer's CliRunner, scanning
the same 127.0.0.x address as the "controller".
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lab.services._csms import IDENTITY, PASSWORD, CsmsMode, RunningCsms, start_csms
from porthole.cli import app
from porthole.ocpp.site import SiteFileError, load_site
from porthole.report.schema import validate_report

runner = CliRunner()
FAST = ["--no-discovery", "--ports", "22", "--initial-timeout", "0.3", "--min-timeout", "0.05", "--max-timeout", "0.5", "--quiet"]
WEAK_ADDRESS = "127.0.0.231"
HARDENED_ADDRESS = "127.0.0.232"


@contextmanager
def lab_csms(mode: CsmsMode, address: str, cert_dir: Path) -> Iterator[RunningCsms]:
    """A lab CSMS served from its own event loop thread, so the CLI can run asyncio.run()."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    csms = asyncio.run_coroutine_threadsafe(start_csms(mode, cert_dir=cert_dir, host=address), loop).result(timeout=30)
    try:
        yield csms
    finally:
        asyncio.run_coroutine_threadsafe(csms.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _audit(address: str, site_file: Path, env: dict[str, str] | None = None) -> tuple[int, str, dict]:
    result = runner.invoke(app, ["audit", address, "--site", str(site_file), *FAST, "--format", "json"], env=env)
    return result.exit_code, result.output, json.loads(result.stdout) if result.stdout.startswith("{") else {}


def test_weak_open_csms_puts_plain_ws_and_no_auth_findings_on_the_listed_controller(tmp_path: Path) -> None:
    # Given a profile-0 CSMS on ws:// and a site file naming it for the controller 127.0.0.231
    with lab_csms(CsmsMode.WEAK_OPEN, WEAK_ADDRESS, tmp_path) as csms:
        site_file = tmp_path / "site.toml"
        site_file.write_text(f'[[controller]]\naddress = "{WEAK_ADDRESS}"\ncsms_url = "{csms.url}"\nidentity = "{IDENTITY}"\n')
        # When the controller is audited with the site file
        exit_code, output, report = _audit(WEAK_ADDRESS, site_file)
    # Then the report is valid, the host carries exactly the two link findings, and fails the audit (high)
    assert exit_code == 1, output
    validate_report(report)
    (host,) = report["hosts"]
    link_findings = {item["id"] for item in host["findings"] if item["id"].startswith("ocpp-")}
    assert link_findings == {"ocpp-plain-ws", "ocpp-no-auth"}
    assert all(item["port"] is None for item in host["findings"] if item["id"].startswith("ocpp-"))
    # And the link evidence is in config.ocpp_links, with no duplicate-identity test run
    (link,) = report["config"]["ocpp_links"]
    assert link["address"] == WEAK_ADDRESS and link["security_profile"] == "0"
    assert link["evidence"]["anonymous"]["outcome"] == "accepted"
    assert link["evidence"]["duplicate_identity"] is None


def test_hardened_csms_gives_no_link_findings_and_the_password_never_reaches_the_report(tmp_path: Path) -> None:
    # Given a profile-2 CSMS (wss:// + Basic), its CA, and the password in the variable the file names
    with lab_csms(CsmsMode.HARDENED_BASIC, HARDENED_ADDRESS, tmp_path) as csms:
        assert csms.ca_file is not None
        site_file = tmp_path / "site.toml"
        site_file.write_text(
            f'[[controller]]\naddress = "{HARDENED_ADDRESS}"\ncsms_url = "{csms.url}"\nidentity = "{IDENTITY}"\n'
            f'ca_file = "{csms.ca_file}"\npassword_env = "PORTHOLE_OCPP_PASSWORD_CP7"\n'
        )
        # When the controller is audited
        exit_code, output, report = _audit(HARDENED_ADDRESS, site_file, env={"PORTHOLE_OCPP_PASSWORD_CP7": PASSWORD})
    # Then the link was audited with the password (Basic accepted) and nothing is found
    assert exit_code == 0, output
    validate_report(report)
    (link,) = report["config"]["ocpp_links"]
    assert link["security_profile"] == "2"
    assert link["evidence"]["basic"]["outcome"] == "accepted"
    assert not [item for item in report["hosts"][0]["findings"] if item["id"].startswith("ocpp-")]
    # And neither the password nor its Basic encoding appears anywhere in the output
    assert link["password_env"] == "PORTHOLE_OCPP_PASSWORD_CP7"
    assert PASSWORD not in output
    assert base64.b64encode(f"{IDENTITY}:{PASSWORD}".encode()).decode() not in output


def test_a_controller_the_site_file_lists_but_the_audit_does_not_target_is_not_probed(tmp_path: Path) -> None:
    # Given a site file whose only controller is not among the audited addresses
    site_file = tmp_path / "site.toml"
    site_file.write_text('[[controller]]\naddress = "127.0.0.233"\ncsms_url = "ws://127.0.0.233:9/ocpp"\nidentity = "CP-1"\n')
    # When another address is audited
    exit_code, output, report = _audit(WEAK_ADDRESS, site_file)
    # Then no link was audited and no OCPP finding appears
    assert exit_code == 0, output
    assert report["config"]["ocpp_links"] == []
    assert not [item for item in report["hosts"][0]["findings"] if item["id"].startswith("ocpp-")]


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ('address = "127.0.0.231"\ncsms_url = "ws://127.0.0.231/ocpp"\nidentity = "CP"\nbackend = "x"\n', "'backend'"),
        ('address = "127.0.0.231"\ncsms_url = "ws://127.0.0.231/ocpp"\nidentity = "CP"\npassword = "hunter2-secret"\n', "'password'"),
        ('address = "127.0.0.231"\nidentity = "CP"\n', "'csms_url'"),
        ('address = "127.0.0.231"\ncsms_url = "https://127.0.0.231/ocpp"\nidentity = "CP"\n', "'csms_url'"),
        ('address = "127.0.0.231"\ncsms_url = "ws://127.0.0.231/ocpp"\nidentity = "CP"\nduplicate_identity_test = "yes"\n', "'duplicate_identity_test'"),
        ('address = "127.0.0.231"\ncsms_url = "ws://127.0.0.231/ocpp"\nidentity = "CP"\nca_file = "missing.pem"\n', "'ca_file'"),
    ],
)
def test_a_bad_site_file_exits_2_naming_the_key_before_any_packet(tmp_path: Path, entry: str, named: str) -> None:
    # Given a site file with one bad controller entry
    site_file = tmp_path / "site.toml"
    site_file.write_text(f"[[controller]]\n{entry}")
    # When audit is run with it
    result = runner.invoke(app, ["audit", WEAK_ADDRESS, "--site", str(site_file), *FAST, "--format", "json"])
    # Then it exits 2 naming the offending key, and prints no report (and no inline secret)
    assert result.exit_code == 2
    assert named in result.output
    assert "hunter2-secret" not in result.output
    assert not result.stdout.startswith("{")


def test_site_loader_keeps_the_duplicate_identity_test_off_unless_the_entry_opts_in(tmp_path: Path) -> None:
    # Given two entries, one opting in to the duplicate-identity test
    site_file = tmp_path / "site.toml"
    site_file.write_text(
        '[[controller]]\naddress = "127.0.0.231"\ncsms_url = "ws://127.0.0.231/ocpp"\nidentity = "CP-1"\n'
        '[[controller]]\naddress = "127.0.0.232"\ncsms_url = "ws://127.0.0.232/ocpp"\nidentity = "CP-2"\nduplicate_identity_test = true\n'
    )
    # When it is loaded
    site = load_site(site_file)
    # Then only the second entry's probe settings run the test
    assert [controller.settings({}).duplicate_identity_test for controller in site.controllers] == [False, True]


def test_site_loader_rejects_an_unknown_top_level_key(tmp_path: Path) -> None:
    # Given a site file with a stray table
    site_file = tmp_path / "site.toml"
    site_file.write_text('[defaults]\ntimeout = 3\n[[controller]]\naddress = "127.0.0.231"\ncsms_url = "ws://h/ocpp"\nidentity = "CP"\n')
    # When / Then loading fails naming the key
    with pytest.raises(SiteFileError, match="'defaults'"):
        load_site(site_file)
