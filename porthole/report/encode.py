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

import json

from porthole.jsonable import JsonValue, format_timestamp, to_jsonable
from porthole.model import Report

__all__ = ["to_jsonable", "dumps_report", "format_timestamp", "JsonValue"]


def dumps_report(report: Report) -> str:
    """The report as pretty JSON text: 2-space indent, model field order, UTF-8, final newline.

    ``ensure_ascii=False`` keeps device strings (banners, hostnames) readable;
    ``allow_nan=False`` is a second guard behind the encoder's finite-float check.
    """
    return json.dumps(to_jsonable(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
