"""The web UI probe (80/81/82 plain, 443/444/445 over TLS): protocols.md §1.

Sends ``GET / HTTP/1.1`` (Host, ``User-Agent: porthole/<version>``, ``Accept: */*``,
``Connection: close``; no cookies, no credentials) and reads one bounded response.
Redirects are recorded, never followed. When ``/`` served a page that is not
already the legacy UI, one more connection asks ``GET /legacy/`` to tell whether
the legacy configuration interface (Web UI 1.0) is still reachable.

HTTPS ports: the GET runs over a handshake with a non-verifying context that
accepts old versions and suites. That is evidence gathering only (the page, the
headers, HSTS); grading versions, suites and the certificate is the TLS probe's
job. The version and suite this handshake got are recorded.

Must not: log in, send a POST, crawl, fetch more than ``/`` and ``/legacy/``, or
follow a ``Location``.
"""

from __future__ import annotations

import ssl
import warnings
from typing import Any, ClassVar
from urllib.parse import urlsplit

from porthole.codecs.http1 import Method, ResponseHead, build_request
from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext, ProbeFailure, close_stream
from porthole.services.http import assess as assess_module
from porthole.services.http.evidence import Cookie, HttpEvidence, LegacyCheck, PageFacts, TlsSession
from porthole.services.http.exchange import Exchange, exchange
from porthole.services.http.markup import charset_of, decode_document, find_title, has_password_input, ui_markers_in

__all__ = ["HttpProbe", "evidence_tls_context", "page_facts", "legacy_verdict"]

#: catalogue service ids this probe runs on
PLAIN_SERVICE = "http"
TLS_SERVICE = "https"
LEGACY_TARGET = "/legacy/"


