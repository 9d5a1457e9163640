"""The one exception every codec raises on bad input."""

from __future__ import annotations


class CodecError(ValueError):
    """Bytes that do not form a valid message; ``offset`` says where parsing stopped."""

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"{message} (at byte {offset})")
        self.offset = offset
