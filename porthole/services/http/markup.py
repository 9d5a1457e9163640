"""What a web page's markup says, read with bounded, linear scans (no DOM, no I/O).

For the HTTP probe: the ``<title>``, whether the page carries a password input
(a login form), and which web UI generation the controller serves (legacy
configuration interface 1.0 or dashboard 2.0).

Hostile pages are the norm here, so every scan is linear in the (already capped)
document: patterns are anchored on a literal tag start and may not cross ``<``/``>``,
so no backtracking blows up on "<title<title<title…". Entities are decoded with
``html.unescape`` (which maps out-of-range and surrogate code points to U+FFFD),
control characters are dropped and titles are cut to ``MAX_TITLE`` characters, so
whatever a device puts there is safe to print in a terminal or a report.

The UI markers are data (``UI_MARKERS``). They come from the vendor's documentation
(the legacy interface lives under ``/legacy/…``; the 2.0 UI is the "Dashboard")
and from the lab's pages; the exact markup of a real unit is unverified
(protocols.md §13 item 3): add markers here when fixtures from hardware exist.

Must not: execute, fetch or follow anything the page references.
"""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass

__all__ = ["MAX_TITLE", "UiMarker", "UI_MARKERS", "decode_document", "charset_of", "find_title", "has_password_input", "ui_markers_in"]

MAX_TITLE = 256

_TITLE_START = re.compile(r"<title\b[^<>]*>", re.IGNORECASE)
_TITLE_END = re.compile(r"</title\s*>", re.IGNORECASE)
_INPUT_TAG = re.compile(r"<input\b([^<>]*)>", re.IGNORECASE)
_PASSWORD_TYPE = re.compile(r"""\btype\s*=\s*["']?password\b""", re.IGNORECASE)
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True, kw_only=True)
class UiMarker:
    """A pattern in a page that tells the UI generation; ``id`` goes into the evidence."""

    id: str
    ui: str  # "legacy" or "dashboard"
    pattern: re.Pattern[str]


UI_MARKERS: tuple[UiMarker, ...] = (
    # links, forms or scripts under /legacy/: the 1.0 configuration interface (vendor URLs)
    UiMarker(id="legacy-path", ui="legacy", pattern=re.compile(r"""\b(?:href|action|src)\s*=\s*["']?/legacy/""", re.IGNORECASE)),
    UiMarker(id="legacy-text", ui="legacy", pattern=re.compile(r"legacy configuration", re.IGNORECASE)),
    # the 2.0 UI's application root and its name
    UiMarker(id="dashboard-2.0", ui="dashboard", pattern=re.compile(r"""\bdata-ui\s*=\s*["']?2\.0""", re.IGNORECASE)),
    UiMarker(id="dashboard-title", ui="dashboard", pattern=re.compile(r"<title\b[^<>]*>[^<]{0,200}\bdashboard\b", re.IGNORECASE)),
)


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type value, if it names a text encoding."""
    if not content_type:
        return None
    match = _CHARSET.search(content_type)
    if match is None:
        return None
    try:
        info = codecs.lookup(match.group(1))
    except LookupError:
        return None
    # bytes-to-bytes codecs (hex, zlib...) are not text encodings
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_document(document: bytes, *, charset: str | None) -> str:
    """Text of a page: the declared charset if usable, else UTF-8; bad bytes become U+FFFD."""
    try:
        return document.decode(charset or "utf-8", errors="replace")
    except (LookupError, ValueError):
        return document.decode("utf-8", errors="replace")


def find_title(text: str) -> str | None:
    """The first ``<title>``'s text: entities decoded, whitespace collapsed, controls dropped.

    ``None`` when there is no complete ``<title>…</title>``; an empty title is ``""``.
    """
    start = _TITLE_START.search(text)
    if start is None:
        return None
    end = _TITLE_END.search(text, start.end())
    if end is None:
        return None
    raw = text[start.end() : end.start()]
    # decode a bounded slice: a page cannot make us unescape megabytes
    decoded = html.unescape(raw[: MAX_TITLE * 8])
    cleaned = " ".join(_CONTROL.sub(" ", decoded).split())
    return cleaned[:MAX_TITLE]


def has_password_input(text: str) -> bool:
    """Whether the page has an ``<input type="password">`` (a login form)."""
    return any(_PASSWORD_TYPE.search(match.group(1)) for match in _INPUT_TAG.finditer(text))


def ui_markers_in(text: str) -> tuple[str | None, tuple[str, ...]]:
    """(``"legacy"`` / ``"dashboard"`` / ``None``, the marker ids found); legacy wins."""
    found = tuple(marker for marker in UI_MARKERS if marker.pattern.search(text))
    ids = tuple(marker.id for marker in found)
    if any(marker.ui == "legacy" for marker in found):
        return "legacy", ids
    if found:
        return "dashboard", ids
    return None, ids