def evidence_tls_context() -> ssl.SSLContext:
    """A client context that completes a handshake with almost anything, verifying nothing.

    For evidence gathering only: the probe must see the page an old controller
    serves over TLS 1.0 with an RSA-1024 certificate, so the floor is TLS 1.0 and
    OpenSSL's security level 0. Nothing this context accepts is a judgement.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1 is deprecated
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


class HttpProbe:
    id: ClassVar[str] = "http"

    def claims(self, observation: PortObservation) -> bool:
        return observation.service in (PLAIN_SERVICE, TLS_SERVICE)

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        scheme = "https" if context.observation.service == TLS_SERVICE else "http"
        root_exchange, tls = await self._get(context, "/", scheme)
        if root_exchange.silence is not None:
            return to_jsonable(HttpEvidence(scheme=scheme, port=context.port, tls=tls, silence=root_exchange.silence))
        root = page_facts("/", root_exchange)
        legacy = None
        if _worth_asking_for_legacy(root):
            legacy_exchange, _ = await self._get(context, LEGACY_TARGET, scheme)
            legacy_page = page_facts(LEGACY_TARGET, legacy_exchange) if legacy_exchange.silence is None else None
            legacy = LegacyCheck(verdict=legacy_verdict(legacy_page, root), page=legacy_page)
        return to_jsonable(HttpEvidence(scheme=scheme, port=context.port, tls=tls, root=root, legacy=legacy))

    async def _get(self, context: ProbeContext, target: str, scheme: str) -> tuple[Exchange, TlsSession | None]:
        tls_context = evidence_tls_context() if scheme == "https" else None
        try:
            reader, writer = await context.wait(
                context.open_stream(tls=tls_context, server_hostname=context.target.hostname),
                context.limits.first_byte,
            )
        except TimeoutError:
            what = "TLS handshake" if tls_context else "TCP connect"
            raise ProbeFailure(ErrorReason.TIMEOUT, f"{what} did not complete within {context.limits.first_byte:g} s") from None
        except ssl.SSLError as exc:
            raise ProbeFailure(ErrorReason.HANDSHAKE_FAILED, f"TLS handshake failed: {exc.reason or exc}") from None
        except ConnectionResetError:
            if tls_context is None:
                raise
            # closed during the handshake without a TLS byte: what 444/445 do when
            # the peer controller is absent (protocols.md §1), evidence rather than error
            return Exchange(silence="closed"), None
        try:
            tls = None
            if tls_context is not None:
                ssl_object = writer.get_extra_info("ssl_object")
                cipher = ssl_object.cipher() if ssl_object is not None else None
                tls = TlsSession(version=ssl_object.version() if ssl_object else None, cipher=cipher[0] if cipher else None)
            request = build_request(
                method=Method.GET,
                target=target,
                host=_host_header(context, scheme),
                user_agent=f"porthole/{context.version}",
            )
            # Body cap: one connection reads at most max_read body bytes (the title
            # and forms are near the top; a 10 MB page costs 64 KiB).
            result = await exchange(reader, writer, request, limits=context.limits, request_method=Method.GET, max_body=context.limits.max_read)
        finally:
            await close_stream(writer)
        return result, tls

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess_module.assess(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess_module.summarise(evidence)


def _host_header(context: ProbeContext, scheme: str) -> str:
    default = 443 if scheme == "https" else 80
    host = context.host_header
    return host if context.port == default else f"{host}:{context.port}"


def _worth_asking_for_legacy(root: PageFacts) -> bool:
    # A redirect away (to HTTPS or a login) says nothing about /legacy/ on this port,
    # and a page that already is the legacy UI needs no second request.
    return not (300 <= root.status < 400) and root.ui != "legacy"


def page_facts(target: str, result: Exchange) -> PageFacts:
    """The facts of one complete-enough response (head present)."""
    head = result.head
    body = result.body
    assert head is not None and body is not None, "page_facts needs a response (silence is handled by the caller)"
    content_type = head.header("content-type")
    text = decode_document(body.data, charset=charset_of(content_type))
    ui, markers = ui_markers_in(text)
    location = head.header("location")
    challenges = head.header_values("www-authenticate")
    return PageFacts(
        target=target,
        http_version=head.http_version,
        status=head.status,
        reason=head.reason,
        server=head.header("server"),
        location=location,
        redirects_to_https=_is_https_url(location),
        content_type=content_type,
        www_authenticate=challenges,
        basic_challenge=any(_auth_scheme(value) == "basic" for value in challenges),
        hsts=head.header("strict-transport-security"),
        cookies=_cookies(head),
        title=find_title(text),
        password_form=has_password_input(text),
        ui=ui,
        ui_markers=markers,
        body_bytes=len(body.data),
        body_end="stalled" if result.body_stalled else body.end.value,
    )


def legacy_verdict(page: PageFacts | None, root: PageFacts) -> str:
    """Whether ``GET /legacy/`` shows the legacy UI reachable (see ``LegacyCheck``)."""
    if page is None:
        return "no-response"
    if page.ui == "legacy":
        return "reachable"
    if page.status in (404, 410):
        return "absent"
    if page.status == 403:
        return "forbidden"
    if (page.status, page.title, page.body_bytes) == (root.status, root.title, root.body_bytes):
        # a catch-all answering every path alike says nothing about /legacy/
        return "inconclusive"
    if page.status in (200, 401):
        return "reachable"
    if 300 <= page.status < 400:
        path = urlsplit(page.location or "").path.lower()
        return "reachable" if path.startswith("/legacy") or "login" in path else "redirect"
    return "inconclusive"


def _is_https_url(location: str | None) -> bool:
    if not location:
        return False
    try:
        parts = urlsplit(location.strip())
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and bool(parts.netloc)


def _auth_scheme(challenge: str) -> str:
    return challenge.strip().split(" ", 1)[0].split(",", 1)[0].lower()


def _cookies(head: ResponseHead) -> tuple[Cookie, ...]:
    cookies = []
    for value in head.header_values("set-cookie")[:32]:
        first, *attributes = value.split(";")
        name = first.split("=", 1)[0].strip()[:64]
        flags = {}
        for attribute in attributes[:32]:
            key, _, attribute_value = attribute.partition("=")
            flags[key.strip().lower()] = attribute_value.strip()[:32]
        cookies.append(Cookie(name=name, secure="secure" in flags, http_only="httponly" in flags, same_site=flags.get("samesite") or None))
    return tuple(cookies)
