"""The command line a report records carries no secret: store passwords and webhook URLs are masked.

Reports and the sweep store keep ``command`` for years and hand it to webhooks; a
``--store postgresql://user:password@...`` or a ``--webhook`` URL (Slack and Teams put
the credential in the path) must not travel with them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from porthole.cli._common import recorded_command


@pytest.mark.parametrize(
    ("argv", "recorded"),
    [
        (["audit", "198.18.0.10", "--role", "master"], "porthole audit 198.18.0.10 --role master"),
        (
            ["audit", "198.18.0.10", "--store", "postgresql://porthole:s3cret@db.example:5432/sweeps?sslmode=require"],
            "porthole audit 198.18.0.10 --store 'postgresql://porthole:***@db.example:5432/sweeps?sslmode=require'",
        ),
        (["audit", "198.18.0.10", "--store=postgresql://u:pw@db/sweeps"], "porthole audit 198.18.0.10 '--store=postgresql://u:***@db/sweeps'"),
        (["watch", "198.18.0.0/24", "--webhook", "https://hooks.slack.com/services/T00/B00/XXXX"], "porthole watch 198.18.0.0/24 --webhook 'https://hooks.slack.com/***'"),
        (["watch", "198.18.0.0/24", "--webhook=https://alerts.example/hook?token=abc"], "porthole watch 198.18.0.0/24 '--webhook=https://alerts.example/***'"),
        (["watch", "198.18.0.0/24", "--webhook", "not a url"], "porthole watch 198.18.0.0/24 --webhook '***'"),
        (["audit", "--store", "postgresql:///sweeps?host=/run/postgresql"], "porthole audit --store 'postgresql:///sweeps?host=/run/postgresql'"),
    ],
)
def test_secrets_in_the_command_line_are_masked(argv: list[str], recorded: str) -> None:
    assert recorded_command(argv) == recorded


def test_a_stored_sweep_keeps_the_command_without_the_webhook_token(tmp_path) -> None:
    # Given a watch run from the real command line with a webhook whose path is its credential
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    store = tmp_path / "history.sqlite"
    token = "T0AAAA/B0BBBB/SECRETSECRET"
    try:
        watched = subprocess.run(
            [sys.executable, "-m", "porthole", "watch", "127.0.0.1", "--once", "--no-discovery", "--ports", str(port),
             "--store", str(store), "--webhook", f"http://127.0.0.1:9/services/{token}"],
            capture_output=True, text=True, timeout=120, check=False,
        )
    finally:
        listener.close()
    assert watched.returncode == 0, watched.stderr
    # When the sweep history is read back
    listed = subprocess.run([sys.executable, "-m", "porthole", "history", "--store", str(store), "--format", "json"], capture_output=True, text=True, timeout=60, check=False)
    (sweep,) = json.loads(listed.stdout)
    # Then the command is there, without the token
    assert sweep["command"].startswith("porthole watch 127.0.0.1 --once")
    assert "http://127.0.0.1:9/***" in sweep["command"] and "SECRET" not in sweep["command"]
