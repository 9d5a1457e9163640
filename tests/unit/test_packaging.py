"""A wheel of porthole carries the role profiles, and an installed porthole finds them.

The profiles live top-level (``profiles/``); pyproject's ``data-files`` puts them under
``<prefix>/share/porthole/profiles`` in a wheel, where ``porthole.profiles`` looks when
there is no source checkout around it. Built for real with pip (out of a copy of the
tree, so the checkout gets no ``build/``), installed for real into a bare venv.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
PROFILE_NAMES = sorted(path.stem for path in (REPOSITORY / "profiles").glob("*.toml"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(
        REPOSITORY, source,
        ignore=shutil.ignore_patterns(".venv", ".git", "bench", "tests", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"),
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (path,) = (work / "dist").glob("porthole-*.whl")
    return path


def test_the_wheel_carries_every_role_profile_as_shared_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = {name for name in names if "/share/porthole/profiles/" in name}
    assert PROFILE_NAMES and {Path(name).stem for name in data} == set(PROFILE_NAMES)
    assert all(name.startswith("porthole-") and ".data/data/share/porthole/profiles/" in name for name in data)


def test_an_installed_porthole_loads_its_role_profiles_without_a_source_checkout(wheel: Path, tmp_path: Path) -> None:
    # Given a bare venv with only the wheel installed (porthole.profiles needs the standard library only)
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False)
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--prefix", str(environment), str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    # When it loads the master and slave profiles by role, from a directory far from any checkout
    code = (
        "from porthole.profiles import load_role_profile, REPOSITORY_PROFILES_DIR\n"
        "assert not REPOSITORY_PROFILES_DIR.exists(), REPOSITORY_PROFILES_DIR\n"
        "for role in ('master', 'slave'):\n"
        "    profile = load_role_profile(role)\n"
        "    print(role, profile.role, profile.path)\n"
    )
    ran = subprocess.run([str(environment / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr[-2000:]
    # Then each comes from the venv's share/porthole/profiles
    lines = dict(line.split(" ", 1) for line in ran.stdout.splitlines())
    for role in ("master", "slave"):
        found_role, path = lines[role].split(" ", 1)
        assert found_role == role
        assert Path(path) == environment / "share" / "porthole" / "profiles" / f"{role}.toml"
