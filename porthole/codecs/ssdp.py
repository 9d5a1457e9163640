"""SSDP (UPnP discovery over HTTPU, UDA 1.1 §1.3): M-SEARCH builder, response-head parser.

    M-SEARCH * HTTP/1.1\\r\\n          HTTP/1.1 200 OK\\r\\n
    HOST: <target>:1900\\r\\n           CACHE-CONTROL: max-age=1800\\r\\n
    MAN: "ssdp:discover"\\r\\n          LOCATION: http://.../description.xml\\r\\n
    ST: <search target>\\r\\n           SERVER: os/ver UPnP/1.0 product/ver\\r\\n
    \\r\\n                              ST: ... USN: ...\\r\\n\\r\\n

A unicast M-SEARCH needs no MX (UDA 1.1: the device answers within 1 s).
"""

from __future__ import annotations

from dataclasses import dataclass

from porthole.codecs._errors import CodecError

__all__ = ["SEMP_GATEWAY_URN", "SsdpResponse", "build_msearch", "parse_response"]

SEMP_GATEWAY_URN = "urn:schemas-simple-energy-management-protocol:device:Gateway:1"
MAX_RESPONSE = 8192
MAX_HEADERS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class SsdpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)


def build_msearch(host: str, *, search_target: str = "ssdp:all", user_agent: str = "porthole") -> bytes:
    if any(ch in host + search_target + user_agent for ch in "\r\n"):
        raise CodecError("SSDP header values must not contain CR or LF")
    lines = [
        "M-SEARCH * HTTP/1.1",
        f"HOST: {host}:1900",
        'MAN: "ssdp:discover"',
        f"ST: {search_target}",
        f"USER-AGENT: {user_agent} UPnP/1.1 {user_agent}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def parse_response(data: bytes) -> SsdpResponse:
    """Parse one HTTPU response datagram; header names are lower-cased."""
    if len(data) > MAX_RESPONSE:
        raise CodecError(f"SSDP response larger than {MAX_RESPONSE} bytes", offset=MAX_RESPONSE)
    head, separator, _ = data.partition(b"\r\n\r\n")
    if not separator:
        head = data.rstrip(b"\r\n")
    lines = head.split(b"\r\n")
    status_line = lines[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    # isascii: latin-1 decoding yields "²", "³", "¹", which isdigit() accepts but int() rejects.
    # Exactly three digits (RFC 9112 §4 status-code = 3DIGIT): "HTTP/1.1 2" is a cut datagram.
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (len(parts[1]) == 3 and parts[1].isascii() and parts[1].isdigit()):
        raise CodecError(f"not an HTTPU status line: {status_line[:60]!r}", offset=0)
    if len(lines) - 1 > MAX_HEADERS:
        raise CodecError(f"more than {MAX_HEADERS} SSDP headers")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name.strip():
            raise CodecError(f"malformed SSDP header line {line[:60]!r}")
        headers.append((name.strip().lower(), value.strip()))
    return SsdpResponse(status=int(parts[1]), headers=tuple(headers))
