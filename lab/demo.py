"""``make demo``: start the lab site, audit every controller, show the report, stop the lab.

Runs as root (the lab creates network namespaces). porthole itself runs *inside* the
lab's scanner namespace, so every packet of the demo stays in namespaces the lab made.
The lab is torn down whatever happens (Ctrl-C included), leaving nothing running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lab import control

REPORT_PATH = Path(os.environ.get("PORTHOLE_DEMO_REPORT", "demo-report.json"))


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    site_path = Path(args[0]) if args else control.DEFAULT_SITE
    if os.geteuid() != 0:
        print("make demo needs root: the lab creates network namespaces (try: sudo make demo)", file=sys.stderr)
        return 3
    site = control.load_site(site_path)
    controllers = [c for c in site.controllers]
    print(f"==> starting lab site {site.name!r}: " + ", ".join(f"{c.name} {c.address}" for c in controllers), flush=True)
    try:
        control.up(site_path)
        porthole = str(Path(sys.executable).with_name("porthole"))
        targets = [str(c.address) for c in controllers]
        command = [
            *control.scanner_prefix(site),
            porthole,
            "audit",
            *targets,
            "--scope",
            str(site.subnet),
            "--role",
            "auto",
            "--format",
            "json",
            "--output",
            str(REPORT_PATH.resolve()),
        ]
        print(f"==> {' '.join(command)}", flush=True)
        audit = subprocess.run(command, check=False)
        print(
            f"==> porthole exited {audit.returncode} "
            "(0 clean, 1 findings at or above --fail-on, 2 usage error, 3 scan could not run); "
            f"JSON report: {REPORT_PATH}",
            flush=True,
        )
        return 0 if audit.returncode in (0, 1) else audit.returncode
    finally:
        print(f"==> stopping lab site {site.name!r}", flush=True)
        control.down(site_path)


if __name__ == "__main__":
    raise SystemExit(main())
