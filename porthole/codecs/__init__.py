"""Sans-IO wire codecs: bytes in, values out; builders return bytes.

Contract (architecture.md §5.5, h11's rules):

1. No module here imports asyncio, socket, ssl or time: a test enforces it.
2. Parsers have a size cap on everything a hostile device can inflate and raise only
   ``CodecError`` (with the byte offset) on bad input; "need more data" is a return
   value, never an exception.
3. Randomness (transaction ids) and addresses are arguments, so recorded fixtures
   reproduce byte for byte.
"""

from porthole.codecs._errors import CodecError

__all__ = ["CodecError"]
