"""Scheduled sweeps against a real webhook receiver (aiohttp.web on 127.0.0.1):
retries with backoff, permanent failure, and the sweep stored whatever the webhook does."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from history_reports import finding, host, port, report

from porthole.history.metrics import render_metrics
from porthole.history.notify import notify_webhook
from porthole.history.store import open_store
from porthole.history.watch import WebhookSettings, parse_interval, sweep_once, watch_every
from porthole.errors import UsageError


class Receiver:
    """Answers each POST with the next status of ``statuses`` (the last one repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        status = self.statuses[min(len(self.bodies), len(self.statuses)) - 1]
        return web.Response(status=status, text="ok" if status < 300 else "nope")


@pytest.fixture
async def receiver_at():
    runners: list[web.AppRunner] = []

    async def start(statuses: list[int]) -> tuple[Receiver, str]:
        receiver = Receiver(statuses)
        application = web.Application()
        application.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(application)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        bound_port = runner.addresses[0][1]
        return receiver, f"http://127.0.0.1:{bound_port}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


def sweeps(*reports: dict):
    queue = list(reports)

    async def sweep() -> dict:
        return queue.pop(0)

    return sweep


async def test_webhook_failing_twice_then_accepting_is_delivered_on_the_third_attempt(receiver_at):
    # Given a receiver that answers 503, 500, then 204
    receiver, url = await receiver_at([503, 500, 204])
    # When porthole notifies it with a tiny backoff
    delivery = await notify_webhook(url, {"event": "porthole.drift"}, attempts=5, initial_delay_s=0.01)
    # Then it took three attempts and the receiver got the same body each time
    assert (delivery.delivered, delivery.attempts, delivery.status) == (True, 3, 204)
    assert receiver.bodies == [{"event": "porthole.drift"}] * 3


async def test_client_errors_are_not_retried(receiver_at):
    receiver, url = await receiver_at([400])
    delivery = await notify_webhook(url, {"event": "x"}, attempts=5, initial_delay_s=0.01)
    assert (delivery.delivered, delivery.attempts, len(receiver.bodies)) == (False, 1, 1)
    assert "not retried" in (delivery.error or "")


async def test_an_unreachable_webhook_is_reported_not_raised(unused_tcp_port):
    delivery = await notify_webhook(f"http://127.0.0.1:{unused_tcp_port}/hook", {"event": "x"}, attempts=3, initial_delay_s=0.01)
    assert (delivery.delivered, delivery.attempts, delivery.status) == (False, 3, None)


async def test_a_failing_webhook_is_logged_without_its_credential(unused_tcp_port, caplog):
    # Given a webhook URL whose path is its secret, on a port nothing listens on
    url = f"http://127.0.0.1:{unused_tcp_port}/services/T0/B0/SECRETTOKEN"
    with caplog.at_level("WARNING", logger="porthole.history.notify"):
        delivery = await notify_webhook(url, {"event": "x"}, attempts=2, initial_delay_s=0.01)
    # Then each failed attempt is logged, and neither the log nor the outcome holds the secret
    assert not delivery.delivered and len(caplog.records) == 2
    assert all(f"http://127.0.0.1:{unused_tcp_port}/***" in record.getMessage() for record in caplog.records)
    assert "SECRETTOKEN" not in caplog.text and "SECRETTOKEN" not in (delivery.error or "")


async def test_drift_is_posted_to_the_webhook_after_the_sweep_is_stored(receiver_at, tmp_path):
    # Given a stored sweep with 80 open, and a second sweep where 502 opened too
    receiver, url = await receiver_at([200])
    first = report(host("198.18.0.10", port(80), port(502, "closed", service="modbus")))
    second = report(host("198.18.0.10", port(80), port(502, service="modbus")), started_at="2025-01-01T01:00:00Z")
    with open_store(tmp_path / "h.sqlite") as store:
        settings = WebhookSettings(url=url, initial_delay_s=0.01)
        baseline = await sweep_once(sweeps(first), store, webhook=settings)
        # When the second sweep runs
        outcome = await sweep_once(sweeps(second), store, webhook=settings)
        # Then the first produced no drift and no notification; the second notified once
        assert (baseline.drift, baseline.delivery) == (None, None)
        assert outcome.delivery is not None and outcome.delivery.delivered
        [body] = receiver.bodies
        assert body["event"] == "porthole.drift"
        assert (body["before_sweep"], body["after_sweep"]) == (baseline.sweep_id, outcome.sweep_id)
        assert body["changes"] == [{"kind": "port-opened", "host": "198.18.0.10", "port": 502, "protocol": "tcp", "subject": None, "before": "closed", "after": "modbus"}]


async def test_a_webhook_that_never_accepts_does_not_lose_the_sweep(receiver_at, tmp_path):
    # Given a receiver that always answers 503
    receiver, url = await receiver_at([503])
    with open_store(tmp_path / "h.sqlite") as store:
        settings = WebhookSettings(url=url, attempts=3, initial_delay_s=0.01)
        await sweep_once(sweeps(report(host("198.18.0.10", port(80)))), store, webhook=settings)
        # When a drifting sweep cannot be delivered
        outcome = await sweep_once(sweeps(report(host("198.18.0.10", port(80, "closed")))), store, webhook=settings)
        # Then delivery failed after three attempts, and both sweeps are stored
        assert outcome.delivery is not None and (outcome.delivery.delivered, outcome.delivery.attempts) == (False, 3)
        assert len(receiver.bodies) == 3
        assert [sweep.id for sweep in store.sweeps()] == [outcome.sweep_id, outcome.sweep_id - 1]
        assert store.report(outcome.sweep_id)["hosts"][0]["ports"][0]["state"] == "closed"


async def test_an_interrupted_sweep_is_stored_but_not_compared(tmp_path):
    with open_store(tmp_path / "h.sqlite") as store:
        await sweep_once(sweeps(report(host("198.18.0.10", port(80)))), store)
        outcome = await sweep_once(sweeps(report(host("198.18.0.10", port(80, "closed")), interrupted=True)), store)
        assert outcome.drift is None
        assert store.sweeps()[0].interrupted


async def test_watch_every_sweeps_the_given_number_of_times_and_writes_metrics(tmp_path):
    # Given three sweeps, the last with a finding
    metrics = tmp_path / "porthole.prom"
    reports = [report(host("198.18.0.10", port(80))), report(host("198.18.0.10", port(80))), report(host("198.18.0.10", port(80), findings=(finding("x", "high"),)))]
    seen = []
    with open_store(tmp_path / "h.sqlite") as store:
        # When watched three times at a tiny interval
        last = await watch_every(sweeps(*reports), store, 0.01, metrics_file=metrics, on_outcome=seen.append, sweeps=3)
        # Then all three are stored; the last drift is one new finding
        assert [outcome.sweep_id for outcome in seen] == [1, 2, 3] and last is seen[-1]
        assert [change.kind.value for change in last.drift.changes] == ["finding-new"]
    text = metrics.read_text()
    assert 'porthole_findings{severity="high"} 1' in text and "porthole_drift_changes 1" in text


def test_metrics_text_counts_open_ports_per_host_and_findings_per_severity():
    sweep = report(
        host("198.18.0.10", port(80), port(443), port(502, "closed"), findings=(finding("a", "medium"), finding("b", "medium"))),
        host("198.18.0.11", port(22, "filtered")),
        duration_s=12.25,
    )
    lines = render_metrics(sweep).splitlines()
    samples = [line for line in lines if not line.startswith("#")]
    assert samples == [
        'porthole_open_ports{host="198.18.0.10"} 2',
        'porthole_open_ports{host="198.18.0.11"} 0',
        'porthole_findings{severity="info"} 0',
        'porthole_findings{severity="low"} 0',
        'porthole_findings{severity="medium"} 2',
        'porthole_findings{severity="high"} 0',
        'porthole_findings{severity="critical"} 0',
        "porthole_last_sweep_timestamp_seconds 1735689602.500",
        "porthole_last_sweep_duration_seconds 12.250",
        "porthole_last_sweep_interrupted 0",
    ]


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("1h", 3600.0), ("1.5h", 5400.0), ("1d", 86400.0)])
def test_intervals_are_parsed(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "h", "1w", "-5m"])
def test_bad_intervals_are_usage_errors(text):
    with pytest.raises(UsageError, match="--every"):
        parse_interval(text)
