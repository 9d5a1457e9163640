"""Device XML (UPnP descriptions, SEMP documents): a size-capped, entity-refusing parse.

A device on the network chooses the XML we parse, so this module is the one place
that turns untrusted bytes into an ``ElementTree`` element, under three rules:

1. **Size first.** Bytes above the caller's cap are refused *before* any parsing.
2. **No DTD, no entities.** An ``<!ENTITY`` declaration anywhere is refused as
   ``"refused: XML with entity declarations"`` (the billion-laughs "XML bomb" and
   external-entity reads both need one); a document type declaration without
   entities is refused as ``"refused: XML with a document type declaration"``.
   UPnP (UDA 1.1 §2.3) and SEMP documents never carry either. defusedxml does the
   refusing inside expat, so nothing is ever expanded or fetched.
3. **One exception.** Everything wrong raises ``CodecError``; the refusals raise its
   subclass ``XmlRefused`` and document codecs built on this module raise
   ``UnexpectedDocument`` for well-formed XML of another kind, so a probe can tell
   "hostile" from "broken" from "something else".

The helpers below match elements by local name, ignoring the namespace: devices
differ on whether they put UPnP elements in ``urn:schemas-upnp-org:device-1-0`` or
in none, and the vendor extensions (``semp:X_SEMPSERVICE``) come with prefixes of
the device's choosing. ``text_of`` clips every value so a hostile 200 KiB
``friendlyName`` cannot end up whole in a report.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from porthole.codecs._errors import CodecError

__all__ = [
    "MAX_TEXT",
    "XmlRefused",
    "UnexpectedDocument",
    "ENTITY_REFUSAL",
    "DOCTYPE_REFUSAL",
    "parse_document",
    "local_name",
    "children",
    "child",
    "text_of",
    "child_text",
]

#: characters kept of one element's text (device names, URLs, ids are far shorter)
MAX_TEXT = 256
ENTITY_REFUSAL = "refused: XML with entity declarations"
DOCTYPE_REFUSAL = "refused: XML with a document type declaration"


class XmlRefused(CodecError):
    """Well-formedness aside, XML this module will not parse (DTD, entities, size)."""


class UnexpectedDocument(CodecError):
    """Well-formed XML, but not the document the caller expected (another root element)."""


class _RefusingParser(DefusedXMLParser):
    """defusedxml's parser that lets a DOCTYPE *start*, so a following ``<!ENTITY``
    is reported as what it is, and refuses the DOCTYPE when it ends without one."""

    def __init__(self) -> None:
        super().__init__(forbid_dtd=False, forbid_entities=True, forbid_external=True)
        # defusedxml's parser is ElementTree's pure-Python one: ``parser`` is expat
        self.parser.EndDoctypeDeclHandler = self._refuse_doctype

    def _refuse_doctype(self) -> None:
        raise DTDForbidden(None, None, None)


def parse_document(data: bytes, *, limit: int) -> Element:
    """The root element of ``data``; ``XmlRefused`` above ``limit`` bytes or with a DTD/entities."""
    if len(data) > limit:
        raise XmlRefused(f"refused: XML document of {len(data)} bytes exceeds the {limit}-byte cap", offset=limit)
    parser = _RefusingParser()
    try:
        parser.feed(data)
        return parser.close()
    except (EntitiesForbidden, ExternalReferenceForbidden):
        raise XmlRefused(ENTITY_REFUSAL) from None
    except DTDForbidden:
        raise XmlRefused(DOCTYPE_REFUSAL) from None
    except ParseError as exc:
        # str(exc) is expat's "mismatched tag: line 1, column 8"
        raise CodecError(f"malformed XML: {exc}") from None
    except (LookupError, ValueError, UnicodeError, RecursionError) as exc:
        # an encoding declaration naming no codec (LookupError) or a codec that fails
        raise CodecError(f"malformed XML: {exc}") from None


def local_name(tag: object) -> str:
    """``{namespace}name`` or ``prefix:name`` → ``name`` (comments/PIs have non-str tags)."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2].rpartition(":")[2]


def children(element: Element, name: str) -> Iterator[Element]:
    """Direct children of ``element`` whose local name is ``name``."""
    return (item for item in element if local_name(item.tag) == name)


def child(element: Element, name: str) -> Element | None:
    return next(children(element, name), None)


def text_of(element: Element | None) -> str | None:
    """The stripped text of ``element``, clipped to ``MAX_TEXT``; ``None`` if absent or empty."""
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    if not text:
        return None
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def child_text(element: Element | None, *path: str) -> str | None:
    """Text at ``element/path[0]/path[1]/...`` by local names, or ``None``."""
    for name in path:
        if element is None:
            return None
        element = child(element, name)
    return text_of(element)
