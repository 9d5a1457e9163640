"""Output: atomic file writes and the table|json console renderers."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from rich.console import Console

from porthole.errors import UsageError
from porthole.model import Report
from porthole.report import dumps_report, render, render_to_string, to_jsonable, validate_report, write_atomic


def leftovers(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir() if entry.name.endswith(".tmp"))


def test_write_atomic_creates_the_file_with_exact_text_and_no_temporary_left(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_atomic(target, '{"ü": 1}\n')
    assert target.read_bytes() == '{"ü": 1}\n'.encode()
    assert leftovers(tmp_path) == []


def test_write_atomic_replaces_an_existing_report_and_keeps_its_permissions(tmp_path: Path) -> None:
    # Given an existing report with restrictive permissions
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o600)
    # When it is replaced
    write_atomic(target, "new")
    # Then the content is new and the mode kept
    assert target.read_text(encoding="utf-8") == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_write_atomic_new_files_follow_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "report.txt", "x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "report.txt").stat().st_mode) == 0o640


def test_write_atomic_into_a_path_whose_parent_is_a_file_fails_as_usage_error(tmp_path: Path) -> None:
    # Given a regular file where the output directory should be (root ignores chmod,
    # so this is the portable way to make the write fail)
    not_a_directory = tmp_path / "scan.log"
    not_a_directory.write_text("keep me", encoding="utf-8")
    # When writing below it / Then UsageError explains, and nothing was touched
    with pytest.raises(UsageError, match=r"scan\.log is not a directory; choose another --output path"):
        write_atomic(not_a_directory / "report.json", "{}")
    assert not_a_directory.read_text(encoding="utf-8") == "keep me"
    assert leftovers(tmp_path) == []


def test_write_atomic_into_a_missing_directory_fails_as_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"directory .*missing does not exist"):
        write_atomic(tmp_path / "missing" / "report.json", "{}")
    assert not (tmp_path / "missing").exists()


def test_write_atomic_onto_a_directory_fails_and_leaves_it_alone(tmp_path: Path) -> None:
    target = tmp_path / "reports"
    target.mkdir()
    (target / "old.json").write_text("{}", encoding="utf-8")
    with pytest.raises(UsageError, match="it is a directory; give a file name"):
        write_atomic(target, "{}")
    assert [entry.name for entry in target.iterdir()] == ["old.json"]


def test_a_failed_replace_leaves_the_previous_report_untouched_and_no_temporary(tmp_path: Path) -> None:
    # Given an existing report, and a text the encoder cannot write (a lone surrogate
    # fails UTF-8 encoding half way through, after the temporary file exists)
    target = tmp_path / "report.json"
    target.write_text("previous report", encoding="utf-8")
    # When the write fails
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "new report \udcff")
    # Then the old report is intact and the temporary file is gone
    assert target.read_text(encoding="utf-8") == "previous report"
    assert leftovers(tmp_path) == []


def test_render_json_writes_exactly_the_dumped_report_even_on_a_narrow_terminal(report: Report) -> None:
    # Given a narrow colour terminal, where rich would wrap and highlight printed text
    sink = io.StringIO()
    console = Console(file=sink, width=40, force_terminal=True, color_system="truecolor")
    # When the JSON format is rendered
    render(report, "json", console)
    # Then the bytes are the plain JSON, parseable and schema-valid
    assert sink.getvalue() == dumps_report(report)
    validate_report(json.loads(sink.getvalue()))


def test_render_table_writes_the_human_report(report: Report) -> None:
    sink = io.StringIO()
    render(report, "table", Console(file=sink, width=100), verbose=False)
    assert "Not shown: 3 closed tcp ports (reset), 1 closed udp port (icmp)" in sink.getvalue()


def test_render_rejects_an_unknown_format(report: Report) -> None:
    with pytest.raises(UsageError, match="unknown report format 'xml'; use 'table' or 'json'"):
        render(report, "xml", Console(file=io.StringIO()))  # type: ignore[arg-type]


def test_render_to_string_gives_plain_text_for_files(report: Report) -> None:
    table = render_to_string(report, "table", verbose=True)
    assert "\x1b" not in table
    assert max(len(line) for line in table.splitlines()) <= 100
    assert "23/tcp" in table
    assert json.loads(render_to_string(report, "json")) == to_jsonable(report)
