"""HTTP judgements on hand-built evidence, and the bounded markup scans they rest on."""

from __future__ import annotations

import dataclasses

import pytest

from porthole.model import PortObservation, PortState, Protocol, Reason, Severity
from porthole.report.encode import to_jsonable
from porthole.services.http import HttpProbe
from porthole.services.http.evidence import HttpEvidence, LegacyCheck, PageFacts, TlsSession
from porthole.services.http.markup import MAX_TITLE, charset_of, decode_document, find_title, has_password_input, ui_markers_in
from porthole.services.http.probe import legacy_verdict

PROBE = HttpProbe()


def page(**changes: object) -> PageFacts:
    base = PageFacts(
        target="/",
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        server="lighttpd/1.4.59",
        location=None,
        redirects_to_https=False,
        content_type="text/html",
        www_authenticate=(),
        basic_challenge=False,
        hsts=None,
        cookies=(),
        title="Charge Controller",
        password_form=False,
        ui=None,
        ui_markers=(),
        body_bytes=300,
        body_end="complete",
    )
    return dataclasses.replace(base, **changes)


def assess(evidence: HttpEvidence, port: int = 80):
    observation = PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="http")
    return PROBE.assess(to_jsonable(evidence), observation)


# --- assess ---------------------------------------------------------------------------------


def test_redirect_to_https_on_plain_port_is_clean() -> None:
    evidence = HttpEvidence(scheme="http", port=80, root=page(status=301, reason="Moved Permanently", location="https://198.18.0.10/", redirects_to_https=True, title=None))
    assert assess(evidence) == []


def test_redirect_to_plain_http_is_still_no_redirect_to_https() -> None:
    evidence = HttpEvidence(scheme="http", port=81, root=page(status=302, location="http://198.18.0.10/login", title=None))
    (finding,) = assess(evidence, port=81)
    assert finding.id == "http-no-redirect" and finding.severity is Severity.MEDIUM
    assert finding.evidence == ("GET / on 81/tcp: HTTP/1.1 302 OK", "Location: http://198.18.0.10/login")
    assert finding.setting == "HTTPS for web interface: On"


def test_password_form_on_plain_http_is_a_high_plain_login_with_its_evidence() -> None:
    evidence = HttpEvidence(scheme="http", port=80, root=page(password_form=True, title="Login"))
    findings = {finding.id: finding for finding in assess(evidence)}
    assert set(findings) == {"http-no-redirect", "http-plain-login"}
    login = findings["http-plain-login"]
    assert login.severity is Severity.HIGH
    assert login.evidence == ("GET / on 80/tcp: page with <input type=\"password\"> (title 'Login')",)


