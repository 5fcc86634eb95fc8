"""TFDS's subword encoding (``SubwordTextEncoder``, the ``*_subwords8k`` encoder TaskSet read).

Reimplemented from TFDS's documented behaviour (TFDS no longer builds it, and it needs
TensorFlow), so that a vocabulary built here from the same text is TFDS's vocabulary:

* Text is split into runs of word characters and runs of non-word characters (``\\W+``). A token
  followed by a single space gets ``_`` appended and the space is dropped; a literal ``_`` is
  escaped as ``\\&undsc``.
* A token is segmented greedily, longest vocabulary subword first (at most ``max_subword_length``
  characters); a character no subword covers falls back to its UTF-8 bytes.
* Ids: 0 = padding, 1..n = subwords (the vocabulary's order: descending count), then the 256 byte
  ids ``n + 1 + byte``. Clipping ids at ``vocab_size - 1 < n`` thus keeps the frequent subwords.
* The vocabulary is built by counting, for each token, every substring (up to
  ``max_subword_length``) starting at a boundary of its current segmentation, keeping those seen
  at least ``min_token_count`` times (longest first, discounting a kept subword's prefixes), four
  times over, with a binary search on ``min_token_count`` for a size within 1% of the target.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from taskset_torch.base import fork_pool, usable_cpus

__all__ = ["NUM_BYTES", "TFDSSubwordEncoder", "build_subword_vocab", "count_tokens"]

NUM_BYTES = 256
_ESC = "\\&undsc"  # how TFDS writes a literal underscore inside a token
_SPLIT = re.compile(r"(\W+)")
_NUM_ITERATIONS = 4


def _is_mixed(s: str) -> bool:
    """Both word and non-word characters (TFDS reserves such subwords as whole tokens)."""
    return len([p for p in _SPLIT.split(s) if p]) > 1


def _reserved_regex(reserved: Sequence[str]) -> re.Pattern[str] | None:
    if not reserved:
        return None
    return re.compile("(" + "|".join(re.escape(t) for t in reserved) + ")")


def _tokenize(text: str, reserved: set[str], reserved_re: re.Pattern[str] | None) -> list[str]:
    parts = reserved_re.split(text) if reserved_re is not None else [text]
    toks: list[str] = []
    for p in parts:
        if p in reserved:
            toks.append(p)
        else:
            toks.extend(_SPLIT.split(p))
    return [t for t in toks if t]


def _prepare(tokens: list[str]) -> list[str]:
    """Escape ``_``; a token followed by a single space gets ``_`` and absorbs the space."""
    out: list[str] = []
    n = len(tokens)
    i = 0
    while i < n:
        t = tokens[i]
        nxt = tokens[i + 1] if i + 1 < n else None
        if t == _ESC:
            # TFDS splits a literal escape sequence in two and (quirk) never absorbs the space
            # after it.
            out.append(_ESC[:2])
            out.append(_ESC[2:] + ("_" if nxt == " " else ""))
            i += 1
            continue
        t = t.replace("_", _ESC)
        if nxt == " ":
            out.append(t + "_")
            i += 2
        else:
            out.append(t)
            i += 1
    return out


def count_tokens(texts: Iterable[str], max_corpus_chars: int | None = None) -> dict[str, int]:
    """Prepared-token counts of ``texts`` (at most ``max_corpus_chars`` characters read)."""
    reserved = {_ESC}
    reserved_re = _reserved_regex([_ESC])
    counts: dict[str, int] = defaultdict(int)
    num_chars = 0
    for s in texts:
        if max_corpus_chars and num_chars + len(s) >= max_corpus_chars:
            s = s[: max_corpus_chars - num_chars]
        for t in _prepare(_tokenize(s, reserved, reserved_re)):
            counts[t] += 1
        if max_corpus_chars:
            num_chars += len(s)
            if num_chars > max_corpus_chars:
                break
    return dict(counts)


class _Matcher:
    """Greedy longest-match segmentation over a vocabulary (plus the underscore escape).

    Scanning forward while the text read so far is a prefix of some vocabulary entry finds the
    longest entry at each position with a few set lookups, instead of trying every length."""

    def __init__(self, vocab: Sequence[str]):
        self.vocab = set(vocab) | {_ESC}
        self.prefixes = {w[:i] for w in self.vocab for i in range(1, len(w) + 1)}

    def segment(self, token: str) -> list[str]:
        """``token`` split greedily; characters no entry covers come out one by one."""
        out: list[str] = []
        start, n = 0, len(token)
        vocab, prefixes = self.vocab, self.prefixes
        while start < n:
            best = end = start + 1
            while end <= n:
                piece = token[start:end]
                if piece not in prefixes:
                    break
                if piece in vocab:
                    best = end
                end += 1
            out.append(token[start:best])
            start = best
        return out


def _windows(
    token_counts: dict[str, int], vocab: Sequence[str], max_subword_length: int
) -> dict[str, int]:
    """For every token and every boundary of its segmentation by ``vocab``: the next
    ``max_subword_length`` characters (a *window*), weighted by the token's count and summed
    over equal windows. TFDS counts every prefix of every window as a candidate subword."""
    matcher = _Matcher(vocab)
    windows: dict[str, int] = defaultdict(int)
    for token, c in token_counts.items():
        start = 0
        for piece in matcher.segment(token):
            windows[token[start : start + max_subword_length]] += c
            start += len(piece)
    return windows


class _PrefixCounts:
    """Counts of all prefixes of a weighted set of windows, computed at once: in sorted order
    the windows sharing a length-L prefix are one contiguous run, found from the longest common
    prefix of neighbours; a run's count is the sum of its weights."""

    def __init__(self, windows: dict[str, int], max_len: int):
        self.strings = sorted(windows)
        n = len(self.strings)
        self.max_len = max_len
        self.weights = np.array(list(map(windows.__getitem__, self.strings)), dtype=np.int64)
        self.lengths = np.array(list(map(len, self.strings)), dtype=np.int64)
        # Fixed-width UCS-4 (numpy pads with "\0"): one row of code points per window.
        codes = np.array(self.strings, dtype=f"<U{max_len}").view(np.uint32).reshape(n, max_len)
        differ = codes[1:] != codes[:-1]
        first = np.where(differ.any(1), differ.argmax(1), max_len)
        self.lcp = np.minimum(first, np.minimum(self.lengths[1:], self.lengths[:-1]))

    def at_least(self, min_count: int) -> dict[str, int]:
        """Every prefix counted at least ``min_count`` (>= 1) times, with its count."""
        out: dict[str, int] = {}
        head = np.ones(1, dtype=bool)
        for length in range(1, self.max_len + 1):
            w = np.where(self.lengths >= length, self.weights, 0)
            starts = np.flatnonzero(np.concatenate([head, self.lcp < length]))
            sums = np.add.reduceat(w, starts)
            keep = np.flatnonzero(sums >= min_count)
            if keep.size == 0:
                break  # longer prefixes never count more than their own prefixes
            strings = self.strings
            for i, c in zip(starts[keep].tolist(), sums[keep].tolist()):
                out[strings[i][:length]] = c
        return out


