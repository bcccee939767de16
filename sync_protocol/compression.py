"""Payload compression, fixed by the envelope version: zlib (RFC 1950) in version 1,
Zstandard (RFC 8878, one frame) in version 2.

Decompression runs only on authenticated, decrypted bytes, and is still bounded: by the
size the header declares (never one byte past it) and, for Zstandard, by the window a
frame may ask the decoder to allocate.
"""

from __future__ import annotations

import sys
import zlib
from typing import Final

from sync_protocol.errors import EnvelopeError, LimitExceeded

if sys.version_info >= (3, 14):
    from compression import zstd
else:  # the same module, backported
    from backports import zstd

# ``zstd`` is re-exported so that tests and benchmarks find the module on every Python.
__all__ = ["MAX_WINDOW_LOG", "compress", "compressed_bound", "decompress", "zstd"]

_ZLIB_LEVEL: Final = 6
# Level 1: on record batches as small as level 3's output and a sixth of zlib-6's time.
_ZSTD_LEVEL: Final = 1
# 8 MiB: the largest window Zstandard's levels 1-19 use with default parameters. A frame
# that needs more is refused before the decoder allocates it.
MAX_WINDOW_LOG: Final = 23
_ZSTD_OPTIONS: Final[dict[int, int]] = {zstd.DecompressionParameter.window_log_max: MAX_WINDOW_LOG}


def compress(payload: bytes, version: int) -> bytes:
    """``payload`` compressed as envelope ``version`` prescribes."""
    if version == 1:
        return zlib.compress(payload, _ZLIB_LEVEL)
    return zstd.compress(payload, _ZSTD_LEVEL)


def compressed_bound(payload_bytes: int) -> int:
    """The most bytes either version's compressor can turn ``payload_bytes`` into
    (incompressible input): Zstandard's bound, which is above zlib's."""
    return payload_bytes + payload_bytes // 256 + 64


def decompress(data: bytes, expected_bytes: int, version: int) -> bytes:
    """Decompress ``data`` to exactly ``expected_bytes`` bytes, or raise: more is
    :class:`LimitExceeded` (stopped one byte past), anything else wrong is
    :class:`EnvelopeError`."""
    if version == 1:
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(data, expected_bytes + 1)
        except zlib.error:
            raise EnvelopeError("payload is not valid zlib data") from None
        complete = inflater.eof and not inflater.unused_data and not inflater.unconsumed_tail
    else:
        decoder = zstd.ZstdDecompressor(options=_ZSTD_OPTIONS)
        try:
            out = decoder.decompress(data, expected_bytes + 1)
        except zstd.ZstdError:
            # Corrupt data, a dictionary we do not have, or a window above the limit.
            raise EnvelopeError("payload is not a valid Zstandard frame") from None
        complete = decoder.eof and not decoder.unused_data
    if len(out) > expected_bytes:
        raise LimitExceeded("payload inflates beyond the size its header declares")
    if not complete:
        raise EnvelopeError("payload is truncated or has trailing data")
    if len(out) != expected_bytes:
        raise EnvelopeError("payload size differs from the size its header declares")
    return out
