"""The one generic encoder: porthole's data model → JSON-compatible Python values.

Contract:

* ``to_jsonable`` turns any value the data model can hold into ``dict``/``list``/
  ``str``/``int``/``float``/``bool``/``None``. Dataclasses become objects with their
  fields in declaration order (so the JSON reads in the order the model is written),
  enums become their value, ``bytes`` become lowercase hex, ``ipaddress`` objects and
  ``Path`` become strings, ``datetime`` becomes ISO 8601 UTC with a ``Z`` suffix.
* It is the *only* serialiser. A new Evidence dataclass or model field needs no code
  here; it needs a ``schema.json`` update, which the schema-sync test demands.
* It refuses what it cannot encode faithfully (a naive datetime, a dict with
  non-string keys, an unknown type, NaN) with a ``TypeError``/``ValueError`` that names
  the JSON path of the offending value. Silently writing ``str(obj)`` would put
  ``<object at 0x…>`` in an audit report, which is worse than failing a test.

It does no I/O and knows nothing about the schema.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
from datetime import UTC, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

from porthole.model import Report

__all__ = ["to_jsonable", "dumps_report", "format_timestamp"]

JsonValue = dict[str, "JsonValue"] | list["JsonValue"] | str | int | float | bool | None

_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)


def format_timestamp(moment: datetime) -> str:
    """``2026-01-10T09:30:00.250000Z``: ISO 8601 in UTC with a ``Z`` suffix.

    Naive datetimes are refused: a report read on another machine must not depend on
    the scanner's local time zone.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"naive datetime {moment.isoformat()} has no time zone; "
            "build report timestamps with datetime.now(UTC)"
        )
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_jsonable(obj: Any) -> JsonValue:
    """Encode ``obj`` (a model value, Evidence dataclass or plain data) for ``json``."""
    return _encode(obj, "$")


def _encode(obj: Any, path: str) -> JsonValue:
    # Order matters: bool is an int, StrEnum is a str, IntEnum is an int; enums must be
    # caught before the primitive checks so they serialise by value, not by repr.
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, Enum):
        return _encode(obj.value, path)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{path}: {obj!r} is not representable in JSON")
        return float(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            field.name: _encode(getattr(obj, field.name), f"{path}.{field.name}")
            for field in dataclasses.fields(obj)
        }
    if isinstance(obj, dict):
        return {_encode_key(key, path): _encode(value, f"{path}.{key}") for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(item, f"{path}[{index}]") for index, item in enumerate(obj)]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, _IP_TYPES):
        return str(obj)
    if isinstance(obj, datetime):
        try:
            return format_timestamp(obj)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    if isinstance(obj, PurePath):
        return str(obj)
    raise TypeError(
        f"{path}: cannot encode {type(obj).__qualname__} as JSON; "
        "use a dataclass, enum, str, number, bool, bytes, ip address, datetime, Path, list, tuple or dict"
    )


def _encode_key(key: Any, path: str) -> str:
    if isinstance(key, Enum) and isinstance(key.value, str):
        return key.value
    if isinstance(key, str):
        return str(key)
    raise TypeError(f"{path}: dict key {key!r} is a {type(key).__qualname__}; JSON object keys must be strings")


def dumps_report(report: Report) -> str:
    """The report as pretty JSON text: 2-space indent, model field order, UTF-8, final newline.

    ``ensure_ascii=False`` keeps device strings (banners, hostnames) readable;
    ``allow_nan=False`` is a second guard behind the encoder's finite-float check.
    """
    return json.dumps(to_jsonable(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