def _one_size(
    token_counts: dict[str, int],
    min_count: int,
    max_subword_length: int,
    first: _PrefixCounts,
) -> list[str]:
    """TFDS's ``_build_from_token_counts`` for one ``min_token_count`` (no reserved tokens)."""
    subwords: list[str] = []
    for it in range(_NUM_ITERATIONS):
        if it == 0:
            prefixes = first  # the first pass (empty vocabulary) never depends on min_count
        else:
            windows = _windows(token_counts, subwords, max_subword_length)
            prefixes = _PrefixCounts(windows, max_subword_length)
        counts = prefixes.at_least(max(min_count, 1))
        by_len: list[list[str]] = [[] for _ in range(max_subword_length + 1)]
        for s in counts:
            if len(s.encode("utf-8")) > 1:  # single bytes are always in the vocabulary
                by_len[len(s)].append(s)
        cands: list[tuple[int, str]] = []
        for length in range(max_subword_length, 0, -1):
            for s in by_len[length]:
                c = counts[s]
                if c < min_count:
                    continue
                cands.append((c, s))
                for end in range(1, length):  # a kept subword's prefixes lose its count
                    counts[s[:end]] -= c
        cands.sort(reverse=True)
        subwords = [s for _, s in cands]
    return subwords


def build_subword_vocab(
    texts: Iterable[str],
    target_vocab_size: int = 2**13,
    *,
    max_subword_length: int = 20,
    max_corpus_chars: int | None = None,
) -> list[str]:
    """The subword list TFDS's ``SubwordTextEncoder.build_from_corpus`` builds from ``texts``.

    ``target_vocab_size`` counts padding and the 256 byte ids (TFDS's imdb ``subwords8k``: 2**13,
    which gave 8185). The result is deterministic: it depends on the text only."""
    if target_vocab_size < NUM_BYTES + 2:
        raise ValueError(f"target_vocab_size must be >= {NUM_BYTES + 2}, got {target_vocab_size}")
    if max_subword_length < 1:
        raise ValueError(f"max_subword_length must be >= 1, got {max_subword_length}")
    token_counts = count_tokens(texts, max_corpus_chars)
    if not token_counts:
        raise ValueError("cannot build a subword vocabulary from empty text")
    first = _PrefixCounts(_windows(token_counts, [], max_subword_length), max_subword_length)
    built: dict[int, list[str]] = {}  # min_count -> subwords (each size is built once)

    def size(subwords: list[str]) -> int:
        return 1 + len(subwords) + NUM_BYTES

    def one_size(min_count: int) -> list[str]:
        if min_count not in built:
            built[min_count] = _one_size(token_counts, min_count, max_subword_length, first)
        return built[min_count]

    def search(lo: int, hi: int) -> list[str]:
        mid = (lo + hi) // 2
        prefetch(lo, hi)  # the sizes this search may ask next, built in parallel where it can
        sw = one_size(mid)
        got = size(sw)
        if abs(got - target_vocab_size) * 100 < target_vocab_size or lo >= hi or mid <= 1:
            return sw
        nxt = search(mid + 1, hi) if got > target_vocab_size else search(lo, mid - 1)
        # The closer of the two; a tie goes to the deeper search, as in TFDS.
        return sw if abs(got - target_vocab_size) < abs(size(nxt) - target_vocab_size) else nxt

    workers = min(usable_cpus(), 15)
    # Set before the pool forks: its workers inherit it instead of unpickling it per task.
    _WORKER.update(counts=token_counts, max_len=max_subword_length, first=first)
    try:
        with fork_pool(workers if workers >= 3 else 0) as pool:
            prefetch = _Prefetcher(pool, workers, built)
            return search(max(min(token_counts.values()), 1), max(token_counts.values()))
    finally:
        _WORKER.clear()


