"""Text encoders: TaskSet's byte encoding and TFDS's subword encoding (``*_subwords8k``).

Byte encoding is TFDS's ``ByteTextEncoder``: UTF-8 bytes shifted by one, 0 reserved for padding,
257 ids. :class:`SubwordEncoder` is TFDS's ``SubwordTextEncoder`` (see ``subwords.py``): ids are
0 = padding, 1..n = subwords by descending count, then the 256 byte-fallback ids; its vocabulary
is built from training text by TFDS's own deterministic rule and stored as a JSON list.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from taskset_torch.datasets.subwords import TFDSSubwordEncoder

__all__ = [
    "BYTE_VOCAB_SIZE",
    "SUBWORD_VOCAB_SIZE",
    "SUBWORD_TARGET_VOCAB_SIZE",
    "ByteEncoder",
    "SubwordEncoder",
]

BYTE_VOCAB_SIZE = 257
#: Vocabulary size of TFDS's imdb_reviews/subwords8k; TaskSet clips text-classification ids at it.
SUBWORD_VOCAB_SIZE = 8185
#: TFDS's ``subwords8k`` target (the built size lands within 1% of it).
SUBWORD_TARGET_VOCAB_SIZE = 2**13


class ByteEncoder:
    """UTF-8 bytes + 1 (0 is padding)."""

    vocab_size = BYTE_VOCAB_SIZE

    def encode(self, text: str) -> np.ndarray:
        """UTF-8 bytes of ``text`` as ids 1..256 (0 is padding)."""
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32) + 1

    def decode(self, ids: Iterable[int]) -> str:
        """The text of byte ids (padding dropped, invalid UTF-8 replaced)."""
        return bytes(int(i) - 1 for i in ids if int(i) > 0).decode("utf-8", errors="replace")


#: TFDS's subword encoder (ids: 0 pad, subwords by descending count, 256 byte ids last).
SubwordEncoder = TFDSSubwordEncoder
