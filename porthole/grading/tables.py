"""Load and validate the grading tables (``porthole/grading/tables/<name>.toml``).

Every table has the same frame; only the row fields differ per table::

    [meta]                       where the judgements come from
    source = "RFC 9142; ..."
    version = "2026.1"
    retrieved = 2026-11-22       (a TOML date)

    [reasons]                    each reason id defined once, with its text
    sha1-hash = "uses SHA-1, ..."

    [[<rows key>]]               one table per row, named fields only
    ...table-specific fields...
    verdict = "fail"             fail | warn | ok
    reasons = ["sha1-hash"]      ids from [reasons]; at least one unless ok

``TABLE_SCHEMAS`` says, per table, what its rows are called, which fields they have
and which fields form the unique key. Adding a table is a TOML file plus one schema
entry here.

Contract: strict (an unknown key, a missing field, a wrong type, an undefined or
unused reason, a duplicate key each raise ``CatalogError`` naming the file and row);
loaded once; the result is frozen (dataclasses and ``MappingProxyType``), so callers
share it without copies. No judgement logic lives here: ``assess`` modules join
evidence with these rows.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from porthole.errors import CatalogError

__all__ = ["Verdict", "TableMeta", "Reason", "Row", "TableSchema", "GradingTable", "TABLE_SCHEMAS", "load_table", "parse_table"]


class Verdict(StrEnum):
    """A row's judgement, in ssh-audit's three levels."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return (Verdict.OK, Verdict.WARN, Verdict.FAIL).index(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class TableMeta:
    source: str
    version: str
    retrieved: datetime.date


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One graded entry; its table-specific fields are read with ``row["name"]``."""

    verdict: Verdict
    reasons: tuple[str, ...]
    fields: Mapping[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSchema:
    #: the TOML array-of-tables holding the rows (``[[algorithm]]``)
    rows_key: str
    #: table-specific fields and their types (``verdict`` and ``reasons`` are implied)
    fields: Mapping[str, type]
    #: fields whose values come from a closed set
    choices: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: the fields that identify a row; no two rows may share them
    key: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GradingTable:
    name: str
    meta: TableMeta
    reasons: Mapping[str, Reason]
    rows: tuple[Row, ...]
    #: rows by their key fields' values, e.g. ``("kex", "diffie-hellman-group1-sha1")``
    by_key: Mapping[tuple[Any, ...], Row]

    def lookup(self, *key: Any) -> Row | None:
        return self.by_key.get(tuple(key))

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


#: The schema of every table porthole ships.
TABLE_SCHEMAS: Mapping[str, TableSchema] = MappingProxyType(
    {
        "ssh_algorithms": TableSchema(
            rows_key="algorithm",
            fields={"name": str, "kind": str},
            choices={"kind": frozenset({"kex", "hostkey", "cipher", "mac", "compression"})},
            key=("kind", "name"),
        ),
        "tls_cipher_suites": TableSchema(
            rows_key="suite",
            fields={
                "code": int, "name": str, "kex": str, "auth": str, "cipher": str, "key_bits": int,
                "strength_bits": int, "mode": str, "block_bits": int, "mac": str, "min_version": str,
                "forward_secrecy": bool, "export": bool,
            },
            choices={"min_version": frozenset({"SSLv3", "TLSv1.2", "TLSv1.3"})},
            key=("code",),
        ),
        "tls_versions": TableSchema(rows_key="version", fields={"code": int, "name": str}, key=("code",)),
        "tls_keys": TableSchema(
            rows_key="key",
            fields={"kind": str, "below_bits": int},
            choices={"kind": frozenset({"rsa", "dsa", "ec", "dhe", "ecdhe"})},
            key=("kind", "below_bits"),
        ),
        "tls_signatures": TableSchema(rows_key="signature", fields={"hash": str}, key=("hash",)),
    }
)

_META_KEYS = {"source", "version", "retrieved"}
_ROW_COMMON = {"verdict", "reasons"}


@lru_cache(maxsize=None)
def load_table(name: str) -> GradingTable:
    """The packaged table ``name`` (``ssh_algorithms``), validated; loaded once."""
    schema = TABLE_SCHEMAS.get(name)
    if schema is None:
        raise CatalogError(f"no grading table named {name!r}; known tables: {', '.join(sorted(TABLE_SCHEMAS))}")
    resource = resources.files("porthole.grading").joinpath("tables", f"{name}.toml")
    try:
        text = resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"grading table file porthole/grading/tables/{name}.toml is missing from the installation") from None
    return parse_table(name, text, schema)


def parse_table(name: str, text: str, schema: TableSchema) -> GradingTable:
    """Validate ``text`` against ``schema``; the testable half of ``load_table``."""
    where = f"porthole/grading/tables/{name}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{where}: not valid TOML: {exc}") from None
    _reject_unknown(set(data), {"meta", "reasons", schema.rows_key}, where)
    meta = _meta(data.get("meta"), where)
    reasons = _reasons(data.get("reasons"), where)
    raw_rows = data.get(schema.rows_key)
    if not isinstance(raw_rows, list) or not raw_rows:
        raise CatalogError(f"{where}: needs at least one [[{schema.rows_key}]] row")
    rows: list[Row] = []
    by_key: dict[tuple[Any, ...], Row] = {}
    used: set[str] = set()
    for index, raw in enumerate(raw_rows, start=1):
        row_where = f"{where} [[{schema.rows_key}]] #{index}"
        row = _row(raw, schema, reasons, row_where)
        key = tuple(row[name] for name in schema.key)
        if schema.key and key in by_key:
            raise CatalogError(f"{row_where}: duplicate {'/'.join(schema.key)} {key!r}; each must appear once")
        by_key[key] = row
        rows.append(row)
        used.update(row.reasons)
    unused = set(reasons) - used
    if unused:
        raise CatalogError(f"{where}: reasons {sorted(unused)} are defined but no row uses them; remove them")
    return GradingTable(name=name, meta=meta, reasons=MappingProxyType(reasons), rows=tuple(rows), by_key=MappingProxyType(by_key))


def _meta(raw: Any, where: str) -> TableMeta:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: needs a [meta] table with {sorted(_META_KEYS)}")
    _reject_unknown(set(raw), _META_KEYS, f"{where} [meta]")
    missing = _META_KEYS - set(raw)
    if missing:
        raise CatalogError(f"{where} [meta]: missing {sorted(missing)}")
    if not isinstance(raw["source"], str) or not isinstance(raw["version"], str) or not raw["source"] or not raw["version"]:
        raise CatalogError(f"{where} [meta]: source and version must be non-empty strings")
    retrieved = raw["retrieved"]
    if not isinstance(retrieved, datetime.date) or isinstance(retrieved, datetime.datetime):
        raise CatalogError(f"{where} [meta]: retrieved must be a TOML date (retrieved = 2026-01-31)")
    return TableMeta(source=raw["source"], version=raw["version"], retrieved=retrieved)


def _reasons(raw: Any, where: str) -> dict[str, Reason]:
    if not isinstance(raw, dict) or not raw:
        raise CatalogError(f"{where}: needs a [reasons] table (reason-id = \"text\")")
    reasons = {}
    for reason_id, text in raw.items():
        if not isinstance(text, str) or not text.strip():
            raise CatalogError(f"{where} [reasons]: {reason_id} must be a non-empty string")
        reasons[reason_id] = Reason(id=reason_id, text=text.strip())
    return reasons


def _row(raw: Any, schema: TableSchema, reasons: Mapping[str, Reason], where: str) -> Row:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be a table")
    expected = set(schema.fields) | _ROW_COMMON
    _reject_unknown(set(raw), expected, where)
    missing = expected - set(raw)
    if missing:
        raise CatalogError(f"{where}: missing {sorted(missing)}")
    for name, kind in schema.fields.items():
        value = raw[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CatalogError(f"{where}: {name} must be {kind.__name__}, got {value!r}")
        allowed = schema.choices.get(name)
        if allowed is not None and value not in allowed:
            raise CatalogError(f"{where}: {name} = {value!r}; expected one of {sorted(allowed)}")
    try:
        verdict = Verdict(raw["verdict"])
    except ValueError:
        raise CatalogError(f"{where}: verdict = {raw['verdict']!r}; expected one of {[v.value for v in Verdict]}") from None
    row_reasons = raw["reasons"]
    if not isinstance(row_reasons, list) or not all(isinstance(reason, str) for reason in row_reasons):
        raise CatalogError(f"{where}: reasons must be a list of reason ids")
    undefined = [reason for reason in row_reasons if reason not in reasons]
    if undefined:
        raise CatalogError(f"{where}: reasons {undefined} are not defined in [reasons]")
    if verdict is not Verdict.OK and not row_reasons:
        raise CatalogError(f"{where}: a {verdict.value} verdict needs at least one reason")
    values = {name: raw[name] for name in schema.fields}
    return Row(verdict=verdict, reasons=tuple(row_reasons), fields=MappingProxyType(values))


def _reject_unknown(keys: set[str], allowed: set[str], where: str) -> None:
    unknown = keys - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