#: Worker state of :class:`_Prefetcher` (inherited through fork, so nothing big is pickled).
_WORKER: dict[str, Any] = {}


def _worker_one_size(min_count: int) -> tuple[int, list[str]]:
    w = _WORKER
    return min_count, _one_size(w["counts"], min_count, w["max_len"], w["first"])


class _Prefetcher:
    """Builds the vocabularies a binary search may ask for next, in parallel.

    The search asks for one ``min_count`` per level and goes left or right by its result. With P
    processes the next ``L`` levels of both branches (``2**L - 1 <= P`` sizes) are built at once,
    so the search waits about ``depth / L`` builds instead of ``depth``; it then reads the same
    results it would have built itself, so the vocabulary is identical. A no-op without a pool
    (:func:`~taskset_torch.base.fork_pool` gives none on 2 cores or without ``fork``).
    """

    def __init__(self, pool: Any, workers: int, built: dict[int, list[str]]):
        self.pool = pool
        self.built = built
        self.levels = (workers + 1).bit_length() - 1  # 2**levels - 1 <= workers

    def __call__(self, lo: int, hi: int) -> None:
        if self.pool is None or (lo + hi) // 2 in self.built:  # built in an earlier round
            return
        wanted: list[int] = []
        frontier = [(lo, hi)]
        for _ in range(self.levels):
            nxt = []
            for a, b in frontier:
                if a > b:
                    continue
                mid = (a + b) // 2
                if mid not in self.built and mid not in wanted:
                    wanted.append(mid)
                nxt += [(a, mid - 1), (mid + 1, b)]
            frontier = nxt
        if len(wanted) < 2:  # one build: no gain from a worker
            return
        try:
            for min_count, subwords in self.pool.map(_worker_one_size, wanted):
                self.built[min_count] = subwords
        except BrokenProcessPool:
            self.pool = None  # the search goes on serially


