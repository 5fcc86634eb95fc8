"""Text encoders: TaskSet's byte encoding and a small deterministic ~8k subword vocabulary.

Byte encoding is TFDS's ``ByteTextEncoder``: UTF-8 bytes shifted by one, 0 reserved for padding,
257 ids. The subword encoder stands in for TFDS's ``SubwordTextEncoder`` (``subwords8k``), which
recent TFDS no longer ships: ids are 0 = padding, 1..256 = UTF-8 bytes (fallback for anything
the vocabulary lacks), then subword strings. The vocabulary is built from training text by a
deterministic rule (below) and stored as a JSON list, so encoding is reproducible.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "BYTE_VOCAB_SIZE",
    "SUBWORD_VOCAB_SIZE",
    "ByteEncoder",
    "SubwordEncoder",
    "pre_tokenize",
]

BYTE_VOCAB_SIZE = 257
#: Vocabulary size of TFDS's imdb_reviews/subwords8k; TaskSet clips text-classification ids at it.
SUBWORD_VOCAB_SIZE = 8185
_NUM_RESERVED = 1 + 256  # padding + byte fallback

# A word with its leading space, a punctuation run with its leading space, or one whitespace
# character. The pieces concatenate back to the text, so decoding is exact.
_PIECE = re.compile(r" ?\w+| ?[^\w\s]+|\s")


def pre_tokenize(text: str) -> list[str]:
    return _PIECE.findall(text)


class ByteEncoder:
    """UTF-8 bytes + 1 (0 is padding)."""

    vocab_size = BYTE_VOCAB_SIZE

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32) + 1

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(int(i) - 1 for i in ids if int(i) > 0).decode("utf-8", errors="replace")


class SubwordEncoder:
    """Greedy longest-match subword encoding over a fixed vocabulary with byte fallback."""

    def __init__(self, subwords: Sequence[str], max_subword_length: int = 16):
        if len(set(subwords)) != len(subwords) or any(not s for s in subwords):
            raise ValueError("subwords must be distinct non-empty strings")
        self.subwords = list(subwords)
        self.max_subword_length = max(
            max_subword_length, max((len(s) for s in subwords), default=1)
        )
        self._ids = {s: _NUM_RESERVED + i for i, s in enumerate(self.subwords)}
        self._memo: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return _NUM_RESERVED + len(self.subwords)

    def _segment(self, piece: str) -> tuple[int, ...]:
        out: list[int] = []
        i, n, ml = 0, len(piece), self.max_subword_length
        while i < n:
            for j in range(min(n, i + ml), i, -1):
                sid = self._ids.get(piece[i:j])
                if sid is not None:
                    out.append(sid)
                    i = j
                    break
            else:
                out.extend(b + 1 for b in piece[i].encode("utf-8"))
                i += 1
        return tuple(out)

    def encode_piece(self, piece: str) -> tuple[int, ...]:
        ids = self._memo.get(piece)
        if ids is None:
            ids = self._segment(piece)
            if len(self._memo) < 2_000_000:  # bound memory on huge corpora
                self._memo[piece] = ids
        return ids

    def encode(self, text: str) -> np.ndarray:
        ids = [i for p in pre_tokenize(text) for i in self.encode_piece(p)]
        return np.asarray(ids, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        buf = bytearray()
        for i in ids:
            i = int(i)
            if i <= 0:
                continue
            buf += (
                bytes([i - 1]) if i < _NUM_RESERVED else self.subwords[i - _NUM_RESERVED].encode()
            )
        return buf.decode("utf-8", errors="replace")

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        vocab_size: int = SUBWORD_VOCAB_SIZE,
        *,
        max_subword_length: int = 16,
        refinements: int = 2,
    ) -> SubwordEncoder:
        """Build a vocabulary of ``vocab_size`` ids (reserved ids included) from ``texts``.

        Every substring (up to ``max_subword_length`` characters) of every piece is a candidate,
        scored by the tokens it would save over bytes: occurrences x (UTF-8 length - 1). The top
        candidates form the vocabulary; then, ``refinements`` times, the pieces are segmented with
        it, subwords the greedy segmentation never uses are dropped and the next candidates fill
        their places. Ties break on the string, so the result depends only on the text.
        """
        if vocab_size <= _NUM_RESERVED:
            raise ValueError(
                f"vocab_size must exceed {_NUM_RESERVED} reserved ids, got {vocab_size}"
            )
        pieces = Counter(p for t in texts for p in pre_tokenize(t))
        cand: Counter[str] = Counter()
        for p, c in pieces.items():
            n = len(p)
            for i in range(n):
                for j in range(i + 1, min(n, i + max_subword_length) + 1):
                    cand[p[i:j]] += c
        ranked = sorted(
            ((c * (len(s.encode("utf-8")) - 1), s) for s, c in cand.items()),
            key=lambda t: (-t[0], t[1]),
        )
        ranked = [s for score, s in ranked if score > 0]
        slots = vocab_size - _NUM_RESERVED
        chosen = ranked[:slots]
        nxt = len(chosen)
        usage: Counter[str] = Counter()
        for _ in range(refinements):
            enc = cls(chosen, max_subword_length)
            usage = Counter()
            for p, c in pieces.items():
                for sid in enc.encode_piece(p):
                    if sid >= _NUM_RESERVED:
                        usage[enc.subwords[sid - _NUM_RESERVED]] += c
            kept = [s for s in chosen if usage[s] > 0]
            fill = []
            while len(kept) + len(fill) < slots and nxt < len(ranked):
                fill.append(ranked[nxt])
                nxt += 1
            chosen = kept + fill
        # Order ids by how often the final segmentation uses a subword (then the string).
        chosen.sort(key=lambda s: (-usage.get(s, 0), s))
        return cls(chosen, max_subword_length)
