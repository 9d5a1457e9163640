"""The one generic JSON encoder for porthole's data (model values, Evidence dataclasses).

It lives below every layer (model-level, no imports from the engine, services or
report) so that probes can turn their Evidence dataclasses into plain data and the
report layer can serialise whole reports with the same rules:

    dataclass → object (declaration order) · Enum → its value · bytes → hex ·
    ip address/network → str · aware datetime → ISO 8601 UTC "Z" · Path → str ·
    tuple/list → array · dict[str, …] → object; anything else is a TypeError naming
    the JSON path, and NaN/inf or a naive datetime is a ValueError.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from datetime import UTC, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

__all__ = ["JsonValue", "to_jsonable", "format_timestamp"]

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
