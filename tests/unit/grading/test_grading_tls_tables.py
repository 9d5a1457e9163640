"""Lint of the TLS grading tables (ssh-audit's table tests, architecture.md §5.8).

The cipher-suite table is data; these tests keep every row right:
* each IANA name matches the registry's naming pattern;
* every field is re-derived from the name by an independent parser written here;
* the names agree with scapy's suite table (an independent implementation) for every code
  it knows, except where the IANA registry spells a name differently (allow-list);
* spot checks of rows an auditor knows by heart.
"""

from __future__ import annotations

import re

import pytest
from scapy.layers.tls.crypto.suites import _tls_cipher_suites as SCAPY_SUITES

from porthole.grading import load_table
from porthole.grading import tls as grading
from porthole.grading.tables import Verdict

SUITES = load_table("tls_cipher_suites")

NAME_PATTERN = re.compile(
    r"TLS_(?:"
    r"(?:NULL|RSA|RSA_EXPORT|DHE?_(?:DSS|RSA)(?:_EXPORT)?|DH_anon(?:_EXPORT)?|KRB5(?:_EXPORT)?|PSK|DHE_PSK|PSK_DHE|RSA_PSK|ECDHE_PSK|"
    r"ECDHE?_(?:ECDSA|RSA)|ECDH_anon|SRP_SHA(?:_RSA|_DSS)?|ECCPWD|GOSTR341112_256)"
    r"_WITH_[A-Z0-9_]+"
    r"|(?:AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305|AES_128_CCM|AES_128_CCM_8)_SHA(?:256|384)"
    r"|SM4_(?:GCM|CCM)_SM3|AEGIS_(?:256|128L)_SHA(?:512|256)|SHA(?:256|384)_SHA(?:256|384)"
    r")"
)

#: the IANA registry's spelling differs from scapy's for these code points
IANA_SPELLING = {
    0x0026: "TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA",  # scapy: ..._DES40_CBC_SHA
    0x0029: "TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5",
    0xC0AA: "TLS_PSK_DHE_WITH_AES_128_CCM_8",  # RFC 6655's odd word order; scapy: TLS_DHE_PSK_...
    0xC0AB: "TLS_PSK_DHE_WITH_AES_256_CCM_8",
}


def derive(name: str) -> dict[str, object]:
    """Fields a suite's IANA name implies (independent of the table's generator)."""
    body = name.removeprefix("TLS_")
    if "_WITH_" not in body:
        aead = {"GCM": "GCM", "CCM": "CCM", "POLY1305": "POLY1305", "AEGIS": "AEGIS"}
        mode = "CCM_8" if "CCM_8" in body else next((m for key, m in aead.items() if key in body), "none")
        bits = 0 if mode == "none" else 256 if ("_256_" in f"_{body}" or "CHACHA20" in body) else 128
        return {"kex": "ANY", "auth": "ANY", "min_version": "TLSv1.3", "key_bits": bits, "mode": mode, "forward_secrecy": True}
    exchange, cipher = body.split("_WITH_")
    exchange = {"PSK_DHE": "DHE_PSK"}.get(exchange, exchange)
    export = "EXPORT" in exchange
    parts = exchange.replace("_EXPORT", "").split("_")
    kex = parts[0] if parts[0] not in ("DH", "ECDH") or parts[-1] != "anon" else parts[0]
    if exchange.startswith(("DHE_PSK", "ECDHE_PSK", "RSA_PSK")):
        kex = "_".join(parts[:2])
    elif exchange.startswith("SRP"):
        kex = "SRP"
    elif exchange == "GOSTR341112_256":
        kex = "GOSTR341112_256"
    if export:
        kex += "_EXPORT"
    if "GCM" in cipher or "CCM" in cipher or "POLY1305" in cipher or "MGM" in cipher:
        mac = "AEAD"
    else:
        mac = {"MD5": "MD5", "SHA": "SHA1", "SHA256": "SHA256", "SHA384": "SHA384", "NULL": "NULL", "IMIT": "GOST28147-IMIT", "OMAC": "OMAC"}[cipher.rsplit("_", 1)[1]]
    bits_match = re.search(r"_(40|56|128|256)(?:_|$)", "_" + cipher)
    if cipher.startswith("NULL"):
        key_bits = 0
    elif cipher.startswith("3DES"):
        key_bits = 168
    elif cipher.startswith("DES_CBC_") and not cipher.startswith("DES_CBC_40"):
        key_bits = 56
    elif cipher.startswith(("DES40", "DES_CBC_40")):
        key_bits = 40
    elif cipher.startswith(("IDEA", "SEED")):
        key_bits = 128
    elif cipher.startswith(("CHACHA20", "28147", "KUZNYECHIK", "MAGMA")):
        key_bits = 256
    else:
        assert bits_match, name
        key_bits = int(bits_match.group(1))
    tls12_only = mac == "AEAD" or cipher.endswith(("SHA256", "SHA384")) or exchange in ("ECCPWD", "GOSTR341112_256")
    return {
        "kex": kex,
        "min_version": "TLSv1.2" if tls12_only else "SSLv3",
        "key_bits": key_bits,
        "mac": mac,
        "export": export,
        "forward_secrecy": kex in ("DHE", "ECDHE", "DHE_PSK", "ECDHE_PSK", "DHE_EXPORT", "ECCPWD"),
    }


def test_table_has_meta_and_every_iana_code_once() -> None:
    assert SUITES.meta.source.startswith("IANA") and SUITES.meta.version
    codes = [row["code"] for row in SUITES]
    assert len(codes) == len(set(codes)) == 350
    assert {0x00FF, 0x5600}.isdisjoint(codes)  # signalling values are not suites


