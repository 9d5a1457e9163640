"""SEMP assess and summary on hand-built evidence (the JSON form the probe returns)."""

from __future__ import annotations

from porthole.model import PortObservation, PortState, Protocol, Reason, Severity
from porthole.services.semp import SempProbe
from porthole.services.semp.assess import assess, summarise

PORT = PortObservation(port=8888, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="semp")


def recognised_evidence(**overrides: object) -> dict:
    evidence = {
        "recognised": True,
        "base_path": "/SimpleEnergyManagementProtocol/",
        "url": "http://198.18.0.12:8888/SimpleEnergyManagementProtocol/",
        "server": None,
        "namespace": "http://www.sma.de/communication/schema/SEMP/v1",
        "device_info": [
            {"device_id": "F-11223344-AABBCCDDEEFF-00", "device_name": "Wallbox Süd", "device_type": "EVCharger", "device_serial": "AABBCCDDEEFF", "device_vendor": "Ladefabrik", "max_power_consumption": "22080"}
        ],
        "device_status": [{"device_id": "F-11223344-AABBCCDDEEFF-00", "status": "On", "em_signals_accepted": "true", "average_power": "7400"}],
        "planning_requests": 0,
        "attempts": [],
    }
    evidence.update(overrides)
    return evidence


def test_a_device2em_answer_is_semp_open_with_the_identity_it_disclosed() -> None:
    # Given evidence of a Device2EM document read without authentication
    (finding,) = assess(recognised_evidence(), PORT)
    # Then semp-open is raised, high, naming the vendor setting, with the facts it rests on
    assert (finding.id, finding.severity, finding.setting, finding.port, finding.protocol) == ("semp-open", Severity.HIGH, "SEMP interface: Off", 8888, Protocol.TCP)
    assert finding.evidence == (
        "GET http://198.18.0.12:8888/SimpleEnergyManagementProtocol/ answered HTTP 200 with a Device2EM document (http://www.sma.de/communication/schema/SEMP/v1), no authentication asked",
        "DeviceInfo: DeviceId F-11223344-AABBCCDDEEFF-00, DeviceName Wallbox Süd, DeviceType EVCharger, DeviceVendor Ladefabrik, DeviceSerial AABBCCDDEEFF",
        "DeviceStatus: DeviceId F-11223344-AABBCCDDEEFF-00, Status On, EMSignalsAccepted true",
    )
    assert "/SimpleEnergyManagementProtocol/" in finding.detail


def test_an_http_server_without_semp_raises_nothing() -> None:
    evidence = {"recognised": False, "attempts": [{"path": "/semp/", "outcome": "http-status", "status": 404, "server": "lighttpd/1.4", "content_type": None, "body_bytes": 0, "detail": "HTTP 404"}]}
    assert assess(evidence, PORT) == []
    assert summarise(evidence) == "HTTP (lighttpd/1.4), no SEMP document (/semp/ 404)"


def test_refused_documents_raise_nothing_and_say_so_in_the_summary() -> None:
    evidence = {"recognised": False, "attempts": [{"path": p, "outcome": "refused", "status": 200, "server": None, "detail": "refused: XML with entity declarations"} for p in ("/semp/", "/SEMP/")]}
    assert assess(evidence, PORT) == []
    assert summarise(evidence) == "HTTP, no SEMP document (/semp/ 200, /SEMP/ 200)"


def test_the_summary_names_the_device_like_nmaps_version_column() -> None:
    assert summarise(recognised_evidence()) == "SEMP Device2EM at /SimpleEnergyManagementProtocol/: Ladefabrik Wallbox Süd (EVCharger)"
    two = recognised_evidence(device_info=[{"device_vendor": "A"}, {"device_vendor": "B"}])
    assert summarise(two) == "SEMP Device2EM at /SimpleEnergyManagementProtocol/: A +1 devices"
    assert summarise(recognised_evidence(device_info=[])) == "SEMP Device2EM at /SimpleEnergyManagementProtocol/: unnamed device"


def test_the_probe_delegates_to_the_pure_functions() -> None:
    assert [f.id for f in SempProbe().assess(recognised_evidence(), PORT)] == ["semp-open"]
