"""Image datasets: TaskSet's image datasets from the best source available, with augmentation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from taskset_torch.base import DataSource
from taskset_torch.datasets import archives, cache
from taskset_torch.datasets.augment import augment_images, check_augmentation
from taskset_torch.datasets.base import (
    ArrayDataset,
    cached,
    check_substitute,
    get_data_dir,
)
from taskset_torch.datasets.idx import find_idx_splits, read_idx
from taskset_torch.datasets.specs import IMAGE_NUM_PER_VALID, IMAGE_SPECS, ImageSpec, image_spec
from taskset_torch.datasets.splits import carve_splits
from taskset_torch.datasets.tfds_source import iter_tfds, tfds_has_data, tfds_split_names

__all__ = [
    "IMAGE_SHAPES",
    "ImageDataset",
    "load_image_dataset",
    "resize_bicubic",
    "read_local_images",
    "read_tfds_images",
    "image_source_status",
]

#: name -> (C, H, W, num_classes), kept for callers of the interim API.
IMAGE_SHAPES: dict[str, tuple[int, int, int, int]] = {
    n: (s.channels, s.height, s.width, s.num_classes) for n, s in IMAGE_SPECS.items()
}

Arrays = dict[str, dict[str, np.ndarray]]  # source split -> {"image": uint8 NCHW, "label": int64}


class ImageDataset(ArrayDataset):
    """Images stored uint8 ``[N, C, H, W]``; batches are float32 in [0, 1] ([-1, 1] if centred),
    augmented per batch when an augmentation config is given."""

    def __init__(
        self,
        name: str,
        splits: Mapping[str, Mapping[str, torch.Tensor]],
        source: DataSource,
        info: Mapping[str, object] | None = None,
        *,
        augmentation: Mapping[str, Any] | None = None,
        center: bool = False,
    ):
        super().__init__(name, splits, source, info)
        stored = tuple(self.splits["train"]["image"].shape[1:])
        self.augmentation = (
            None if augmentation is None else check_augmentation(augmentation, stored)
        )  # type: ignore[arg-type]
        self.center = bool(center)

    @property
    def stored_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the stored images (before any crop)."""
        return tuple(self.splits["train"]["image"].shape[1:])  # type: ignore[return-value]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the images in a batch (after any random crop)."""
        c, h, w = self.stored_shape
        crop = int(self.augmentation["crop_amount"]) if self.augmentation else 0
        return (c, h - crop, w - crop)

    @property
    def num_classes(self) -> int:
        """Number of label classes."""
        return int(self.info["num_classes"])  # type: ignore[call-overload]

    def batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """``{"image": float32 [B, C, H, W] in [0, 1] ([-1, 1] when centered), "label": int64 [B]}``.

        ``batch_size`` examples of ``split`` drawn uniformly with replacement from ``generator``,
        then augmented (from the same generator) when the dataset has an augmentation config.
        """
        b = self.sample(split, batch_size, generator)
        img = b["image"].to(torch.float32).div_(255.0)
        if self.augmentation is not None:
            # TaskSet mapped its augmentation over all four splits.
            img = augment_images(img, self.augmentation, generator)
        if self.center:
            img = img.mul_(2.0).sub_(1.0)
        return {"image": img, "label": b["label"]}


def resize_bicubic(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 ``[N, C, h, w]`` bicubically (a = -0.75, half-pixel centres, no antialias:
    the kernel of OpenCV's ``INTER_CUBIC`` that TaskSet's builders used), rounding to uint8."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32)
    y = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False)
    return y.round_().clamp_(0, 255).to(torch.uint8).numpy()


