"""The SSH algorithm table and the generic grading-table loader (ssh-audit's kexdb lint, as data)."""

from __future__ import annotations

import re
from types import MappingProxyType

import pytest

from porthole.errors import CatalogError
from porthole.grading.tables import TABLE_SCHEMAS, Verdict, load_table, parse_table

# RFC 4251 §6: printable US-ASCII, no comma or whitespace, at most 64 characters,
# optionally name@domain for local extensions.
ALGORITHM_NAME = re.compile(r"^[!-+\--~]{1,64}$")

#: Judgements where porthole deliberately differs from ssh-audit; a change here is a
#: policy decision, reviewed as such.
CONTESTED = {
    ("kex", "ecdh-sha2-nistp256"): Verdict.WARN,
    ("kex", "ecdh-sha2-nistp384"): Verdict.WARN,
    ("kex", "ecdh-sha2-nistp521"): Verdict.WARN,
    ("hostkey", "ecdsa-sha2-nistp256"): Verdict.WARN,
    ("hostkey", "ecdsa-sha2-nistp384"): Verdict.WARN,
    ("hostkey", "ecdsa-sha2-nistp521"): Verdict.WARN,
    ("cipher", "chacha20-poly1305@openssh.com"): Verdict.OK,
}

VALID = """
[meta]
source = "test"
version = "1"
retrieved = 2026-01-01

[reasons]
weak = "weak"

[[algorithm]]
kind = "kex"
name = "a"
verdict = "fail"
reasons = ["weak"]
"""


def test_the_shipped_table_loads_with_its_meta() -> None:
    # Given the packaged ssh_algorithms table / When loaded
    table = load_table("ssh_algorithms")
    # Then it names its sources and version, and has rows of every kind
    assert table.meta.source and table.meta.version == "2026.1"
    assert {row["kind"] for row in table} == {"kex", "hostkey", "cipher", "mac", "compression"}


def test_every_algorithm_name_follows_rfc_4251() -> None:
    for row in load_table("ssh_algorithms"):
        assert ALGORITHM_NAME.match(row["name"]), row["name"]


def test_protocols_md_grading_hints_hold_in_the_table() -> None:
    # Given the fail/warn hints of protocols.md §2
    table = load_table("ssh_algorithms")
    expect = {
        ("kex", "diffie-hellman-group1-sha1"): Verdict.FAIL,
        ("kex", "diffie-hellman-group14-sha1"): Verdict.FAIL,
        ("kex", "diffie-hellman-group-exchange-sha1"): Verdict.FAIL,
        ("hostkey", "ssh-dss"): Verdict.FAIL,
        ("hostkey", "ssh-rsa"): Verdict.FAIL,
        ("cipher", "3des-cbc"): Verdict.FAIL,
        ("cipher", "arcfour"): Verdict.FAIL,
        ("cipher", "arcfour256"): Verdict.FAIL,
        ("mac", "hmac-md5"): Verdict.FAIL,
        ("mac", "hmac-sha1-etm@openssh.com"): Verdict.FAIL,
        ("cipher", "none"): Verdict.FAIL,
        ("cipher", "aes128-cbc"): Verdict.WARN,
        ("mac", "umac-64@openssh.com"): Verdict.WARN,
        ("kex", "diffie-hellman-group14-sha256"): Verdict.WARN,
        ("kex", "curve25519-sha256"): Verdict.WARN,
        ("kex", "mlkem768x25519-sha256"): Verdict.OK,
        ("kex", "sntrup761x25519-sha512@openssh.com"): Verdict.OK,
    }
    # Then each named algorithm has the hinted verdict
    assert {key: table.lookup(*key).verdict for key in expect} == expect


def test_contested_judgements_are_exactly_the_reviewed_ones() -> None:
    table = load_table("ssh_algorithms")
    assert {key: table.lookup(*key).verdict for key in CONTESTED} == CONTESTED


def test_the_loaded_table_is_read_only() -> None:
    # Given the loaded table / When a caller tries to change it / Then it cannot
    table = load_table("ssh_algorithms")
    assert isinstance(table.by_key, MappingProxyType) and isinstance(table.reasons, MappingProxyType)
    with pytest.raises(TypeError):
        table.rows[0].fields["verdict"] = "ok"  # type: ignore[index]
    with pytest.raises(AttributeError):
        table.rows[0].verdict = Verdict.OK  # type: ignore[misc]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace('kind = "kex"', 'kind = "kex"\ncolour = "red"'), "unknown keys \\['colour'\\]"),
        (lambda text: text.replace('reasons = ["weak"]', 'reasons = ["weak", "nowhere"]'), "not defined"),
        (lambda text: text.replace('weak = "weak"', 'weak = "weak"\nspare = "unused"'), "no row uses them"),
        (lambda text: text.replace('verdict = "fail"', 'verdict = "bad"'), "verdict = 'bad'"),
        (lambda text: text.replace('reasons = ["weak"]', "reasons = []").replace('weak = "weak"', 'weak = "w"'), "needs at least one reason|no row uses"),
        (lambda text: text.replace('kind = "kex"', 'kind = "kexx"'), "expected one of"),
        (lambda text: text.replace("retrieved = 2026-01-01", 'retrieved = "yesterday"'), "TOML date"),
        (lambda text: text + text.split("[reasons]")[1].split("\n", 3)[-1], "duplicate"),
        (lambda text: text.replace('name = "a"', "name = 7"), "name must be str"),
    ],
)
def test_a_broken_table_is_refused_with_a_message_naming_the_problem(edit, message: str) -> None:
    # Given a valid table text with one defect introduced
    text = edit(VALID)
    # When parsed / Then CatalogError explains what is wrong
    with pytest.raises(CatalogError, match=message):
        parse_table("ssh_algorithms", text, TABLE_SCHEMAS["ssh_algorithms"])


def test_an_unknown_table_name_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError, match="ssh_algorithms"):
        load_table("no_such_table")