class TFDSSubwordEncoder:
    """Encode and decode with a TFDS subword list (ids: 0 pad, subwords, then 256 bytes)."""

    def __init__(self, subwords: Sequence[str]):
        subwords = [s for s in subwords if s]
        if len(set(subwords)) != len(subwords):
            raise ValueError("subwords must be distinct")
        self.subwords = list(subwords)
        self._ids = {s: i for i, s in enumerate(self.subwords)}
        self._matcher = _Matcher(self.subwords)
        reserved = [_ESC] + [s for s in self.subwords if _is_mixed(s)]
        self._reserved = set(reserved)
        self._reserved_re = _reserved_regex(reserved)
        self._memo: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        """Number of ids: padding, the subwords and 256 byte fallbacks."""
        return 1 + len(self.subwords) + NUM_BYTES

    @property
    def num_subwords(self) -> int:
        """Number of learned subwords (ids 1..num_subwords)."""
        return len(self.subwords)

    def _token_ids(self, token: str) -> list[int]:
        ids = self._memo.get(token)
        if ids is not None:
            return ids
        n = len(self.subwords)
        ids = []
        for piece in self._matcher.segment(token):
            if piece == _ESC:
                ids.append(n + ord("_") + 1)
            elif piece in self._ids:
                ids.append(self._ids[piece] + 1)
            elif piece == "_":  # an unmatched end-of-word marker is the space it stands for
                ids.append(n + ord(" ") + 1)
            else:
                ids.extend(n + 1 + b for b in piece.encode("utf-8"))
        if len(self._memo) < 2_000_000:  # bound memory on huge corpora
            self._memo[token] = ids
        return ids

    def encode(self, text: str) -> np.ndarray:
        """``text`` as int32 ids, split into subwords as TFDS's encoder splits it."""
        toks = _prepare(_tokenize(text, self._reserved, self._reserved_re))
        ids = [i for t in toks for i in self._token_ids(t)]
        return np.asarray(ids, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids`` (padding dropped, byte fallbacks joined back into UTF-8)."""
        n = len(self.subwords)
        out: list[str] = []
        pending = bytearray()
        for i in ids:
            i = int(i)
            if i <= 0:
                continue
            if i > n:
                pending.append(i - n - 1)
                continue
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending = bytearray()
            s = self.subwords[i - 1]
            out.append(s[:-1] + " " if s.endswith("_") else s)
        if pending:
            out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        vocab_size: int = 2**13,
        *,
        max_subword_length: int = 20,
        max_corpus_chars: int | None = None,
    ) -> TFDSSubwordEncoder:
        """Build TFDS's vocabulary for a target of ``vocab_size`` ids (within 1%)."""
        return cls(
            build_subword_vocab(
                texts,
                vocab_size,
                max_subword_length=max_subword_length,
                max_corpus_chars=max_corpus_chars,
            )
        )
