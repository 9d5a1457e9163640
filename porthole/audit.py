"""From a scan outcome to a report: role decision, profile diff, findings, summary.

Pure apart from ``execute`` (which runs the engine and keeps partial results when
interrupted). The CLI calls, in order:

    selection = ProfileSelection.from_options(role=..., profile=...)   # bad profile → exit 2, nothing scanned
    outcome, interrupted = await execute(scanner, targets)
    report = build_report(outcome, selection=selection, ...)
"""

from __future__ import annotations

import asyncio
import platform
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from porthole import profiles, services
from porthole.engine import Scanner, ScanOutcome
from porthole.errors import ProfileError
from porthole.model import HostResult, HostStatus, Report, RoleInference
from porthole.report.build import new_report
from porthole.targets import TargetSet

__all__ = ["ProfileSelection", "execute", "apply_assessments", "apply_profiles", "build_report", "AUTO_ROLES"]

#: The roles ``--role auto`` chooses between.
AUTO_ROLES = ("master", "slave")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileSelection:
    """Which profile each host is diffed against.

    * ``fixed``: one profile for every host (``--profile FILE`` or ``--role NAME``);
    * ``candidates``: ``--role auto``: per host, the role inferred from the evidence;
    * neither: no diff (``porthole scan``).
    """

    fixed: profiles.Profile | None = None
    candidates: Mapping[str, profiles.Profile] | None = None

    @classmethod
    def from_options(cls, *, role: str | None, profile: str | None) -> "ProfileSelection":
        if profile is not None:
            loaded = profiles.load_profile(Path(profile) if _looks_like_path(profile) else profile)
            if role not in (None, "auto") and loaded.role != role:
                raise ProfileError(f"--role {role} contradicts --profile {profile}, whose role is {loaded.role!r}; give one of them")
            return cls(fixed=loaded)
        if role is None:
            return cls()
        if role == "auto":
            return cls(candidates={name: profiles.load_role_profile(name) for name in AUTO_ROLES})
        return cls(fixed=profiles.load_role_profile(role))

    @property
    def enabled(self) -> bool:
        return self.fixed is not None or bool(self.candidates)

    def describe(self) -> dict[str, Any]:
        if self.fixed is not None:
            return {"mode": "fixed", "profile": self.fixed.ref().id, "path": str(self.fixed.path)}
        if self.candidates:
            return {"mode": "auto", "candidates": sorted(self.candidates)}
        return {"mode": "none"}


def _looks_like_path(text: str) -> bool:
    return "/" in text or text.endswith(".toml")


async def execute(scanner: Scanner, targets: TargetSet, *, handle_signals: bool = True) -> tuple[ScanOutcome, bool]:
    """Run the scan; on SIGINT/SIGTERM stop it and return what was found so far.

    Returns ``(outcome, interrupted)``. The signal handlers cancel only the scan task,
    so the caller keeps running to write the partial report.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(scanner.run(targets, total=len(targets)))
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    for number in signals:
        loop.add_signal_handler(number, interrupt)
    try:
        return await task, False
    except asyncio.CancelledError:
        if not interrupted:
            raise
        return scanner.snapshot(), True
    finally:
        for number in signals:
            loop.remove_signal_handler(number)


def apply_assessments(hosts: Sequence[HostResult]) -> list[HostResult]:
    """Attach each probe's findings (pure judgement of the evidence) to its host."""
    return [replace(host, findings=(*host.findings, *services.assess_host(host))) for host in hosts]


def apply_profiles(hosts: Sequence[HostResult], selection: ProfileSelection) -> list[HostResult]:
    """Attach role, profile reference, deviations and findings to each host."""
    if not selection.enabled:
        return list(hosts)
    assessed = []
    for host in hosts:
        if selection.fixed is not None:
            profile = selection.fixed
            role = RoleInference(role=profile.role, method="declared", evidence=(f"profile {profile.ref().id} given on the command line",))
        else:
            assert selection.candidates is not None
            role = profiles.infer_role(host.ports, selection.candidates, clues=_role_clues(host))
            profile = selection.candidates.get(role.role) if role.role else None
        if profile is None or host.status is HostStatus.DOWN:
            assessed.append(replace(host, role=role))
            continue
        deviations, findings = profiles.diff(host.ports, profile)
        assessed.append(replace(host, role=role, profile=profile.ref(), deviations=tuple(deviations), findings=(*host.findings, *findings)))
    return assessed


def _role_clues(host: HostResult) -> list[profiles.RoleClue]:
    """Evidence beyond the master ports: the forwarders' certificates (audits only)."""
    if not any("tls" in observation.evidence for observation in host.ports):
        return []
    from porthole.services.tls.role import forwarder_certificate_clues

    return forwarder_certificate_clues(host.ports)


def build_report(
    outcome: ScanOutcome,
    *,
    command: str,
    selection: ProfileSelection,
    started_at: datetime,
    finished_at: datetime,
    duration_s: float,
    interrupted: bool,
    config: Mapping[str, Any],
    targets: TargetSet,
) -> Report:
    # Only an audit has probe evidence to judge (and only it pays for importing the probes).
    hosts = apply_assessments(outcome.hosts) if config.get("fingerprint") else list(outcome.hosts)
    hosts = apply_profiles(hosts, selection)
    return new_report(
        command=command,
        started_at=started_at,
        finished_at=finished_at,
        duration_s=round(duration_s, 3),
        hosts=hosts,
        interrupted=interrupted,
        vantage={"hostname": socket.gethostname(), "platform": platform.platform(terse=True)},
        config={**config, "profiles": selection.describe(), "discovery": outcome.discovery},
        targets={
            "specs": list(targets.specs),
            "excluded": list(targets.excluded),
            "scope": list(targets.scope),
            "count": len(targets),
            "down": outcome.down,
            "not_scanned": outcome.not_scanned,
        },
        errors=outcome.errors,
        down_count=len(outcome.down),
    )
