"""Document formats validated by real consumers: the SARIF 2.1.0 schema, junitparser,
python-libnmap; CSV/Markdown/HTML by their stdlib readers and escaping rules."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
from junitparser import JUnitXml
from libnmap.parser import NmapParser

from porthole.model import Report, Severity
from porthole.report.csv_out import COLUMNS, render_csv
from porthole.report.junit import render_junit
from porthole.report.markdown import render_html, render_markdown
from porthole.report.nmap_import import parse_nmap_xml
from porthole.report.nmap_xml import render_nmap_xml
from porthole.report.output import render_to_string
from porthole.report.sarif import sarif_document

SCHEMA = Path(__file__).parents[2] / "fixtures" / "schemas" / "sarif-schema-2.1.0.json"
HOSTILE = '<script>alert(1)</script>|*x*=cmd'


def test_sarif_validates_against_the_official_schema_and_anchors_profile_lines(report: Report) -> None:
    # Given a report with profile and non-profile findings
    # When it is rendered as SARIF
    document = json.loads(render_to_string(report, "sarif"))
    # Then the official SARIF 2.1.0 schema accepts it
    jsonschema.validate(document, json.loads(SCHEMA.read_text(encoding="utf-8")))
    results = document["runs"][0]["results"]
    assert [result["ruleId"] for result in results] == [finding.id for host in report.hosts for finding in host.findings]
    forbidden = results[0]
    assert forbidden["level"] == "error"
    assert forbidden["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "profiles/master.toml"
    # a host-level finding has no profile line: logical location only
    assert "physicalLocation" not in results[-1]["locations"][0]


def test_sarif_region_is_the_profile_line_named_in_the_finding_source(report: Report) -> None:
    host = report.hosts[0]
    finding = replace(host.findings[0], source="profiles/master.toml:128#22/tcp")
    report = replace(report, hosts=(replace(host, findings=(finding,)),))
    location = sarif_document(report)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["region"] == {"startLine": 128}


def test_junit_is_read_by_junitparser_with_a_failure_per_deviating_port(report: Report) -> None:
    # When rendered as JUnit with --fail-on high
    xml = JUnitXml.fromstring(render_junit(report, fail_on=Severity.HIGH))
    # Then junitparser reads one suite per host and a failing case per deviation
    suites = list(xml)
    assert [suite.name for suite in suites] == [host.address for host in report.hosts]
    failed = [case.name for case in suites[0] if not case.is_passed]
    assert failed == [
        "22/tcp expected closed, observed open (syn-ack)",
        "1600/tcp expected open, observed filtered (icmp)",
        "53/udp expected closed, observed open (reply)",
    ]


def test_csv_has_stable_columns_one_row_per_port_and_per_finding_and_defuses_formulas(report: Report) -> None:
    host = replace(report.hosts[0], hostname="=HYPERLINK(\"x\")")
    report = replace(report, hosts=(host,))
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert tuple(rows[0]) == COLUMNS
    assert sum(row["kind"] == "port" for row in rows) == len(host.ports)
    assert sum(row["kind"] == "finding" for row in rows) == len(host.findings)
    assert all(row["hostname"].startswith("'=") for row in rows)


def test_html_is_self_contained_and_escapes_device_strings(report: Report) -> None:
    host = replace(report.hosts[0], hostname=HOSTILE)
    page = render_html(replace(report, hosts=(host,)))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert 'class="bad"' in page  # 22/tcp open against "closed" in the port picture


def test_markdown_escapes_device_strings_and_draws_the_port_picture(report: Report) -> None:
    host = replace(report.hosts[0], hostname=HOSTILE)
    text = render_markdown(replace(report, hosts=(host,)))
    assert "<script>" not in text and "\\<script\\>" in text
    assert "| ✖ | · | · | ◆ | · | ! | · | ✖ | ? | · |" in text


def test_nmap_xml_is_read_by_python_libnmap_and_round_trips_through_the_importer(report: Report) -> None:
    xml = render_nmap_xml(report)
    parsed = NmapParser.parse_fromstring(xml)
    first = parsed.hosts[0]
    assert first.address == "198.18.0.10"
    assert {(service.port, service.protocol, service.state) for service in first.services} >= {(22, "tcp", "open"), (1900, "udp", "open|filtered")}
    imported = parse_nmap_xml(xml.encode())
    assert [(port.ref, port.state) for port in imported.hosts[0].ports] == [
        (port.ref, port.state) for port in sorted(report.hosts[0].ports, key=lambda item: item.ref)
    ]
