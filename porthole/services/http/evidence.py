"""Evidence of the HTTP probe: facts about one web port, no judgements.

Serialised with ``porthole.jsonable.to_jsonable`` into ``evidence["http"]``.
Field meanings (the report documents evidence as probe-specific objects):

* ``scheme``: ``http`` (80/81/82) or ``https`` (443/444/445, GET over TLS);
* ``tls``: for ``https``, the version and cipher suite the (non-verifying)
  handshake got; certificate facts belong to the TLS probe;
* ``silence``: no response byte at all: ``closed`` (the connection was closed
  without a byte, as a forwarder without its peer does) or ``silent``;
* ``root``: the answer to ``GET /``; ``legacy``: the answer to the one
  ``GET /legacy/`` (only when ``/`` served a page that is not already the legacy UI).

Cookie *values* are never kept (they may be session tokens): only names and flags.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TlsSession", "Cookie", "PageFacts", "LegacyCheck", "HttpEvidence"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsSession:
    version: str | None
    cipher: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Cookie:
    name: str
    secure: bool
    http_only: bool
    same_site: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PageFacts:
    """One response: status line, the headers that matter, and what the markup says."""

    target: str
    http_version: str
    status: int
    reason: str
    server: str | None
    location: str | None
    #: ``Location`` is an absolute ``https://`` URL
    redirects_to_https: bool
    content_type: str | None
    #: every ``WWW-Authenticate`` value, as sent
    www_authenticate: tuple[str, ...]
    #: a ``Basic`` scheme among the challenges
    basic_challenge: bool
    #: the ``Strict-Transport-Security`` value, if any
    hsts: str | None
    cookies: tuple[Cookie, ...]
    title: str | None
    #: the page has an ``<input type="password">``
    password_form: bool
    #: ``legacy``, ``dashboard`` or null when the markup does not tell
    ui: str | None
    ui_markers: tuple[str, ...]
    body_bytes: int
    #: ``complete``, ``capped`` (only the first bytes were read), ``truncated`` (closed
    #: early) or ``stalled``
    body_end: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyCheck:
    """``GET /legacy/``: ``verdict`` is ``reachable`` (legacy markup, or an auth challenge
    or login page there), ``absent`` (404/410), ``redirect`` (3xx elsewhere),
    ``inconclusive`` (a page that does not tell, e.g. a catch-all) or ``no-response``."""

    verdict: str
    page: PageFacts | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpEvidence:
    scheme: str
    port: int
    tls: TlsSession | None = None
    silence: str | None = None
    root: PageFacts | None = None
    legacy: LegacyCheck | None = None
