"""lab.services._common: strict options, the command line, and signal handling of a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.services import KINDS
from lab.services._common import options_from_mapping, parse_port_argument
from lab.services.http import Login
from lab.services.http import Options as HttpOptions
from porthole.errors import LabError
from porthole.model import Protocol as Transport

REPOSITORY = Path(__file__).resolve().parents[3]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    count: int = 1
    ratio: float = 0.5
    names: tuple[str, ...] = ()
    label: str | None = None


def test_options_parse_json_values_into_typed_fields() -> None:
    options = options_from_mapping(Sample, {"count": 3, "ratio": 2, "names": ["a", "b"], "label": None}, kind="x")
    assert options == Sample(count=3, ratio=2.0, names=("a", "b"), label=None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"cuont": 3}, "unknown option 'cuont'"),
        ({"count": True}, "option 'count': expected an integer"),
        ({"count": "3"}, "option 'count': expected an integer"),
        ({"names": "a"}, "option 'names': expected a list"),
        ({"label": 5}, "option 'label': expected a string"),
    ],
)
def test_bad_options_are_errors_naming_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(LabError, match=re.escape(message)):
        options_from_mapping(Sample, raw, kind="x")


def test_enum_options_accept_their_values_only() -> None:
    assert options_from_mapping(HttpOptions, {"login": "basic"}, kind="http").login is Login.BASIC
    with pytest.raises(LabError, match="'digest' is not one of 'form', 'basic'"):
        options_from_mapping(HttpOptions, {"login": "digest"}, kind="http")


@pytest.mark.parametrize(
    ("text", "expected"), [("80", (80, Transport.TCP)), ("443/tcp", (443, Transport.TCP)), ("1900/udp", (1900, Transport.UDP))]
)
def test_port_arguments(text: str, expected: tuple[int, Transport]) -> None:
    assert parse_port_argument(text) == expected


@pytest.mark.parametrize("text", ["http", "70000", "53/sctp", "-1"])
def test_bad_port_arguments(text: str) -> None:
    with pytest.raises(LabError):
        parse_port_argument(text)


def test_every_kind_is_a_module_with_main_and_serve() -> None:
    import importlib

    modules = {path.stem for path in (REPOSITORY / "lab" / "services").glob("*.py") if not path.stem.startswith("_")}
    assert modules == set(KINDS)
    for kind in KINDS:
        module = importlib.import_module(f"lab.services.{kind}")
        assert callable(module.main) and callable(module.serve) and module.__doc__


def _run(kind: str, *arguments: str, state_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", f"lab.services.{kind}", *arguments, "--state-dir", str(state_dir), "--name", "master"],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )


def test_process_with_an_unknown_option_exits_2_naming_the_key(tmp_path: Path) -> None:
    # Given a site file typo in the options
    process = _run("http", "--bind", "127.0.0.1", "--port", "0", "--options", '{"redirect_to_http": true}',
                   state_dir=tmp_path / "master")
    _stdout, stderr = process.communicate(timeout=30)
    # Then the process refuses to start, naming the key
    assert process.returncode == 2
    assert "unknown option 'redirect_to_http'" in stderr


def test_process_with_a_port_of_the_wrong_transport_exits_2(tmp_path: Path) -> None:
    process = _run("http", "--bind", "127.0.0.1", "--port", "80/udp", state_dir=tmp_path / "master")
    _stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "serves tcp ports only" in stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_process_shuts_down_cleanly_on_sigterm_and_sigint(tmp_path: Path, stop_signal: signal.Signals) -> None:
    # Given a running service process
    process = _run("http", "--bind", "127.0.0.1", "--port", "0", state_dir=tmp_path / "master")
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 30
        line = ""
        while "serving on" not in line and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
        assert "serving on 127.0.0.1 port(s)" in line
        # When it gets the signal
        process.send_signal(stop_signal)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Then it exits 0 after logging its shutdown
    assert process.returncode == 0
    assert "shutting down" in process.stderr.read()