def test_same_login_over_https_is_not_a_plain_login() -> None:
    evidence = HttpEvidence(scheme="https", port=443, tls=TlsSession(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384"), root=page(password_form=True, basic_challenge=True, hsts="max-age=31536000"))
    assert assess(evidence, port=443) == []


def test_legacy_ui_reachable_under_legacy_path_is_a_finding_on_any_scheme() -> None:
    legacy = LegacyCheck(verdict="reachable", page=page(target="/legacy/", ui="legacy", ui_markers=("legacy-path",)))
    evidence = HttpEvidence(scheme="https", port=443, root=page(hsts="max-age=1"), legacy=legacy)
    (finding,) = assess(evidence, port=443)
    assert finding.id == "http-legacy-ui"
    assert finding.setting == "Web Interface: 2.0 only"
    assert finding.evidence == ("GET /legacy/ on 443/tcp: HTTP/1.1 200 OK", "markup: legacy-path")


def test_https_without_hsts_is_info() -> None:
    (finding,) = assess(HttpEvidence(scheme="https", port=444, root=page()), port=444)
    assert (finding.id, finding.severity) == ("https-no-hsts", Severity.INFO)


def test_silent_port_gives_no_finding_and_a_clear_summary() -> None:
    evidence = to_jsonable(HttpEvidence(scheme="http", port=82, silence="closed"))
    assert assess(HttpEvidence(scheme="http", port=82, silence="closed"), port=82) == []
    assert PROBE.summarise(evidence) == "HTTP: closed without a byte (a forwarder without its peer?)"


def test_summary_reads_like_an_nmap_version_column() -> None:
    evidence = HttpEvidence(scheme="https", port=443, tls=TlsSession(version="TLSv1.2", cipher="AES128-SHA"), root=page(status=200, title="Charge Controller", server="nginx"))
    assert PROBE.summarise(to_jsonable(evidence)) == "HTTPS 200 'Charge Controller' (nginx) TLSv1.2"


@pytest.mark.parametrize(
    ("legacy_page", "verdict"),
    [
        (None, "no-response"),
        (page(target="/legacy/", status=404, title=None, body_bytes=9), "absent"),
        (page(target="/legacy/", status=403, title=None), "forbidden"),
        (page(target="/legacy/"), "inconclusive"),  # identical to / : a catch-all
        (page(target="/legacy/", title="Configuration"), "reachable"),
        (page(target="/legacy/", status=401, title=None, body_bytes=12), "reachable"),
        (page(target="/legacy/", status=302, location="/legacy/login.html", title=None), "reachable"),
        (page(target="/legacy/", status=301, location="https://x/", title=None), "redirect"),
        (page(target="/legacy/", status=500, title=None), "inconclusive"),
    ],
)
def test_legacy_verdict_table(legacy_page: PageFacts | None, verdict: str) -> None:
    assert legacy_verdict(legacy_page, page()) == verdict


# --- markup ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "title"),
    [
        ("<html><head><title>Charge Controller</title></head>", "Charge Controller"),
        ("<TITLE lang=en>\n  Charge\n\tController  </TITLE >", "Charge Controller"),
        ("<title>Caf&eacute; &amp; &#x263A; &#99999999999;</title>", "Café & ☺ \ufffd"),
        ("<title>a\x1b[31mred\x07</title>", "a [31mred"),
        ("<title></title>", ""),
        ("<title>never closed", None),
        ("<titles>not a title</titles>", None),
        ("no markup at all", None),
    ],
)
def test_title_is_decoded_cleaned_and_bounded(html: str, title: str | None) -> None:
    assert find_title(html) == title


def test_huge_title_is_cut_to_the_cap() -> None:
    assert find_title("<title>" + "A" * 100_000 + "</title>") == "A" * MAX_TITLE


def test_hostile_repetition_is_scanned_in_linear_time() -> None:
    # Given 64 KiB of unterminated tag starts (quadratic for a naive lazy regex)
    text = "<title<input" * 6000
    # Then the scans finish and find nothing (no timing assertion: a quadratic scan would hit the test timeout)
    assert find_title(text) is None
    assert has_password_input(text) is False
    assert ui_markers_in(text) == (None, ())


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<input type="password" name="p">', True),
        ("<INPUT name=p TYPE=Password>", True),
        ("<input type='text' value='password'>", False),
        ("<p>type=password</p>", False),
    ],
)
def test_password_input_is_found_only_in_input_tags(html: str, expected: bool) -> None:
    assert has_password_input(html) is expected


def test_ui_markers_legacy_wins_over_dashboard() -> None:
    assert ui_markers_in('<title>Dashboard</title><a href="/legacy/system">old</a>') == ("legacy", ("legacy-path", "dashboard-title"))
    assert ui_markers_in('<main data-ui="2.0">') == ("dashboard", ("dashboard-2.0",))


@pytest.mark.parametrize(
    ("content_type", "charset"),
    [("text/html; charset=ISO-8859-1", "iso8859-1"), ("text/html;charset=\"utf-8\"", "utf-8"), ("text/html; charset=hex", None), ("text/html; charset=nonsense", None), (None, None)],
)
def test_charset_is_taken_only_when_it_names_a_text_encoding(content_type: str | None, charset: str | None) -> None:
    assert charset_of(content_type) == charset


def test_undecodable_bytes_become_replacement_characters() -> None:
    assert decode_document(b"<title>\xff\xfe</title>", charset=None) == "<title>\ufffd\ufffd</title>"
