"""What the throw-away PostgreSQL clusters of the history tests share: the Debian server
binaries and how to run them unprivileged (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

#: run a command as nobody:nogroup
UNPRIVILEGED = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--")


def postgresql_binaries() -> Path:
    """The newest installed major version's bin directory (/usr/lib/postgresql/15/bin on Debian 12)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parent.parent.name))
    if not candidates:
        pytest.fail("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; install them with `apt-get install postgresql`")
    return candidates[-1].parent


def discard_cluster(binaries: Path, directory: Path) -> None:
    """Stop the cluster whose data lives in ``directory/data`` (immediately: it is throw-away) and delete it all."""
    subprocess.run(
        [*UNPRIVILEGED, str(binaries / "pg_ctl"), "-D", str(directory / "data"), "-m", "immediate", "-w", "stop"],
        capture_output=True, timeout=60, cwd=directory,
    )
    shutil.rmtree(directory, ignore_errors=True)
