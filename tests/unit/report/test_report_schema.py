"""The committed JSON Schema: it accepts real reports, rejects drift, and matches the model."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from porthole import model
from porthole.errors import ErrorReason, ReportInputError
from porthole.model import Report
from porthole.report import SCHEMA_VERSION, dumps_report, load_report, load_schema, summarise, to_jsonable, validate_report

#: model dataclass → the schema definition that describes its encoding
MODEL_DEFINITIONS: dict[type, str] = {
    model.HostResult: "#/$defs/HostResult",
    model.PortObservation: "#/$defs/PortObservation",
    model.ProbeResult: "#/$defs/ProbeResult",
    model.Finding: "#/$defs/Finding",
    model.Deviation: "#/$defs/Deviation",
    model.ProfileRef: "#/$defs/ProfileRef",
    model.RoleInference: "#/$defs/RoleInference",
    model.ScanError: "#/$defs/ScanError",
    model.Report: "#",
}

#: model enum → where the schema lists its values
MODEL_ENUMS: dict[type[StrEnum], str] = {
    model.Protocol: "#/$defs/Protocol",
    model.PortState: "#/$defs/PortState",
    model.Reason: "#/$defs/Reason",
    model.Severity: "#/$defs/Severity",
    model.HostStatus: "#/$defs/HostResult/properties/status",
    model.Expectation: "#/$defs/Deviation/properties/expected",
    model.DeviationKind: "#/$defs/Deviation/properties/kind",
    model.ProbeStatus: "#/$defs/ProbeResult/properties/status",
}


def resolve(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = schema
    for part in pointer.removeprefix("#").strip("/").split("/"):
        if part:
            node = node[part]
    return node


def encoded(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(dumps_report(report))
    return data


# --- the schema itself -------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema_with_an_id_and_the_current_version() -> None:
    # Given the committed schema
    schema = load_schema()
    # When checked against the 2020-12 meta-schema / Then it is valid and identifies itself
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f":{SCHEMA_VERSION}")
    assert schema["title"] and schema["description"]


def _properties(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for name, child in node.get("properties", {}).items():
            yield f"{path}/properties/{name}", child
        for key, child in node.items():
            yield from _properties(child, f"{path}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _properties(child, f"{path}/{index}")


def test_every_property_and_definition_has_a_description_because_the_schema_is_the_documentation() -> None:
    schema = load_schema()
    undocumented = [path for path, node in _properties(schema) if not node.get("description")]
    undocumented += [f"#/$defs/{name}" for name, node in schema["$defs"].items() if not node.get("description")]
    assert undocumented == []


# --- model <-> schema sync ---------------------------------------------------------


@pytest.mark.parametrize("model_class", list(MODEL_DEFINITIONS), ids=lambda cls: cls.__name__)
def test_schema_definition_lists_exactly_the_model_fields_all_required(model_class: type) -> None:
    # Given a model dataclass and its schema definition
    definition = resolve(load_schema(), MODEL_DEFINITIONS[model_class])
    field_names = [field.name for field in dataclasses.fields(model_class)]
    # Then every field is a property and every property a field (no silent drift),
    # all are required (the encoder always writes every field), and unknown fields are rejected
    assert list(definition["properties"]) == field_names
    assert definition["required"] == field_names
    assert definition["additionalProperties"] is False


def test_every_model_dataclass_has_a_schema_definition() -> None:
    # A new dataclass in model.py must be added to the schema (and to MODEL_DEFINITIONS)
    model_classes = {
        getattr(model, name)
        for name in model.__all__
        if dataclasses.is_dataclass(getattr(model, name)) and name != "PortRef"  # PortRef is in-memory only
    }
    assert model_classes == set(MODEL_DEFINITIONS)


@pytest.mark.parametrize("enum_class", list(MODEL_ENUMS), ids=lambda cls: cls.__name__)
def test_schema_enums_list_exactly_the_model_enum_values(enum_class: type[StrEnum]) -> None:
    node = resolve(load_schema(), MODEL_ENUMS[enum_class])
    assert node["enum"] == [member.value for member in enum_class]


def test_probe_error_reasons_in_the_schema_are_the_error_reason_enum_plus_null() -> None:
    node = resolve(load_schema(), "#/$defs/ProbeResult/properties/error_reason")
    assert node["enum"] == [member.value for member in ErrorReason] + [None]


def test_summary_definition_matches_what_summarise_produces() -> None:
    # Given the summary of no hosts (every key is still present)
    summary = summarise(())
    definition = load_schema()["$defs"]["Summary"]
    # Then the schema's summary keys and the nested count keys are exactly those
    assert definition["required"] == list(summary)
    assert definition["properties"]["ports_by_state"]["required"] == list(summary["ports_by_state"])
    assert definition["properties"]["findings_by_severity"]["required"] == list(summary["findings_by_severity"])


# --- validation: positive ---------------------------------------------------------


def test_realistic_report_with_every_field_populated_validates(report: Report) -> None:
    # Given the realistic report (three hosts, tcp and udp, every state and reason,
    # every probe status, findings, deviations, scan errors)
    data = encoded(report)
    states = {port["state"] for host in data["hosts"] for port in host["ports"]}
    reasons = {port["reason"] for host in data["hosts"] for port in host["ports"]}
    assert states == {state.value for state in model.PortState}
    assert reasons == {reason.value for reason in model.Reason}
    # When validated / Then no error is raised
    validate_report(data)


def test_new_report_stamps_the_schema_version_and_a_summary_consistent_with_hosts(report: Report) -> None:
    assert report.schema_version == SCHEMA_VERSION
    assert report.summary["hosts_total"] == 3
    assert report.summary["hosts_down"] == 1
    assert report.summary["hosts_incomplete"] == 1
    assert report.summary["ports_by_state"]["open"] == 4
    assert report.summary["findings_by_severity"] == {"info": 1, "low": 0, "medium": 1, "high": 1, "critical": 0}
    assert report.summary["deviations"] == 3
    assert report.summary["probe_errors"] == 2


# --- validation: negative, with the JSON path asserted ------------------------------


def _mutate_extra_port_field(data: dict[str, Any]) -> None:
    data["hosts"][0]["ports"][1]["banner"] = "not in the schema"


def _mutate_bad_state(data: dict[str, Any]) -> None:
    data["hosts"][1]["ports"][0]["state"] = "half-open"


def _mutate_evidence_not_object(data: dict[str, Any]) -> None:
    data["hosts"][0]["ports"][0]["evidence"]["ssh-banner"] = "SSH-2.0-dropbear"


def _mutate_missing_setting(data: dict[str, Any]) -> None:
    del data["hosts"][0]["findings"][0]["setting"]


def _mutate_port_out_of_range(data: dict[str, Any]) -> None:
    data["hosts"][0]["deviations"][2]["port"] = 70000


def _mutate_bad_severity(data: dict[str, Any]) -> None:
    data["hosts"][0]["findings"][1]["severity"] = "fail"


def _mutate_extra_top_level(data: dict[str, Any]) -> None:
    data["generated_by"] = "someone else"


def _mutate_bad_timestamp(data: dict[str, Any]) -> None:
    data["started_at"] = "2026-01-10 09:30:00"


def _mutate_bad_protocol(data: dict[str, Any]) -> None:
    data["hosts"][0]["probes"][1]["protocol"] = "sctp"


def _mutate_role_extra_field(data: dict[str, Any]) -> None:
    data["hosts"][0]["role"]["confidence"] = 0.9


@pytest.mark.parametrize(
    ("mutate", "json_path", "message"),
    [
        (_mutate_extra_port_field, "$.hosts[0].ports[1]", "'banner' was unexpected"),
        (_mutate_bad_state, "$.hosts[1].ports[0].state", "'half-open' is not one of"),
        (_mutate_evidence_not_object, "$.hosts[0].ports[0].evidence['ssh-banner']", "is not of type 'object'"),
        (_mutate_missing_setting, "$.hosts[0].findings[0]", "'setting' is a required property"),
        (_mutate_port_out_of_range, "$.hosts[0].deviations[2].port", "70000 is greater than the maximum"),
        (_mutate_bad_severity, "$.hosts[0].findings[1].severity", "'fail' is not one of"),
        (_mutate_extra_top_level, "$", "'generated_by' was unexpected"),
        (_mutate_bad_timestamp, "$.started_at", "does not match"),
        (_mutate_bad_protocol, "$.hosts[0].probes[1].protocol", "'sctp' is not one of"),
        # inside a oneOf (role or null) the message is the near-miss branch's, not "not valid under any"
        (_mutate_role_extra_field, "$.hosts[0].role", "'confidence' was unexpected"),
    ],
    ids=lambda value: getattr(value, "__name__", "").removeprefix("_mutate_") or None,
)
def test_schema_violations_are_reported_with_the_json_path_of_the_offending_value(
    report: Report, mutate: Any, json_path: str, message: str
) -> None:
    # Given a valid encoded report with one defect
    data = encoded(report)
    mutate(data)
    # When validated / Then ReportInputError names the path and the problem
    with pytest.raises(ReportInputError) as caught:
        validate_report(data)
    assert f" at {json_path}: " in str(caught.value)
    assert message in str(caught.value)


def test_a_model_field_missing_from_the_schema_would_be_rejected_as_unexpected(report: Report) -> None:
    # Given an encoded report from a model that grew a field the schema does not know
    # (simulated: the stale schema sees an extra key on every host)
    data = encoded(report)
    for host in data["hosts"]:
        host["mac_address"] = "02:00:00:00:00:01"
    # When validated / Then the stale schema fails loudly rather than passing it through
    with pytest.raises(ReportInputError, match=r"at \$\.hosts\[0\]: .*'mac_address' was unexpected"):
        validate_report(data)


def test_long_schema_messages_are_shortened() -> None:
    # Given a report whose hosts are a giant string (jsonschema would quote it whole)
    data = {"schema_version": "1.0", "hosts": "x" * 5000}
    with pytest.raises(ReportInputError) as caught:
        validate_report(data)
    assert len(str(caught.value)) < 500


# --- load_report -----------------------------------------------------------------


def test_load_report_reads_back_what_dumps_report_wrote(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(dumps_report(report), encoding="utf-8")
    assert load_report(path) == to_jsonable(report)


def test_load_report_of_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match=r"report\.json: no such report file"):
        load_report(tmp_path / "report.json")


def test_load_report_of_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="is a directory"):
        load_report(tmp_path)


def test_load_report_of_bad_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{\n  "schema_version": "1.0",\n  oops\n}\n', encoding="utf-8")
    with pytest.raises(ReportInputError, match=r"not valid JSON \(line 3, column 3"):
        load_report(path)


def test_load_report_of_binary_garbage_says_it_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "capture.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00\xff\xfe")
    with pytest.raises(ReportInputError, match="not UTF-8"):
        load_report(path)


def test_load_report_of_a_json_array_asks_for_an_object(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ReportInputError, match="expected a JSON object at the top level, found an array"):
        load_report(path)


def test_load_report_without_schema_version_asks_whether_it_is_a_porthole_report(tmp_path: Path) -> None:
    path = tmp_path / "nmap.json"
    path.write_text('{"nmaprun": {}}', encoding="utf-8")
    with pytest.raises(ReportInputError, match="no schema_version field; is this a porthole JSON report"):
        load_report(path)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("2.0", "not readable by this porthole, which reads 1.x"),
        ("0.9", "not readable by this porthole, which reads 1.x"),
        ("1.99", "newer than this porthole's 1.1; upgrade porthole"),
        ("one", "is not MAJOR.MINOR"),
        ("1.0.0", "is not MAJOR.MINOR"),
    ],
)
def test_load_report_checks_the_schema_version_before_the_schema(
    report: Report, tmp_path: Path, version: str, message: str
) -> None:
    # Given a report file claiming another schema version
    data = encoded(report)
    data["schema_version"] = version
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    # When loaded / Then the version problem is named, not a confusing schema error
    with pytest.raises(ReportInputError, match=message):
        load_report(path)


def test_load_report_rejects_a_schema_violation_with_file_name_and_path(report: Report, tmp_path: Path) -> None:
    data = encoded(report)
    data["hosts"][2]["status"] = "sleeping"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportInputError, match=rf"^{path}: .* at \$\.hosts\[2\]\.status: 'sleeping' is not one of"):
        load_report(path)


def test_load_schema_returns_a_copy_callers_cannot_corrupt() -> None:
    first = load_schema()
    first["$defs"].clear()
    assert load_schema()["$defs"]
    assert copy.deepcopy(load_schema()) == load_schema()


def test_the_example_in_docs_report_md_is_a_valid_report() -> None:
    # Given the JSON example users copy from the documentation
    document = (Path(__file__).resolve().parents[3] / "docs" / "report.md").read_text(encoding="utf-8")
    example = document.split("```json\n", 1)[1].split("```", 1)[0]
    # When validated / Then it matches the schema (the docs cannot drift from it)
    data = json.loads(example)
    assert data["schema_version"] == SCHEMA_VERSION
    validate_report(data)
