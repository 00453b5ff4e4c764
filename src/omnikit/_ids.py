"""Opaque, time-ordered identifiers in the UUIDv7 layout (RFC 9562).

48 bits of Unix milliseconds, the version nibble, 12 bits that count up within one
millisecond (so ids made in one process sort in the order they were made), the variant
bits and 62 random bits. Callers must treat ids as opaque strings.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """Return a new UUIDv7 string, greater than every id this process made before."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _counter = ms, int.from_bytes(os.urandom(1)) & 0x7F
        else:
            # Same (or an earlier: the wall clock stepped back) millisecond: count up.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms, _counter = _last_ms + 1, 0
            ms = _last_ms
        value = (ms & 0xFFFF_FFFF_FFFF) << 80
        value |= 0x7 << 76
        value |= _counter << 64
        value |= 0b10 << 62
        value |= int.from_bytes(os.urandom(8)) & 0x3FFF_FFFF_FFFF_FFFF
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
