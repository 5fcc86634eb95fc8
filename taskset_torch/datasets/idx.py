"""Reading and writing IDX files (the MNIST format), plain or gzipped."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx", "find_idx_splits"]

# IDX type byte -> numpy dtype (big-endian for multi-byte types, per the format).
_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array in an IDX file (gzip detected from the content, not the name)."""
    path = Path(path)
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r})")
    dtype, ndim = _DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} ({expected} bytes) but the file holds "
            f"{len(data) - header} bytes of data"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool = False) -> None:
    """Write ``array`` as an IDX file (gzipped when ``compress``)."""
    array = np.asarray(array)
    codes = {v.newbyteorder("=") if v.itemsize > 1 else v: k for k, v in _DTYPES.items()}
    dt = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if dt not in codes:
        raise ValueError(
            f"IDX cannot store dtype {array.dtype}; valid: uint8 int8 int16 int32 float32 float64"
        )
    code = codes[dt]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body = array.astype(_DTYPES[code]).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + body)


# Names of the standard MNIST-layout files: <prefix>-{images-idx3,labels-idx1}-ubyte[.gz].
_PREFIXES = {"train": ("train",), "test": ("t10k", "test")}


def find_idx_splits(directory: str | os.PathLike[str]) -> dict[str, tuple[Path, Path]]:
    """``{split: (images, labels)}`` for the MNIST-layout IDX files found in ``directory``."""
    d = Path(directory)
    out: dict[str, tuple[Path, Path]] = {}
    for split, prefixes in _PREFIXES.items():
        for prefix in prefixes:
            found = []
            for kind in ("images-idx3", "labels-idx1"):
                cands = [d / f"{prefix}-{kind}-ubyte{ext}" for ext in ("", ".gz")]
                cands += [
                    d / f"{prefix}-{kind.replace('-', '.')}-ubyte{ext}" for ext in ("", ".gz")
                ]
                found.append(next((c for c in cands if c.is_file()), None))
            if all(found):
                out[split] = (found[0], found[1])  # type: ignore[assignment]
                break
    return out