def _to_nchw(images: np.ndarray, spec: ImageSpec, what: str) -> np.ndarray:
    """Accept ``[N, H, W]``, ``[N, H, W, C]`` or ``[N, C, H, W]`` uint8 images."""
    if images.dtype != np.uint8:
        raise ValueError(f"{what}: images must be uint8, got {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4 or images.shape[1] != spec.channels:
        raise ValueError(
            f"{what}: images of shape {images.shape} do not fit {spec.name} "
            f"({spec.channels} channels, NHW / NHWC / NCHW)"
        )
    if images.shape[2:] != (spec.height, spec.width):
        if not spec.resized:
            raise ValueError(
                f"{what}: images are {images.shape[2]}x{images.shape[3]}, {spec.name} is "
                f"{spec.height}x{spec.width}"
            )
        images = resize_bicubic(images, spec.height, spec.width)
    return np.ascontiguousarray(images)


def _check_labels(labels: np.ndarray, n: int, spec: ImageSpec, what: str) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if labels.shape[0] != n:
        raise ValueError(f"{what}: {n} images but {labels.shape[0]} labels")
    if n and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise ValueError(
            f"{what}: labels span [{labels.min()}, {labels.max()}], {spec.name} has "
            f"{spec.num_classes} classes"
        )
    return labels


_NPZ_KEYS = {
    "image": ("x_{s}", "{s}_image", "{s}_images", "{s}.image"),
    "label": ("y_{s}", "{s}_label", "{s}_labels", "{s}.label"),
}


def read_local_images(spec: ImageSpec, path: str | Path) -> Arrays:
    """Real local copy of ``spec``: a directory of MNIST-layout IDX files (plain or ``.gz``), or
    an ``.npz`` (file, or the one ``.npz`` in a directory) with ``x_train``/``y_train``/
    ``x_test``/``y_test`` (also ``validation``; or ``train_image``/``train_label`` ...)."""
    p = Path(path).expanduser()
    out: Arrays = {}
    if p.is_dir():
        found = find_idx_splits(p)
        if found:
            for split, (img_path, lab_path) in found.items():
                images = _to_nchw(read_idx(img_path), spec, str(img_path))
                labels = _check_labels(read_idx(lab_path), images.shape[0], spec, str(lab_path))
                out[split] = {"image": images, "label": labels}
            return out
        npz = sorted(p.glob("*.npz"))
        if len(npz) != 1:
            raise ValueError(
                f"{p}: expected MNIST-layout IDX files (train-images-idx3-ubyte[.gz], ...) or "
                f"exactly one .npz file; found {len(npz)} .npz files"
            )
        p = npz[0]
    if not p.is_file():
        raise FileNotFoundError(f"no local data at {p}")
    with np.load(p, allow_pickle=False) as z:
        keys = set(z.files)
        for split in ("train", "validation", "test"):
            ik = next(
                (k.format(s=split) for k in _NPZ_KEYS["image"] if k.format(s=split) in keys), None
            )
            lk = next(
                (k.format(s=split) for k in _NPZ_KEYS["label"] if k.format(s=split) in keys), None
            )
            if ik and lk:
                images = _to_nchw(z[ik], spec, f"{p}[{ik}]")
                out[split] = {
                    "image": images,
                    "label": _check_labels(z[lk], images.shape[0], spec, f"{p}[{lk}]"),
                }
    if "train" not in out:
        raise ValueError(
            f"{p}: found no train split; expected arrays named x_train/y_train (and x_test/y_test "
            f"or x_validation/y_validation) or train_image/train_label; keys are {sorted(keys)}"
        )
    return out


def read_tfds_images(spec: ImageSpec, data_dir: Path, *, download: bool = False) -> Arrays:
    """All source splits of ``spec`` through TFDS (resized when ``spec`` is a resized builder)."""
    out: Arrays = {}
    for split in tfds_split_names(spec.tfds_name, data_dir, spec.splits):
        images, labels = [], []
        for ex in iter_tfds(spec.tfds_name, split, data_dir, download=download):
            img = np.asarray(ex["image"], dtype=np.uint8)
            img = img.transpose(2, 0, 1)[None] if img.ndim == 3 else img[None, None]
            if img.shape[2:] != (spec.height, spec.width):
                img = resize_bicubic(img, spec.height, spec.width)  # as each example is prepared
            images.append(img)
            labels.append(int(np.asarray(ex[spec.label_key])))
        stacked = _to_nchw(np.concatenate(images), spec, f"TFDS {spec.tfds_name}[{split}]")
        out[split] = {
            "image": stacked,
            "label": _check_labels(np.asarray(labels), len(labels), spec, split),
        }
    return out


def _substitute_images(spec: ImageSpec) -> tuple[Arrays, DataSource]:
    """scikit-learn's 8x8 digits (real handwritten digits every install has), resized to the
    dataset's size and replicated over its channels; labels are the digit modulo num_classes."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    img = torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    img = F.interpolate(img, size=(spec.height, spec.width), mode="bilinear", align_corners=False)
    img = (img.clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, spec.channels, 1, 1).numpy()
    lab = np.asarray(y, dtype=np.int64) % spec.num_classes
    n_train = 1400  # sklearn's digits have no split; hold out the last 397 as the test split
    arrays = {
        "train": {"image": img[:n_train], "label": lab[:n_train]},
        "test": {"image": img[n_train:], "label": lab[n_train:]},
    }
    return arrays, _substitute_source(spec)


def _substitute_source(spec: ImageSpec) -> DataSource:
    detail = f"scikit-learn 8x8 digits resized to {spec.height}x{spec.width}"
    if spec.channels > 1:
        detail += f", replicated to {spec.channels} channels"
    return DataSource(spec.name, "substitute", detail)


#: Image datasets with a real archive that the search path may hold (``archives.ARCHIVES`` key).
_ARCHIVE_FOR = {"cifar10": "cifar10"}


def archive_detail(spec: ImageSpec, path: Path) -> str:
    return (
        f"{archives.ARCHIVES[_ARCHIVE_FOR[spec.name]].what} {path}; decoded with Pillow, each "
        f"split shuffled with seed {archives.CIFAR10_SHUFFLE_SEED}"
    )


def read_image_archive(spec: ImageSpec, path: Path) -> Arrays:
    """Arrays of ``spec`` from its real archive (checked like any local copy)."""
    raw = archives.read_cifar10_archive(path)
    return {
        s: {
            "image": _to_nchw(a["image"], spec, f"{path}[{s}]"),
            "label": _check_labels(a["label"], a["image"].shape[0], spec, f"{path}[{s}]"),
        }
        for s, a in raw.items()
    }


def _archive_source(spec: ImageSpec) -> Path | None:
    key = _ARCHIVE_FOR.get(spec.name)
    return None if key is None else archives.find_archive(key)


def _archive_arrays(spec: ImageSpec, path: Path, data_dir: Path) -> tuple[Arrays, DataSource]:
    """``spec`` decoded from its archive once, kept under the data directory."""
    fp = archives.archive_fingerprint(path)
    name = f"{spec.name}-{fp}"
    d = cache.archive_cache_dir(name, data_dir)
    source = DataSource(spec.name, "local", archive_detail(spec, path))

    def build() -> cache.Built:
        return (
            read_image_archive(spec, path),
            {**image_meta(spec, source), "archive": str(path)},
            None,
        )

    # In memory per archive version (not per data dir): the content depends on the archive only.
    return archives.memo(("image", name), lambda: cache.load_or_build(d, name, build)[0]), source


def _local_candidates(spec: ImageSpec, data_dir: Path) -> list[Path]:
    return [data_dir / "local" / spec.name.replace("/", "__")] + [Path(d) for d in spec.local_dirs]


def image_source_status(name: str) -> DataSource:
    """Which source would serve ``name`` now (cheap: looks at files, loads nothing)."""
    spec = image_spec(name)
    data_dir = get_data_dir()
    found = cache.prepared_or_tfds_source(name, spec.tfds_name, data_dir)
    if found is not None:
        return found
    for d in _local_candidates(spec, data_dir):
        if d.is_dir() and (find_idx_splits(d) or any(d.glob("*.npz"))):
            return DataSource(name, "local", str(d))
    path = _archive_source(spec)
    if path is not None:
        return DataSource(name, "local", archive_detail(spec, path))
    return _substitute_source(spec)


@dataclasses.dataclass
class _Loaded:
    arrays: dict[str, dict[str, torch.Tensor]]
    source: DataSource


def _resolve(spec: ImageSpec, data_dir: Path) -> _Loaded:
    """Prepared cache, then TFDS data on disk, then real local copies, then the substitute."""
    arrays: Arrays | None = None
    source: DataSource | None = None
    if cache.has_prepared(spec.name, data_dir):
        arrays, meta, _ = cache.read_prepared(spec.name, data_dir)
        source = DataSource(spec.name, meta["source_kind"], meta.get("detail", ""))
    elif tfds_has_data(spec.tfds_name, data_dir):
        arrays = read_tfds_images(spec, data_dir)
        source = DataSource(spec.name, "real", f"TFDS {spec.tfds_name}")
        # Keep plain arrays so that later processes neither decode nor import TFDS again.
        try:
            cache.write_prepared(spec.name, arrays, image_meta(spec, source), data_dir=data_dir)
        except OSError:  # a read-only data dir only costs the speed-up
            pass
    else:
        for d in _local_candidates(spec, data_dir):
            if d.is_dir() and (find_idx_splits(d) or any(d.glob("*.npz"))):
                arrays = read_local_images(spec, d)
                source = DataSource(spec.name, "local", str(d))
                break
        else:
            path = _archive_source(spec)
            if path is not None:
                arrays, source = _archive_arrays(spec, path, data_dir)
    if arrays is None or source is None:
        arrays, source = _substitute_images(spec)
    tensors = {
        # contiguous(): batches read rows through 2-D views of these tensors (see take_rows).
        s: {
            "image": torch.from_numpy(a["image"]).contiguous(),
            "label": torch.from_numpy(a["label"]).contiguous(),
        }
        for s, a in arrays.items()
    }
    return _Loaded(tensors, source)


def image_meta(spec: ImageSpec, source: DataSource) -> dict[str, Any]:
    return {
        "kind": "image",
        "source_kind": source.kind,
        "detail": source.detail,
        "num_classes": spec.num_classes,
        "shape": list(spec.shape),
    }


def load_image_dataset(
    name: str,
    *,
    num_train: int | None = None,
    num_per_valid: int | None = None,
    augmentation: Mapping[str, Any] | None = None,
    allow_substitute: bool | None = None,
    center: bool = False,
) -> ImageDataset:
    """TaskSet image dataset ``name`` with its four splits carved as TaskSet carved them.

    ``num_per_valid`` defaults to TaskSet's sampled-family value (5000; coil100_32x32 800,
    deep_weeds_32x32 2000); TaskSet's fixed tasks used 3000 (``FIXED_NUM_PER_VALID``).
    ``augmentation`` is a TaskSet augmentation config (applied per batch); ``center`` maps
    images to [-1, 1]. TaskSet's image loaders ignore ``just_train``, so there is none here.
    """
    spec = image_spec(name)
    data_dir = get_data_dir()
    loaded = cached(("image", name, str(data_dir)), lambda: _resolve(spec, data_dir))
    check_substitute(
        name,
        loaded.source,
        allow_substitute,
        f"run `taskset-torch data prepare {name}` (downloads through TFDS), or point to a real "
        f"copy with `taskset-torch data add-local {name} PATH` (IDX files or an .npz)",
    )
    n_valid = IMAGE_NUM_PER_VALID[name] if num_per_valid is None else num_per_valid
    sizes = {s: int(a["label"].shape[0]) for s, a in loaded.arrays.items()}
    source = loaded.source
    if source.is_substitute and 3 * n_valid >= sizes["train"]:
        # The stand-in is far smaller than the dataset: shrink the validation splits, say so.
        shrunk = max(1, sizes["train"] // 5)
        source = DataSource(
            name, source.kind, f"{source.detail}; num_per_valid {n_valid}->{shrunk}"
        )
        n_valid = shrunk
    carved = carve_splits(sizes, n_valid, num_train, name=name)
    splits = {
        s: {k: v[c.start : c.stop] for k, v in loaded.arrays[c.source].items()}
        for s, c in carved.items()
    }
    return ImageDataset(
        name,
        splits,
        source,
        {"num_classes": spec.num_classes, "num_per_valid": n_valid},
        augmentation=augmentation,
        center=center,
    )
