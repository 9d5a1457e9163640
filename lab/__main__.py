"""``python -m lab up|down|status [--site FILE|NAME]``: the lab site from the command line.

A thin shell over ``lab.control``: it parses arguments, calls one function and
prints the outcome. ``LabError`` becomes a one-line message and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from porthole.errors import LabError

from lab import control


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="Start, stop and inspect the simulated charger site (network namespaces; needs root).",
    )
    parser.add_argument(
        "command",
        choices=("up", "down", "status"),
        help="up: build the site and start its services; down: remove it; status: show what runs",
    )
    parser.add_argument(
        "--site",
        default=str(control.DEFAULT_SITE),
        help="site file (default: lab/site.toml); down and status also accept a site name",
    )
    arguments = parser.parse_args(argv)
    site: Path | str = arguments.site if _looks_like_name(arguments.site) else Path(arguments.site)
    try:
        if arguments.command == "up":
            state = control.up(Path(arguments.site))
            print(f"lab site {state.site_name!r} is up; scan from: ip netns exec {state.scanner_namespace} ...")
            _print_state(state)
        elif arguments.command == "down":
            state = control.status(site)
            control.down(site)
            print(f"lab site {state.site_name!r} is down" if state else "lab site was not up: nothing to do")
        else:
            state = control.status(site)
            if state is None:
                print("lab site is not up")
                return 3
            _print_state(state)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return 0


def _looks_like_name(text: str) -> bool:
    return "/" not in text and not text.endswith(".toml")


def _print_state(state: control.LabState) -> None:
    print(f"site {state.site_name} ({state.phase}, since {state.started_at}); state in {state.state_directory}")
    print(f"  {'scan':<10} {state.addresses.get('scan', '?'):<15} {state.scanner_namespace}")
    by_host: dict[str, list[control.ProcessRecord]] = {}
    for record in state.processes:
        by_host.setdefault(record.host, []).append(record)
    for host, address in state.addresses.items():
        if host == "scan":
            continue
        records = by_host.get(host, [])
        print(f"  {host:<10} {address:<15} {len(records)} service(s)")
        for record in records:
            alive = "running" if record.is_running() else "DEAD"
            print(f"      {record.kind:<10} {','.join(record.ports):<28} pid {record.pid:<8} {alive}  log {record.log}")
    for record in by_host.get("scan", []):
        alive = "running" if record.is_running() else "DEAD"
        print(f"  delay link pid {record.pid} {alive}  log {record.log}")


if __name__ == "__main__":
    sys.exit(main())
