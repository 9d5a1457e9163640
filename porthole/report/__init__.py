"""The report layer: build, encode, validate, render and write porthole reports.

    build       new_report(...): the one way to assemble a Report (schema version, summary)
    encode      to_jsonable / dumps_report: the single generic JSON encoder
    schema      SCHEMA_VERSION, schema.json, validate_report, load_report
    table       render_report: the human (rich) table
    progress    ScanObserver protocol + NullObserver + RichProgressObserver
    exit_codes  ExitCode and exit_code_for(report, fail_on)
    output      render (table|json to a console), render_to_string, write_atomic

Pure functions over ``porthole.model`` data; the only I/O is writing to the console
or file the caller names (``output``) and reading a report back (``schema.load_report``).
"""

from porthole.report.build import new_report, summarise
from porthole.report.encode import dumps_report, format_timestamp, to_jsonable
from porthole.report.exit_codes import DEFAULT_FAIL_ON, ExitCode, exit_code_for
from porthole.report.output import render, render_to_string, write_atomic
from porthole.report.progress import NullObserver, RichProgressObserver, ScanObserver
from porthole.report.schema import SCHEMA_VERSION, load_report, load_schema, validate_report
from porthole.report.table import render_report

__all__ = [
    "SCHEMA_VERSION",
    "new_report",
    "summarise",
    "to_jsonable",
    "dumps_report",
    "format_timestamp",
    "load_schema",
    "validate_report",
    "load_report",
    "render_report",
    "render",
    "render_to_string",
    "write_atomic",
    "ScanObserver",
    "NullObserver",
    "RichProgressObserver",
    "ExitCode",
    "exit_code_for",
    "DEFAULT_FAIL_ON",
]
