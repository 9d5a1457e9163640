"""porthole.codecs.ssdp on a response recorded from the lab's SSDP responder (lab/services/ssdp.py).

``tests/fixtures/wire/ssdp/lab-gateway-response.bin`` is the reply to an M-SEARCH for
the SEMP Gateway URN, as the SSDP probe receives it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from porthole.codecs import CodecError
from porthole.codecs.ssdp import SEMP_GATEWAY_URN, parse_response

RECORDED = (Path(__file__).parents[2] / "fixtures" / "wire" / "ssdp" / "lab-gateway-response.bin").read_bytes()
UDN = "uuid:93ff0809-4174-517e-9dce-0e7632dbb196"


def test_the_recorded_reply_gives_every_header_the_probe_reads() -> None:
    response = parse_response(RECORDED)
    assert response.status == 200
    assert response.header("location") == f"http://127.0.0.1:8888/{UDN}/description.xml"
    assert response.header("server") == "Linux/5.10 UPnP/1.0 ChargeController-SEMP/1.0"
    assert response.header("st") == SEMP_GATEWAY_URN
    assert response.header("usn") == f"{UDN}::{SEMP_GATEWAY_URN}"
    assert response.header("cache-control") == "max-age=1800"


def test_every_truncation_parses_to_a_prefix_of_the_headers_or_raises_codec_error() -> None:
    # A datagram cut short (never on the wire, but a hostile device may send one)
    whole = parse_response(RECORDED).headers
    for end in range(len(RECORDED)):
        try:
            partial = parse_response(RECORDED[:end])
        except CodecError:
            continue
        # whatever parses is the status plus leading headers, the last possibly cut
        assert partial.status == 200
        assert [name for name, _ in partial.headers] == [name for name, _ in whole[: len(partial.headers)]]


def test_a_body_after_the_header_block_is_ignored() -> None:
    assert parse_response(RECORDED + b"trailing body bytes") == parse_response(RECORDED)


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 40, b"HTTP/1.1 OK\r\n\r\n", b"M-SEARCH * HTTP/1.1\r\n\r\n"])
def test_non_responses_raise_codec_error(garbage: bytes) -> None:
    with pytest.raises(CodecError):
        parse_response(garbage)
