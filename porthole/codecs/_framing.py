"""The "need more data" value that stream framers return instead of raising.

A framer fed a partial frame is not looking at bad input, only at early input, so it
says so with a return value (h11's ``NEED_DATA``) and keeps ``CodecError`` for bytes
that can never become a valid frame (architecture.md §5.5). The value is a one-member
enum so type checkers can narrow ``Frame | NeedData`` with ``is NEED_DATA``.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

__all__ = ["NeedData", "NEED_DATA"]


class NeedData(Enum):
    NEED_DATA = "need-data"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA
