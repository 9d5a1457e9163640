"""SSDP assess and summary on hand-built evidence (the JSON form the probe returns)."""

from __future__ import annotations

from porthole.codecs.ssdp import SEMP_GATEWAY_URN
from porthole.model import PortObservation, PortState, Protocol, Reason, Severity
from porthole.services.ssdp import SsdpProbe
from porthole.services.ssdp.assess import assess, summarise

PORT = PortObservation(port=1900, protocol=Protocol.UDP, state=PortState.OPEN, reason=Reason.REPLY, service="ssdp")
LOCATION = "http://198.18.0.12:8888/uuid:1/description.xml"


def reply(st: str, **overrides: object) -> dict:
    base = {"source_port": 1900, "status": 200, "st": st, "usn": f"uuid:1::{st}", "location": LOCATION, "server": "Linux/5.10 UPnP/1.0 X/1.0", "cache_control": "max-age=1800"}
    base.update(overrides)
    return base


def gateway_evidence() -> dict:
    return {
        "searches": ["ssdp:all"],
        "replies": [reply("upnp:rootdevice"), reply(SEMP_GATEWAY_URN)],
        "locations": [{"url": LOCATION, "followed": True, "note": None}],
        "description": {
            "url": LOCATION,
            "outcome": "parsed",
            "status": 200,
            "device": {
                "device_type": SEMP_GATEWAY_URN,
                "friendly_name": "Ladestation Nord",
                "manufacturer": "Ladefabrik",
                "model_name": "CC 613",
                "serial_number": None,
                "udn": "uuid:1",
                "semp_service": {"server": "http://198.18.0.12:8888", "base_path": "/semp"},
            },
        },
        "semp_gateway": True,
    }


def test_a_semp_gateway_advertised_over_ssdp_is_upnp_open_at_high() -> None:
    (finding,) = assess(gateway_evidence(), PORT)
    assert (finding.id, finding.severity, finding.setting, finding.port, finding.protocol) == ("upnp-open", Severity.HIGH, "SEMP interface: Off", 1900, Protocol.UDP)
    assert finding.evidence == (
        "M-SEARCH ssdp:all to port 1900/udp drew 2 SSDP 200 response(s)",
        "SERVER: Linux/5.10 UPnP/1.0 X/1.0",
        f"LOCATION: {LOCATION}",
        "ST: upnp:rootdevice",
        f"ST: {SEMP_GATEWAY_URN}",
        f"description: deviceType {SEMP_GATEWAY_URN}, friendlyName Ladestation Nord, manufacturer Ladefabrik, modelName CC 613, UDN uuid:1",
        "X_SEMPSERVICE: server http://198.18.0.12:8888, basePath /semp",
    )
    assert finding.detail.endswith("advertises a SEMP gateway: the SEMP interface is on")


def test_a_plain_upnp_device_is_upnp_open_at_the_table_severity_with_the_unfollowed_location() -> None:
    evidence = {
        "searches": ["ssdp:all"],
        "replies": [reply("upnp:rootdevice", location="http://198.18.0.99/d.xml")],
        "locations": [{"url": "http://198.18.0.99/d.xml", "followed": False, "note": "LOCATION points elsewhere: not followed"}],
        "description": None,
        "semp_gateway": False,
    }
    (finding,) = assess(evidence, PORT)
    assert finding.severity is Severity.MEDIUM
    assert "http://198.18.0.99/d.xml: LOCATION points elsewhere: not followed" in finding.evidence


def test_a_refused_description_is_part_of_the_evidence() -> None:
    evidence = gateway_evidence() | {"description": {"url": LOCATION, "outcome": "refused", "detail": "refused: XML with entity declarations", "device": None}}
    (finding,) = assess(evidence, PORT)
    assert finding.evidence[-1] == f"description {LOCATION}: refused (refused: XML with entity declarations)"


def test_only_error_statuses_raise_nothing() -> None:
    evidence = {"searches": ["ssdp:all"], "replies": [reply("upnp:rootdevice", status=412)], "semp_gateway": False}
    assert assess(evidence, PORT) == []


def test_the_summary_reads_like_nmaps_version_column() -> None:
    assert summarise(gateway_evidence()) == "SSDP Linux/5.10 UPnP/1.0 X/1.0; Ladefabrik CC 613; SEMP gateway"
    assert summarise({"replies": [reply("upnp:rootdevice", server=None)], "semp_gateway": False}) == "SSDP (no SERVER header)"
    assert summarise({"replies": []}) is None


def test_the_probe_delegates_to_the_pure_functions() -> None:
    assert [f.id for f in SsdpProbe().assess(gateway_evidence(), PORT)] == ["upnp-open"]
