"""The generic encoder: every type the model can hold, and the ones it must refuse."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum, IntEnum
from pathlib import Path, PurePosixPath

import pytest

from porthole.model import Finding, PortObservation, PortState, Protocol, Reason, Report, Severity
from porthole.report import dumps_report, format_timestamp, to_jsonable
from porthole.report.schema import SCHEMA_VERSION


class Colour(Enum):
    RED = "red"


class Code(IntEnum):
    HANDSHAKE = 22


@dataclass(frozen=True, slots=True, kw_only=True)
class Nested:
    zebra: int
    alpha: str
    inner: tuple[Colour, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)


def test_dataclass_fields_come_out_in_declaration_order_not_alphabetically() -> None:
    # Given a dataclass whose field order is not alphabetical
    value = Nested(zebra=1, alpha="a")
    # When it is encoded
    encoded = to_jsonable(value)
    # Then the keys keep the declaration order
    assert list(encoded) == ["zebra", "alpha", "inner", "extra"]


def test_model_dataclasses_encode_enums_by_value_and_none_as_null() -> None:
    # Given a port observation with enum fields and unset optionals
    observation = PortObservation(port=1900, protocol=Protocol.UDP, state=PortState.OPEN_FILTERED, reason=Reason.TIMEOUT)
    # When it is encoded
    encoded = to_jsonable(observation)
    # Then enums are their wire values and unset optionals are present as None
    assert encoded == {
        "port": 1900,
        "protocol": "udp",
        "state": "open|filtered",
        "reason": "timeout",
        "service": None,
        "rtt_ms": None,
        "attempts": 1,
        "detail": None,
        "evidence": {},
        "summary": None,
    }
    assert type(encoded["protocol"]) is str  # a plain str, not the StrEnum member


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Colour.RED, "red"),
        (Code.HANDSHAKE, 22),
        (Severity.CRITICAL, "critical"),
        (b"\x00\xffSSH", "00ff535348"),
        (bytearray(b"\x16\x03"), "1603"),
        (memoryview(b"\x01"), "01"),
        (ipaddress.IPv4Address("198.18.0.10"), "198.18.0.10"),
        (ipaddress.IPv6Address("fe80:0:0:0:0:0:0:1"), "fe80::1"),
        (ipaddress.ip_network("198.18.0.0/15"), "198.18.0.0/15"),
        (ipaddress.ip_interface("198.18.0.1/24"), "198.18.0.1/24"),
        (Path("profiles") / "master.toml", "profiles/master.toml"),
        (PurePosixPath("/etc/porthole"), "/etc/porthole"),
        (datetime(2026, 1, 10, 9, 30, tzinfo=UTC), "2026-01-10T09:30:00Z"),
        (datetime(2026, 1, 10, 10, 30, 0, 500000, tzinfo=timezone(timedelta(hours=1))), "2026-01-10T09:30:00.500000Z"),
        ((1, "two", None), [1, "two", None]),
        ([True, 2.5], [True, 2.5]),
        ({"a": {"b": [b"\x01"]}}, {"a": {"b": ["01"]}}),
        ({Protocol.TCP: 3}, {"tcp": 3}),
    ],
    ids=lambda value: type(value).__name__,
)
def test_each_supported_type_encodes_to_its_documented_json_form(value: object, expected: object) -> None:
    # Given a value of a supported type / When encoded / Then it has the documented form
    encoded = to_jsonable(value)
    assert encoded == expected
    assert json.loads(json.dumps(encoded)) == expected


def test_bools_stay_bools_although_bool_is_an_int() -> None:
    assert to_jsonable(True) is True
    assert to_jsonable({"x": False}) == {"x": False}


def test_a_naive_datetime_is_refused_with_its_path() -> None:
    # Given a value holding a datetime without a time zone
    value = {"seen": [datetime(2026, 1, 10, 9, 30)]}
    # When encoded / Then the error names where it is and how to fix it
    with pytest.raises(ValueError, match=r"\$\.seen\[0\]: naive datetime .* datetime\.now\(UTC\)"):
        to_jsonable(value)


def test_an_unknown_type_is_refused_with_its_path_instead_of_being_stringified() -> None:
    # Given evidence holding an object the encoder does not know
    value = Nested(zebra=1, alpha="a", extra={"socket": object()})
    # When encoded / Then a TypeError names the type and the JSON path
    with pytest.raises(TypeError, match=r"\$\.extra\.socket: cannot encode object"):
        to_jsonable(value)


def test_dict_keys_that_are_not_strings_are_refused() -> None:
    with pytest.raises(TypeError, match=r"JSON object keys must be strings"):
        to_jsonable({502: "modbus"})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused_because_json_cannot_hold_them(value: float) -> None:
    with pytest.raises(ValueError, match=r"\$\.rtt_ms: .* not representable in JSON"):
        to_jsonable({"rtt_ms": value})


def test_dataclass_classes_themselves_are_not_mistaken_for_instances() -> None:
    with pytest.raises(TypeError, match="cannot encode"):
        to_jsonable(Finding)


def test_format_timestamp_writes_utc_with_z_suffix() -> None:
    assert format_timestamp(datetime(2026, 1, 10, 9, 30, 1, tzinfo=UTC)) == "2026-01-10T09:30:01Z"


def test_dumps_report_is_indented_unescaped_utf8_in_model_order_with_final_newline(report: Report) -> None:
    # Given a report whose host carries a non-ASCII hostname
    host = replace(report.hosts[0], hostname="ladesäule-süd")
    report = replace(report, hosts=(host, *report.hosts[1:]))
    # When it is dumped
    text = dumps_report(report)
    # Then it is 2-space indented, keeps ü unescaped, ends with one newline,
    # and the top-level keys follow the Report dataclass
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert f'\n  "schema_version": "{SCHEMA_VERSION}",' in text
    assert "ladesäule-süd" in text
    assert list(json.loads(text)) == [
        "schema_version",
        "tool",
        "command",
        "started_at",
        "finished_at",
        "duration_s",
        "interrupted",
        "vantage",
        "config",
        "targets",
        "hosts",
        "summary",
        "errors",
    ]


def test_evidence_dataclasses_inside_observations_are_encoded_generically(report: Report) -> None:
    # Given the realistic report, whose 22/tcp evidence is a dataclass with bytes and an IP
    encoded = to_jsonable(report)
    # When we look at that port's evidence
    evidence = encoded["hosts"][0]["ports"][0]["evidence"]["ssh-banner"]
    # Then bytes are hex and the address a string, with no per-type code involved
    assert evidence == {
        "identification": "SSH-2.0-dropbear_2022.83",
        "raw": b"SSH-2.0-dropbear_2022.83\r\n".hex(),
        "peer": "198.18.0.10",
    }
