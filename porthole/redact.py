"""Secrets out of what porthole prints, logs and records: URL passwords and credential URLs.

Reports, the sweep store, log lines and webhook payloads outlive the command that made
them. Two kinds of URL carry secrets on porthole's command line:

* a database URL with a password (``postgresql://user:password@db/sweeps``):
  ``redact_url`` keeps everything but the password;
* a webhook URL, whose path or query *is* the credential (Slack, Teams, most alerting
  services): ``mask_credential_url`` keeps only scheme and host.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "redact_url", "mask_credential_url"]

MASK = "***"


def redact_url(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***`` (unchanged if none)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))


def mask_credential_url(url: str) -> str:
    """``https://hooks.example/***``: scheme and host of a URL that is itself a credential.

    Anything that does not parse as a URL with a host is masked whole.
    """
    try:
        parts = urlsplit(redact_url(url))
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return MASK
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment
    return urlunsplit((parts.scheme, parts.netloc, f"/{MASK}" if hidden else parts.path, "", ""))
