"""TLS grading data and the pure arithmetic on it (docs/tls-grading.md).

Three kinds of data, all under ``tables/``:

* verdict tables loaded through ``load_table``: ``tls_cipher_suites`` (every IANA
  suite), ``tls_versions``, ``tls_keys``, ``tls_signatures``;
* ``tls_policies.toml``: the nmap ssl-enum-ciphers scoring constants, the Mozilla
  profiles' sets and per-service expectations, read strictly here.

Contract: no I/O beyond reading package files once; no evidence handling (that is
``services/tls/assess.py``); every function is a pure computation on numbers and rows,
so the grade a reader computes by hand from docs/tls-grading.md is the grade porthole
prints.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from porthole.errors import CatalogError
from porthole.grading.tables import GradingTable, Row, TableMeta, load_table

__all__ = [
    "NmapScoring",
    "MozillaProfile",
    "ServicePolicy",
    "TlsPolicies",
    "tls_policies",
    "cipher_suites",
    "suite",
    "version_row",
    "key_rows",
    "signature_row",
    "rsa_equivalent_bits",
    "suite_score",
    "letter",
    "worst_letter",
]

_WHERE = "porthole/grading/tables/tls_policies.toml"


@dataclass(frozen=True, slots=True, kw_only=True)
class NmapScoring:
    kex_weight: float
    cipher_weight: float
    kex_steps: tuple[tuple[int, float], ...]
    kex_otherwise: float
    cipher_steps: tuple[tuple[int, float], ...]
    cipher_otherwise: float
    ec_rsa_equivalent_steps: tuple[tuple[int, int], ...]
    ec_rsa_equivalent_otherwise: int
    letters: tuple[tuple[float, str], ...]
    capping_signature_hashes: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class MozillaProfile:
    name: str
    versions: frozenset[str]
    suites: frozenset[int]
    groups: frozenset[int]
    certificate_keys: frozenset[str]
    minimum_rsa_bits: int
    minimum_dh_bits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ServicePolicy:
    service: str
    require_client_certificate: bool
    self_signed_expected: bool
    static_key_exchange_allowed: frozenset[int]


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsPolicies:
    meta: TableMeta
    nmap: NmapScoring
    mozilla: Mapping[str, MozillaProfile]
    services: Mapping[str, ServicePolicy]

    def service(self, service_id: str | None) -> ServicePolicy:
        """The policy of a catalogue service; a port outside the catalogue gets the https one."""
        return self.services.get(service_id or "", self.services["https"])


@lru_cache(maxsize=1)
def tls_policies() -> TlsPolicies:
    text = resources.files("porthole.grading").joinpath("tables", "tls_policies.toml").read_text(encoding="utf-8")
    return parse_policies(text)


def parse_policies(text: str) -> TlsPolicies:
    """Validate ``tls_policies.toml`` text (strict: unknown or missing keys are errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{_WHERE}: not valid TOML: {exc}") from None
    _keys(data, {"meta", "nmap", "mozilla", "service"}, _WHERE)
    meta_raw = data["meta"]
    _keys(meta_raw, {"source", "version", "retrieved"}, f"{_WHERE} [meta]")
    if not isinstance(meta_raw["retrieved"], datetime.date):
        raise CatalogError(f"{_WHERE} [meta]: retrieved must be a TOML date")
    meta = TableMeta(source=str(meta_raw["source"]), version=str(meta_raw["version"]), retrieved=meta_raw["retrieved"])
    raw = data["nmap"]
    _keys(
        raw,
        {"kex_weight", "cipher_weight", "kex_steps", "kex_otherwise", "cipher_steps", "cipher_otherwise",
         "ec_rsa_equivalent_steps", "ec_rsa_equivalent_otherwise", "letters", "capping_signature_hashes"},
        f"{_WHERE} [nmap]",
    )
    nmap = NmapScoring(
        kex_weight=float(raw["kex_weight"]),
        cipher_weight=float(raw["cipher_weight"]),
        kex_steps=_steps(raw["kex_steps"], float, "kex_steps"),
        kex_otherwise=float(raw["kex_otherwise"]),
        cipher_steps=_steps(raw["cipher_steps"], float, "cipher_steps"),
        cipher_otherwise=float(raw["cipher_otherwise"]),
        ec_rsa_equivalent_steps=_steps(raw["ec_rsa_equivalent_steps"], int, "ec_rsa_equivalent_steps"),
        ec_rsa_equivalent_otherwise=int(raw["ec_rsa_equivalent_otherwise"]),
        letters=tuple((float(minimum), str(grade)) for minimum, grade in raw["letters"]),
        capping_signature_hashes=frozenset(raw["capping_signature_hashes"]),
    )
    mozilla: dict[str, MozillaProfile] = {}
    for name, profile in data["mozilla"].items():
        where = f"{_WHERE} [mozilla.{name}]"
        _keys(profile, {"versions", "suites", "groups", "certificate_keys", "minimum_rsa_bits", "minimum_dh_bits"}, where)
        unknown_suites = [code for code in profile["suites"] if suite(code) is None]
        if unknown_suites:
            raise CatalogError(f"{where}: suites {unknown_suites} are not in tls_cipher_suites.toml")
        mozilla[name] = MozillaProfile(
            name=name,
            versions=frozenset(profile["versions"]),
            suites=frozenset(profile["suites"]),
            groups=frozenset(profile["groups"]),
            certificate_keys=frozenset(profile["certificate_keys"]),
            minimum_rsa_bits=int(profile["minimum_rsa_bits"]),
            minimum_dh_bits=int(profile["minimum_dh_bits"]),
        )
    services: dict[str, ServicePolicy] = {}
    for service_id, policy in data["service"].items():
        _keys(policy, {"require_client_certificate", "self_signed_expected", "static_key_exchange_allowed"}, f"{_WHERE} [service.{service_id}]")
        services[service_id] = ServicePolicy(
            service=service_id,
            require_client_certificate=bool(policy["require_client_certificate"]),
            self_signed_expected=bool(policy["self_signed_expected"]),
            static_key_exchange_allowed=frozenset(policy["static_key_exchange_allowed"]),
        )
    if "https" not in services:
        raise CatalogError(f"{_WHERE}: needs a [service.https] table (the default policy)")
    return TlsPolicies(meta=meta, nmap=nmap, mozilla=MappingProxyType(mozilla), services=MappingProxyType(services))


def _keys(raw: Any, expected: set[str], where: str) -> None:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be a table")
    unknown, missing = set(raw) - expected, expected - set(raw)
    if unknown or missing:
        raise CatalogError(f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")


def _steps(raw: Any, kind: type, name: str) -> tuple[tuple[int, Any], ...]:
    if not isinstance(raw, list) or not all(isinstance(step, list) and len(step) == 2 for step in raw):
        raise CatalogError(f"{_WHERE} [nmap]: {name} must be a list of [below, value] pairs")
    steps = tuple((int(below), kind(value)) for below, value in raw)
    if [below for below, _ in steps] != sorted(below for below, _ in steps):
        raise CatalogError(f"{_WHERE} [nmap]: {name} must be in ascending order of `below`")
    return steps


# --------------------------------------------------------------------------- table rows


def cipher_suites() -> GradingTable:
    return load_table("tls_cipher_suites")


def suite(code: int) -> Row | None:
    """The IANA row of a suite code, or ``None`` for an unassigned value."""
    return cipher_suites().lookup(code)


def version_row(code: int) -> Row | None:
    return load_table("tls_versions").lookup(code)


def key_rows(kind: str, bits: int) -> tuple[Row, ...]:
    """Rows of ``tls_keys`` a key of ``kind`` and ``bits`` falls under, strictest first."""
    rows = [row for row in load_table("tls_keys") if row["kind"] == kind and bits < row["below_bits"]]
    return tuple(sorted(rows, key=lambda row: row["below_bits"]))


def signature_row(hash_name: str) -> Row | None:
    return load_table("tls_signatures").lookup(hash_name)


# --------------------------------------------------------------------------- nmap arithmetic


def _step(value: int, steps: Sequence[tuple[int, Any]], otherwise: Any) -> Any:
    for below, result in steps:
        if value < below:
            return result
    return otherwise


def rsa_equivalent_bits(key_kind: str, bits: int, scoring: NmapScoring | None = None) -> int:
    """RSA-equivalent strength of a key (nselib/tls.lua ``rsa_equiv``): EC sizes are mapped."""
    scoring = scoring or tls_policies().nmap
    if key_kind in ("ec", "ecdhe"):
        return int(_step(bits, scoring.ec_rsa_equivalent_steps, scoring.ec_rsa_equivalent_otherwise))
    return bits


def suite_score(kex_strength: int, cipher_strength: int, scoring: NmapScoring | None = None) -> float:
    """nmap's score of one suite from key-exchange and cipher strength in bits."""
    scoring = scoring or tls_policies().nmap
    if kex_strength <= 0 or cipher_strength <= 0:
        return 0.0  # anonymous key exchange or no encryption: nothing else can redeem the suite
    kex = float(_step(kex_strength, scoring.kex_steps, scoring.kex_otherwise))
    cipher = float(_step(cipher_strength, scoring.cipher_steps, scoring.cipher_otherwise))
    return round(scoring.kex_weight * kex + scoring.cipher_weight * cipher, 4)


def letter(score: float, scoring: NmapScoring | None = None) -> str:
    scoring = scoring or tls_policies().nmap
    for minimum, grade in scoring.letters:
        if score >= minimum:
            return grade
    return "F"


def worst_letter(letters: Sequence[str]) -> str | None:
    """The weakest of several letters (A best, F worst); ``None`` for none."""
    return max(letters, default=None)
