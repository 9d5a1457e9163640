"""The report format's version, its committed JSON Schema, and reading reports back.

``schema.json`` (next to this module) is the documentation users read: every property
has a description. It is written by hand and kept honest by tests that walk the data
model's dataclass fields and enums and compare them with the schema, in both
directions; a model change without a schema change fails the suite.

Versioning (see docs/report.md): ``MAJOR.MINOR``. A minor version only adds fields;
a major version renames, removes or changes the meaning of one. ``load_report`` reads
reports of this major version whose minor is not newer than ``SCHEMA_VERSION``.

Rules for this module: it reads files only in ``load_report`` and raises only
``ReportInputError`` for bad input (a missing file, bad JSON, a wrong version, a
schema violation), with a message saying where the problem is and what to do.
``jsonschema`` is a runtime dependency; it is imported on first use to keep
``porthole --help`` fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from porthole.errors import ReportInputError

__all__ = ["SCHEMA_VERSION", "load_schema", "validate_report", "load_report"]

SCHEMA_VERSION = "1.1"

# jsonschema messages quote the offending instance; a whole host object would drown
# the one line that matters.
_MESSAGE_LIMIT = 300

_JSON_TYPE_NAMES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "null"}


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The report JSON Schema (draft 2020-12) as a fresh dict the caller may modify."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


def validate_report(data: dict[str, Any], *, source: str = "report") -> None:
    """Raise ``ReportInputError`` naming the JSON path of the first schema violation.

    "First" is first in document order (hosts[0] before hosts[2]), so the message
    points where a reader of the file would look first. Within that location,
    jsonschema's ``best_match`` picks the most specific cause (for a ``oneOf`` the
    branch that nearly matched, not "is not valid under any of the given schemas").
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    validator = Draft202012Validator(load_schema())
    errors = list(validator.iter_errors(data))
    if not errors:
        return
    first = min(errors, key=lambda candidate: _document_position(data, candidate.absolute_path))
    error = best_match([first])
    assert error is not None  # best_match of a non-empty list
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    raise ReportInputError(
        f"{source}: does not match the porthole report schema {SCHEMA_VERSION} at {error.json_path}: {message}"
    )


def _document_position(data: Any, path: Iterable[str | int]) -> tuple[int, ...]:
    """Where ``path`` sits in ``data`` in reading order: list indices and key positions."""
    position: list[int] = []
    node = data
    for part in path:
        if isinstance(node, dict):
            position.append(list(node).index(part) if part in node else len(node))
        elif isinstance(node, list) and isinstance(part, int):
            position.append(part)
        else:
            break
        node = node[part] if isinstance(node, list) or part in node else None
    return tuple(position)


def _check_version(data: dict[str, Any], source: str) -> None:
    version = data.get("schema_version")
    if not isinstance(version, str):
        raise ReportInputError(
            f"{source}: no schema_version field; is this a porthole JSON report (porthole scan --format json)?"
        )
    ours_major, ours_minor = (int(part) for part in SCHEMA_VERSION.split("."))
    try:
        major_text, minor_text = version.split(".")
        major, minor = int(major_text), int(minor_text)
    except ValueError:
        raise ReportInputError(f"{source}: schema_version {version!r} is not MAJOR.MINOR") from None
    if major != ours_major:
        raise ReportInputError(
            f"{source}: report schema {version} is not readable by this porthole, which reads {ours_major}.x; "
            "use the porthole version that wrote it, or scan again"
        )
    if minor > ours_minor:
        raise ReportInputError(
            f"{source}: report schema {version} is newer than this porthole's {SCHEMA_VERSION}; upgrade porthole"
        )


def load_report(path: Path) -> dict[str, Any]:
    """Read and validate a JSON report file; the parsed dict on success."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportInputError(f"{source}: no such report file") from None
    except IsADirectoryError:
        raise ReportInputError(f"{source}: is a directory, not a report file") from None
    except UnicodeDecodeError:
        raise ReportInputError(f"{source}: not UTF-8 text; expected a porthole JSON report") from None
    except OSError as exc:
        raise ReportInputError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "expected a report written by porthole scan --format json"
        ) from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{source}: expected a JSON object at the top level, found {_JSON_TYPE_NAMES.get(type(data), type(data).__name__)}")
    _check_version(data, source)
    validate_report(data, source=source)
    return data
