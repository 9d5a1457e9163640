"""Scheduled sweeps: sweep, store, compare with the previous sweep, tell someone.

Order matters and is the contract: the sweep is stored first (one transaction), then
the drift against the previous complete sweep is computed, then the metrics file is
written and the webhook notified. A webhook that is down or a metrics directory that
vanished never loses a stored sweep. An interrupted (partial) sweep is stored, marked
as such, and not compared: a half-scanned host is not drift.

The sweep itself is injected (``SweepFunction``) so this module owns no scanning and
no command-line parsing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from porthole.errors import UsageError
from porthole.history.drift import Drift, diff_reports, drift_to_json
from porthole.history.metrics import render_metrics, write_metrics
from porthole.history.notify import Delivery, notify_webhook
from porthole.history.store import SweepStore

__all__ = ["SweepFunction", "WebhookSettings", "WatchOutcome", "sweep_once", "watch_every", "parse_interval"]

log = logging.getLogger("porthole.history.watch")

#: runs one sweep and returns its report in JSON form
SweepFunction = Callable[[], Awaitable[dict[str, Any]]]

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``1d`` → seconds (at least one second)."""
    match = _INTERVAL.match(text.lower())
    if not match or float(match[1]) * _UNIT_SECONDS[match[2]] < 1:
        raise UsageError(f"--every {text!r}: give a duration of at least one second such as 90s, 15m, 1h or 1d")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSettings:
    url: str
    attempts: int = 5
    initial_delay_s: float = 1.0
    backoff_factor: float = 2.0
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchOutcome:
    sweep_id: int
    report: dict[str, Any]
    #: None when there was nothing to compare with (first sweep, or this one interrupted)
    drift: Drift | None
    #: None when no webhook was configured or there was no drift to report
    delivery: Delivery | None = None


async def sweep_once(
    sweep: SweepFunction,
    store: SweepStore,
    *,
    webhook: WebhookSettings | None = None,
    metrics_file: Path | None = None,
) -> WatchOutcome:
    report = await sweep()
    sweep_id = store.record(report)  # first: nothing after this line can lose the sweep
    drift: Drift | None = None
    if not report.get("interrupted"):
        previous = store.previous_complete(sweep_id)
        if previous is not None:
            drift = diff_reports(store.report(previous), report, before_sweep=previous, after_sweep=sweep_id)
    if metrics_file is not None:
        try:
            write_metrics(metrics_file, render_metrics(report, drift_changes=None if drift is None else len(drift.changes)))
        except UsageError as exc:  # the sweep is stored; a metrics file is not worth losing the run over
            log.error("metrics file not written: %s", exc)
    delivery: Delivery | None = None
    if webhook is not None and drift:
        delivery = await notify_webhook(
            webhook.url,
            _payload(report, drift, store),
            attempts=webhook.attempts,
            initial_delay_s=webhook.initial_delay_s,
            backoff_factor=webhook.backoff_factor,
            timeout_s=webhook.timeout_s,
        )
        if not delivery.delivered:
            log.error("webhook %s not notified after %d attempts (%s); sweep %d is stored", webhook.url, delivery.attempts, delivery.error, sweep_id)
    return WatchOutcome(sweep_id=sweep_id, report=report, drift=drift, delivery=delivery)


async def watch_every(
    sweep: SweepFunction,
    store: SweepStore,
    interval_s: float,
    *,
    webhook: WebhookSettings | None = None,
    metrics_file: Path | None = None,
    on_outcome: Callable[[WatchOutcome], None] = lambda outcome: None,
    sweeps: int | None = None,
) -> WatchOutcome:
    """Sweep every ``interval_s`` seconds (start to start; a slow sweep delays the next,
    sweeps never overlap) until a sweep is interrupted (Ctrl-C, SIGTERM: the partial
    sweep is stored, then the watch stops) or, when given, ``sweeps`` times.
    Returns the last outcome."""
    loop = asyncio.get_running_loop()
    done = 0
    while True:
        started = loop.time()
        outcome = await sweep_once(sweep, store, webhook=webhook, metrics_file=metrics_file)
        on_outcome(outcome)
        done += 1
        if outcome.report.get("interrupted") or (sweeps is not None and done >= sweeps):
            return outcome
        await asyncio.sleep(max(0.0, interval_s - (loop.time() - started)))


def _payload(report: dict[str, Any], drift: Drift, store: SweepStore) -> dict[str, Any]:
    return {
        "event": "porthole.drift",
        "store": str(store.path),
        "sweep_started_at": report.get("started_at"),
        "sweep_finished_at": report.get("finished_at"),
        **drift_to_json(drift),
    }
