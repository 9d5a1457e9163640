"""The pure drift diff: every kind of change, and what is deliberately not a change."""

from __future__ import annotations

from history_reports import finding, host, port, report, ssh_evidence, tls_evidence

from porthole.history.drift import Change, ChangeKind, diff_reports, drift_to_json


def test_identical_reports_have_no_drift():
    # Given the same report twice
    sweep = report(host("198.18.0.10", port(80), port(443, evidence=tls_evidence("aa" * 32))))
    # When they are compared
    drift = diff_reports(sweep, sweep, before_sweep=1, after_sweep=2)
    # Then nothing changed and the drift is falsy
    assert drift.changes == () and not drift


def test_opened_and_closed_ports_are_reported_with_service_and_state():
    # Given 80 open then closed, 502 closed then open
    before = report(host("198.18.0.10", port(80, summary="lighttpd 1.4"), port(502, "closed", service="modbus")))
    after = report(host("198.18.0.10", port(80, "closed"), port(502, service="modbus", summary="Modbus/TCP unit 1")))
    # When compared
    drift = diff_reports(before, after)
    # Then one port-closed and one port-opened, in port order
    assert drift.changes == (
        Change(kind=ChangeKind.PORT_CLOSED, host="198.18.0.10", port=80, protocol="tcp", before="lighttpd 1.4", after="closed"),
        Change(kind=ChangeKind.PORT_OPENED, host="198.18.0.10", port=502, protocol="tcp", before="closed", after="Modbus/TCP unit 1"),
    )


def test_a_port_only_one_sweep_probed_is_not_drift():
    # Given a second sweep run with a narrower --ports
    before = report(host("198.18.0.10", port(80), port(8080)))
    after = report(host("198.18.0.10", port(80)))
    # Then 8080 is not reported as closed
    assert diff_reports(before, after).changes == ()


def test_service_version_change_is_reported():
    before = report(host("198.18.0.10", port(22, service="ssh", summary="OpenSSH_9.2p1")))
    after = report(host("198.18.0.10", port(22, service="ssh", summary="OpenSSH_9.6p1")))
    assert diff_reports(before, after).changes == (
        Change(kind=ChangeKind.SERVICE_CHANGED, host="198.18.0.10", port=22, protocol="tcp", before="OpenSSH_9.2p1", after="OpenSSH_9.6p1"),
    )


def test_rotated_certificate_is_a_fingerprint_change_of_the_leaf_only():
    # Given the same CA but a new leaf certificate on 443
    before = report(host("198.18.0.10", port(443, evidence=tls_evidence("aa" * 32))))
    after = report(host("198.18.0.10", port(443, evidence=tls_evidence("bb" * 32))))
    # Then one fingerprint change naming the leaf's old and new SHA-256
    assert diff_reports(before, after).changes == (
        Change(kind=ChangeKind.FINGERPRINT_CHANGED, host="198.18.0.10", port=443, protocol="tcp", subject="tls-certificate", before="aa" * 32, after="bb" * 32),
    )


def test_ssh_kexinit_and_identification_changes_are_fingerprint_changes():
    before = report(host("198.18.0.10", port(22, service="ssh", summary="s", evidence=ssh_evidence("SSH-2.0-OpenSSH_9.2", ["curve25519-sha256"]))))
    after = report(host("198.18.0.10", port(22, service="ssh", summary="s", evidence=ssh_evidence("SSH-2.0-OpenSSH_9.2", ["curve25519-sha256", "diffie-hellman-group14-sha1"]))))
    changes = diff_reports(before, after).changes
    assert [(change.kind, change.subject) for change in changes] == [(ChangeKind.FINGERPRINT_CHANGED, "ssh-kexinit")]


def test_a_failed_tls_probe_is_not_a_rotated_certificate():
    # Given certificate evidence in the first sweep and none (probe failed) in the second
    before = report(host("198.18.0.10", port(443, evidence=tls_evidence("aa" * 32))))
    after = report(host("198.18.0.10", port(443)))
    assert diff_reports(before, after).changes == ()


def test_new_and_resolved_findings_are_reported():
    before = report(host("198.18.0.10", port(443), findings=(finding("tls-expired-cert", "high", 443),)))
    after = report(host("198.18.0.10", port(443), findings=(finding("tls-self-signed-cert", "medium", 443),)))
    changes = diff_reports(before, after).changes
    assert [(change.kind, change.subject, change.before, change.after) for change in changes] == [
        (ChangeKind.FINDING_RESOLVED, "tls-expired-cert", "high: tls expired cert", None),
        (ChangeKind.FINDING_NEW, "tls-self-signed-cert", None, "medium: tls self signed cert"),
    ]


def test_hosts_appearing_and_disappearing_are_host_level_changes_in_address_order():
    # Given .9 up in the first sweep only, .20 up in the second only, .10 down then absent
    before = report(host("198.18.0.9", port(80)), host("198.18.0.10", status="down"))
    after = report(host("198.18.0.20", port(80), port(443), findings=(finding("exposure-unexpected-open"),)))
    changes = diff_reports(before, after).changes
    # Then .9 disappeared with its open ports, .20 appeared (its findings are not listed one by one)
    assert changes == (
        Change(kind=ChangeKind.HOST_DISAPPEARED, host="198.18.0.9", before="80/tcp"),
        Change(kind=ChangeKind.HOST_APPEARED, host="198.18.0.20", after="80/tcp, 443/tcp"),
    )


def test_drift_json_names_sweeps_and_uses_kind_values():
    before = report(host("198.18.0.10", port(80, "closed")))
    after = report(host("198.18.0.10", port(80)))
    assert drift_to_json(diff_reports(before, after, before_sweep=3, after_sweep=4)) == {
        "before_sweep": 3, "after_sweep": 4,
        "changes": [{"kind": "port-opened", "host": "198.18.0.10", "port": 80, "protocol": "tcp", "subject": None, "before": "closed", "after": "http"}],
    }