@pytest.mark.parametrize("row", list(SUITES), ids=lambda row: row["name"])
def test_every_name_matches_the_iana_pattern_and_its_fields_follow_from_it(row) -> None:
    assert NAME_PATTERN.fullmatch(row["name"]), row["name"]
    derived = derive(row["name"])
    actual = {key: row[key] for key in derived}
    assert actual == derived


@pytest.mark.parametrize("row", list(SUITES), ids=lambda row: row["name"])
def test_verdicts_follow_the_reasons(row) -> None:
    reasons = set(row.reasons)
    fail = {"null-encryption", "anonymous", "export", "rc4", "des", "weak-key-length", "64-bit-block", "md5-mac"}
    warn = {"cbc-mode", "sha1-mac", "short-tag", "no-forward-secrecy"}
    expected = Verdict.FAIL if reasons & fail else Verdict.WARN if reasons & warn else Verdict.OK
    assert row.verdict is expected
    assert ("no-forward-secrecy" in reasons) == (not row["forward_secrecy"] and row["kex"] != "NULL" and row["min_version"] != "TLSv1.3")
    assert ("64-bit-block" in reasons) == (row["block_bits"] == 64)


def test_names_agree_with_scapys_independent_suite_table() -> None:
    # Given every real suite scapy knows (its table also holds SSLv2 and pre-RFC codes)
    known = {code: name for code, name in SCAPY_SUITES.items() if code <= 0xFFFF and not name.endswith("_OLD") and code not in (0x00FF, 0x5600)}
    ours = {row["code"]: row["name"] for row in SUITES}
    # Then every one of them is in porthole's table, under scapy's name or the IANA spelling
    for code, name in known.items():
        assert ours[code] == IANA_SPELLING.get(code, name), hex(code)
    assert set(IANA_SPELLING) <= set(known)


@pytest.mark.parametrize(
    ("code", "name", "kex", "cipher", "strength", "verdict"),
    [
        (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "RSA", "3DES", 112, Verdict.FAIL),
        (0x0005, "TLS_RSA_WITH_RC4_128_SHA", "RSA", "RC4", 128, Verdict.FAIL),
        (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", "RSA_EXPORT", "RC4", 40, Verdict.FAIL),
        (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "AES", 128, Verdict.WARN),
        (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE", "AES", 128, Verdict.OK),
        (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE", "CHACHA20", 256, Verdict.OK),
        (0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256", "ECDH", "AES", 128, Verdict.WARN),
        (0x1302, "TLS_AES_256_GCM_SHA384", "ANY", "AES", 256, Verdict.OK),
        (0xC0B4, "TLS_SHA256_SHA256", "ANY", "NULL", 0, Verdict.FAIL),
        (0xC03C, "TLS_RSA_WITH_ARIA_128_CBC_SHA256", "RSA", "ARIA", 128, Verdict.WARN),
        (0xC071, "TLS_ECDHE_PSK_WITH_ARIA_256_CBC_SHA384", "ECDHE_PSK", "ARIA", 256, Verdict.WARN),
        (0x0018, "TLS_DH_anon_WITH_RC4_128_MD5", "DH", "RC4", 128, Verdict.FAIL),
    ],
)
def test_spot_checks(code: int, name: str, kex: str, cipher: str, strength: int, verdict: Verdict) -> None:
    row = grading.suite(code)
    assert row is not None
    assert (row["name"], row["kex"], row["cipher"], row["strength_bits"], row.verdict) == (name, kex, cipher, strength, verdict)


def test_other_tls_tables_load_with_meta_and_reasons() -> None:
    for name in ("tls_versions", "tls_keys", "tls_signatures"):
        table = load_table(name)
        assert table.meta.source and table.reasons
    assert [row["name"] for row in load_table("tls_versions") if row.verdict is Verdict.FAIL] == ["SSLv3", "TLSv1.0", "TLSv1.1"]
    assert [row["below_bits"] for row in grading.key_rows("rsa", 1000)] == [1024, 2048]
    assert grading.key_rows("rsa", 2048) == ()


def test_policies_reference_only_real_suites_and_name_a_default_service() -> None:
    policies = grading.tls_policies()
    assert policies.mozilla["intermediate"].suites >= {0xC02F, 0x1301}
    assert policies.service("ocpp-dlm").require_client_certificate
    assert policies.service("unknown-port").service == "https"


@pytest.mark.parametrize(
    ("kex_bits", "cipher_bits", "score", "letter"),
    [
        # the examples of protocols.md §10.4 (nmap ssl-enum-ciphers arithmetic)
        (grading.rsa_equivalent_bits("ec", 256), 128, 0.843, "A"),
        (2048, 112, 0.501, "C"),
        (1024, 128, 0.8, "A"),
        (512, 40, 0.286, "E"),
        # anonymous key exchange or no encryption: 0 whatever the other half
        (0, 256, 0.0, "F"),
        (2048, 0, 0.0, "F"),
    ],
)
def test_nmap_scores_and_letters(kex_bits: int, cipher_bits: int, score: float, letter: str) -> None:
    assert grading.suite_score(kex_bits, cipher_bits) == pytest.approx(score, abs=0.001)
    assert grading.letter(grading.suite_score(kex_bits, cipher_bits)) == letter


def test_ec_sizes_map_to_rsa_equivalents_as_nmap_does() -> None:
    assert [grading.rsa_equivalent_bits("ec", bits) for bits in (128, 192, 224, 256, 384, 521)] == [512, 1024, 2048, 3072, 7680, 15360]
