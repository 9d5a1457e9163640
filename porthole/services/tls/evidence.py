"""What the TLS probe observed on one port: facts only, no judgements.

Serialised with ``porthole.jsonable.to_jsonable`` into ``evidence["tls"]``. Suite
and group codes travel with their IANA names so a report reads without a table.
Certificate facts include the raw validity dates and the time of observation
(``observed_at``): whether a certificate "is expired" is decided by ``assess`` against
that clock, so a stored report re-grades the same way tomorrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "FallbackScsv",
    "ClientCertificate",
    "SuiteEntry",
    "GroupEntry",
    "VersionResult",
    "CertificateFacts",
    "TlsEvidence",
]


class ClientCertificate(StrEnum):
    #: the handshake fails without a client certificate
    REQUIRED = "required"
    #: a CertificateRequest was sent, but the handshake completes without a certificate
    OPTIONAL = "optional"
    #: no CertificateRequest in the TLS <= 1.2 flight, or a TLS 1.3 handshake completed and
    #: the server kept talking without one
    NOT_REQUESTED = "not-requested"
    #: could not be established (e.g. the local OpenSSL cannot handshake with the server)
    UNKNOWN = "unknown"


class FallbackScsv(StrEnum):
    """The answer to a hello for a lower accepted version carrying TLS_FALLBACK_SCSV (RFC 7507)."""

    #: alert inappropriate_fallback: a forced downgrade is refused
    HONOURED = "honoured"
    #: the server negotiated the lower version anyway
    IGNORED = "ignored"
    #: another answer (close, other alert): no verdict
    UNCLEAR = "unclear"


@dataclass(frozen=True, slots=True, kw_only=True)
class SuiteEntry:
    code: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupEntry:
    code: int
    name: str
    bits: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionResult:
    #: "SSLv3", "TLSv1.0" ... "TLSv1.3"
    version: str
    accepted: bool
    #: accepted suites in the order the server chose them (each offered with the ones
    #: chosen before removed): the server's preference order when it enforces one
    suites: tuple[SuiteEntry, ...] = ()
    #: True: the server picks by its own order; False: by the client's; None: < 2 suites
    server_preference: bool | None = None
    #: how the version (or the last offer) was refused: "alert protocol_version",
    #: "negotiated TLSv1.2", "closed without alert", "no answer", "malformed: ..."
    refusal: str | None = None
    #: False when enumeration stopped early (probe phase budget, server stalled)
    complete: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateFacts:
    #: position in the chain as sent (0 = leaf)
    position: int
    sha256: str
    subject: str
    issuer: str
    serial: str
    not_before: str
    not_after: str
    #: "rsa", "ec", "dsa", "ed25519", "ed448" or "unknown"
    key_type: str
    key_bits: int | None
    #: RSA public exponent (nmap grades e = 1 as F)
    rsa_exponent: int | None
    #: named curve for EC keys
    curve: str | None
    signature_algorithm: str
    #: hash of the signature ("sha256", "sha1", "md5"; "intrinsic" for Ed25519/Ed448)
    signature_hash: str
    #: subject equals issuer and the certificate's own key verifies its signature
    self_signed: bool
    is_ca: bool
    san_dns: tuple[str, ...]
    san_ips: tuple[str, ...]
    subject_key_identifier: str | None
    #: the certificate names the scanned address (SAN IP) or host name (SAN DNS / CN)
    names_target: bool
    #: the issuer of this certificate is the subject of the next one in the chain
    issued_by_next: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsEvidence:
    #: the port answered a ClientHello with TLS records
    tls: bool
    #: when the handshakes ran (UTC, ISO 8601); the clock certificate validity is judged by
    observed_at: str
    #: the name or address the certificate is compared with, and the SNI sent (DNS names only)
    target_name: str
    server_name_indication: str | None
    versions: tuple[VersionResult, ...] = ()
    #: key-exchange groups the server accepts, in the order it chose them
    groups: tuple[GroupEntry, ...] = ()
    #: where ``groups`` came from: "tls1.3-hello-retry", "tls1.2-server-key-exchange" or None
    groups_source: str | None = None
    #: sizes of the ephemeral finite-field DH groups the server used (bits)
    dh_prime_bits: tuple[int, ...] = ()
    #: non-null compression methods the server chose when DEFLATE was offered
    compression: tuple[str, ...] = ()
    #: certificate chain as the server sent it (leaf first)
    certificates: tuple[CertificateFacts, ...] = ()
    #: "tls-plaintext-flight" (TLS <= 1.2) or "stdlib-handshake" (TLS 1.3 only: leaf only)
    certificate_source: str | None = None
    client_certificate: ClientCertificate = ClientCertificate.UNKNOWN
    #: acceptable CA names from the CertificateRequest (RFC 4514 strings)
    client_certificate_authorities: tuple[str, ...] = ()
    #: downgrade protection: TLS_FALLBACK_SCSV, tested when a version below TLS 1.2 is
    #: accepted beside a newer one (None: not tested)
    fallback_scsv: FallbackScsv | None = None
    #: a TLS 1.3 server's TLS 1.2 ServerHello ends its random with "DOWNGRD\x01" (RFC 8446
    #: §4.1.3; None: TLS 1.3 or TLS 1.2 not accepted)
    downgrade_sentinel: bool | None = None
    #: the server refused the long hello, so every offer used short ones (at most 255 bytes)
    short_hellos: bool = False
    #: TCP connections opened (each one ClientHello, or one stdlib handshake)
    handshakes: int = 0
    #: True when every planned offer was made
    complete: bool = True
    #: why ``tls`` is False or what was odd ("server stalled after 3 hellos")
    notes: tuple[str, ...] = ()
