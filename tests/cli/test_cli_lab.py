"""``porthole lab``: clear answers for a site that is not running or not valid."""

from __future__ import annotations

from typer.testing import CliRunner

from porthole.cli import app

runner = CliRunner()


def test_status_of_a_site_that_is_not_running_says_so_and_exits_1(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTHOLE_LAB_STATE", str(tmp_path / "state"))
    site = tmp_path / "site.toml"
    site.write_text('[site]\nname = "tcli"\nsubnet = "198.19.9.0/24"\nscanner = "198.19.9.1"\n')
    result = runner.invoke(app, ["lab", "status", "--site", str(site)])
    assert result.exit_code == 1
    assert "not running" in result.output


def test_up_with_an_invalid_site_file_names_the_problem_and_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTHOLE_LAB_STATE", str(tmp_path / "state"))
    site = tmp_path / "site.toml"
    site.write_text('[site]\nname = "tcli"\nsubnet = "198.19.9.0/24"\nscanner = "198.19.9.1"\nflavour = "mint"\n')
    result = runner.invoke(app, ["lab", "up", "--site", str(site)])
    assert result.exit_code == 3
    assert "flavour" in result.output
    assert not (tmp_path / "state" / "tcli").exists()
