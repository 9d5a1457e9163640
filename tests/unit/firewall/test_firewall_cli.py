"""``porthole firewall`` as a user runs it: options in, rules or a clear error out."""

from __future__ import annotations

from typer.testing import CliRunner

from porthole.cli import app

runner = CliRunner()


def test_rules_go_to_stdout_and_a_missing_source_is_warned_about():
    # Given a master without --peer
    result = runner.invoke(app, ["firewall", "--role", "master", "--management", "198.18.0.0/24"])
    # Then the rules are printed, and stderr warns that 1600/1601 stay shut
    assert result.exit_code == 0, result.output
    assert "ip saddr 198.18.0.0/24 tcp dport 443 accept" in result.stdout
    assert "warning: 1600/tcp open but reached by peer and no address given (--peer)" in result.stderr


def test_output_is_written_to_a_file_in_the_chosen_format(tmp_path):
    target = tmp_path / "acl.txt"
    result = runner.invoke(app, ["firewall", "--role", "slave", "--management", "198.18.0.0/24", "--controller", "198.18.0.11", "-f", "cisco", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert " permit tcp 198.18.0.0 0.0.0.255 host 198.18.0.11 eq 443" in target.read_text().splitlines()


def test_a_site_file_supplies_the_sources(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('controller = "198.18.0.10"\n[sources]\nmanagement = ["2001:db8::/64"]\npeer = ["198.18.0.11"]\n')
    result = runner.invoke(app, ["firewall", "--role", "master", "--site", str(site), "-f", "ip6tables"])
    assert result.exit_code == 0, result.output
    assert "-A INPUT -s 2001:db8::/64 -p tcp -m tcp --dport 443" in result.stdout
    assert "warning" not in result.stderr


def test_usage_errors_exit_2_with_a_hint():
    # No role at all
    missing = runner.invoke(app, ["firewall"])
    assert missing.exit_code == 2 and "--role" in missing.stderr
    # A bad network
    bad = runner.invoke(app, ["firewall", "--role", "master", "--management", "198.18.0.1/15"])
    assert bad.exit_code == 2 and "--management" in bad.stderr
    # Strict egress without the CSMS
    strict = runner.invoke(app, ["firewall", "--role", "master", "--strict-egress"])
    assert strict.exit_code == 2 and "--csms" in strict.stderr
    # A report that does not exist
    report = runner.invoke(app, ["firewall", "--role", "master", "--report", "/nonexistent/r.json"])
    assert report.exit_code == 2 and "no such report file" in report.stderr
