"""Two reference problems for :func:`hparam_lists.transfer.evaluate_transfer`, in plain PyTorch.

- ``resnet_cifar10``: a pre-activation ResNet with BatchNorm on CIFAR-10 (cross-entropy, accuracy);
- ``transformer_lm``: a decoder-only Transformer byte-level language model on English prose
  (cross-entropy in nats per byte, next-byte accuracy).

Each is a callable ``train_fn(make_optimizer, seed) -> {"loss", "metric"}`` that trains a fresh
model with the optimizer it is handed, exactly as a user would use a list entry. The seed fixes
the model init and the order of training batches. Data comes, in order of preference, from the
project's dataset API when it serves the real dataset, from the real archives under ``data_dir``
(``../shared/data``: CIFAR-10 JPEGs, State of the Union addresses), or from the dataset API's
labelled substitute; ``train_fn.data_source`` says which.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "PROBLEMS",
    "SCALES",
    "ResNetCIFAR10",
    "TransformerLM",
    "PreActResNet",
    "DecoderLM",
    "make_problem",
]

SCALES = ("ci", "cpu", "gpu")
CIFAR_ARCHIVE = Path("cifar10") / "cifar10_jpg.tar.gz"
TEXT_ARCHIVE = Path("english_text") / "sotu_1790_2021.tar.gz"


def _check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale


# ----------------------------------------------------------------------------------------------
# Models


class PreActBlock(nn.Module):
    """BN-ReLU-conv x2 with an identity (or 1x1 strided conv) shortcut (He et al. 2016)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet(nn.Module):
    """Pre-activation ResNet: stem conv, stages of blocks (stride 2 from the second), BN-ReLU-pool."""

    def __init__(self, widths: tuple[int, ...], blocks: tuple[int, ...], num_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        layers, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(PreActBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(cin)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[batch, num_classes]`` of images ``[batch, 3, H, W]``."""
        out = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.head(out.mean(dim=(2, 3)))


class DecoderLM(nn.Module):
    """Decoder-only Transformer (pre-LN, learned positions, causal self-attention, tied output)."""

    def __init__(self, vocab: int, d_model: int, n_layers: int, n_heads: int, context: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.zeros(context, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``[batch, t, vocab]`` of tokens ``[batch, t]`` (t <= context)."""
        t = tokens.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=tokens.device)
        h = self.embed(tokens) + self.pos[:t]
        h = self.norm(self.layers(h, mask=mask, is_causal=True))
        return h @ self.embed.weight.t()


# ----------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class _Images:
    train_x: torch.Tensor  # uint8 [N, 3, 32, 32]
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    source: str


def _from_api_images(n_train: int, n_valid: int, allow_substitute: bool) -> _Images | None:
    from taskset_torch.datasets import SubstituteError, load_image_dataset

    try:
        ds = load_image_dataset("cifar10", allow_substitute=allow_substitute)
    except SubstituteError:
        return None
    tr, va = ds.splits["train"], ds.splits["valid_inner"]
    return _Images(
        tr["image"][:n_train],
        tr["label"][:n_train],
        va["image"][:n_valid],
        va["label"][:n_valid],
        f"cifar10 via taskset_torch.datasets ({ds.source.kind}: {ds.source.detail})",
    )


@functools.lru_cache(maxsize=2)
def _read_cifar_jpegs(archive: Path, n_train: int, n_valid: int) -> _Images:
    """``n_train + n_valid`` images of the archive's train folder, picked by a fixed permutation."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("reading CIFAR-10 JPEGs needs Pillow: pip install pillow") from e
    # One sequential pass (the JPEG bytes are ~20 MB): seeking in a gzip stream re-decompresses.
    with tarfile.open(archive, "r:gz") as tar:
        blobs = {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar
            if m.isfile() and m.name.startswith("train/")
        }
    names = sorted(blobs)
    classes = sorted({n.split("/")[1] for n in names})
    if len(classes) != 10 or n_train + n_valid > len(names):
        raise ValueError(
            f"{archive}: expected train/<10 classes>/*.jpg with at least "
            f"{n_train + n_valid} images, found {len(classes)} classes, {len(names)} images"
        )
    # Files are grouped by class: a fixed permutation makes both splits class-balanced.
    pick = np.random.default_rng(0).permutation(len(names))[: n_train + n_valid]
    images = np.empty((len(pick), 32, 32, 3), np.uint8)
    labels = np.empty(len(pick), np.int64)
    for row, i in enumerate(pick):
        images[row] = np.asarray(Image.open(io.BytesIO(blobs[names[i]])).convert("RGB"))
        labels[row] = classes.index(names[i].split("/")[1])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels)
    return _Images(
        x[:n_train],
        y[:n_train],
        x[n_train:],
        y[n_train:],
        f"cifar10 (JPEG re-encoded local copy {archive}, {n_train} train / {n_valid} valid "
        "from its train folder)",
    )


def _load_images(n_train: int, n_valid: int, data_dir: Path | None) -> _Images:
    real = _from_api_images(n_train, n_valid, allow_substitute=False)
    if real is not None:
        return real
    if data_dir is not None and (data_dir / CIFAR_ARCHIVE).is_file():
        return _read_cifar_jpegs(data_dir / CIFAR_ARCHIVE, n_train, n_valid)
    out = _from_api_images(n_train, n_valid, allow_substitute=True)
    assert out is not None
    return out


@dataclass(frozen=True)
class _Text:
    train: torch.Tensor  # int64 token stream
    valid: torch.Tensor
    vocab: int
    source: str


@functools.lru_cache(maxsize=2)
def _read_sotu(archive: Path) -> _Text:
    """UTF-8 bytes of the addresses; every 10th address (by file name) is held out for validation."""
    with tarfile.open(archive, "r:gz") as tar:
        docs = sorted(
            (m for m in tar.getmembers() if m.isfile() and m.name.endswith(".txt")),
            key=lambda m: m.name,
        )
        texts = [tar.extractfile(m).read() for m in docs]  # type: ignore[union-attr]
    if len(texts) < 10:
        raise ValueError(
            f"{archive}: expected the State of the Union .txt files, found {len(texts)}"
        )
    train = b"\n".join(t for i, t in enumerate(texts) if i % 10 != 9)
    valid = b"\n".join(t for i, t in enumerate(texts) if i % 10 == 9)

    def as_tokens(b: bytes) -> torch.Tensor:
        return torch.from_numpy(np.frombuffer(b, np.uint8).astype(np.int64))

    return _Text(
        as_tokens(train),
        as_tokens(valid),
        256,
        f"english_text:sotu (stand-in for lm1b; local copy {archive}, UTF-8 bytes, "
        f"{len(texts) - len(texts) // 10} train / {len(texts) // 10} valid addresses)",
    )


def _from_api_text(allow_substitute: bool) -> _Text | None:
    from taskset_torch.datasets import SubstituteError, load_text_dataset

    try:
        ds = load_text_dataset("lm1b/bytes", patch_length=512, allow_substitute=allow_substitute)
    except SubstituteError:
        return None
    return _Text(  # the examples' bytes back to back, one stream per split
        ds.splits["train"].tokens.long(),
        ds.splits["valid_inner"].tokens.long(),
        int(ds.vocab_size),
        f"lm1b/bytes via taskset_torch.datasets ({ds.source.kind}: {ds.source.detail})",
    )


def _load_text(data_dir: Path | None) -> _Text:
    real = _from_api_text(allow_substitute=False)
    if real is not None:
        return real
    if data_dir is not None and (data_dir / TEXT_ARCHIVE).is_file():
        return _read_sotu(data_dir / TEXT_ARCHIVE)
    out = _from_api_text(allow_substitute=True)
    assert out is not None
    return out


# ----------------------------------------------------------------------------------------------
# Problems


class _Problem:
    name: str
    scale: str
    config: dict[str, Any]

    def __init__(self, scale: str, data_dir: str | Path | None, device: str | torch.device):
        self.scale = _check_scale(scale)
        self.config = dict(self.SIZES[scale])  # type: ignore[attr-defined]
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.device = torch.device(device)

    @property
    def data_source(self) -> str:
        """Where the problem's data came from (real dataset or a named substitute)."""
        return self._data().source  # type: ignore[attr-defined]

    def describe(self) -> dict[str, Any]:
        """JSON-able: the problem, its scale and settings, and its data source."""
        return {"problem": self.name, "scale": self.scale, **self.config, "data": self.data_source}

    def __getstate__(self) -> dict[str, Any]:  # picklable for Ray workers (data reloads there)
        return dict(self.__dict__)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed the global CPU generator for a model's init, restoring the caller's state after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _diverged() -> dict[str, float]:
    return {"loss": math.nan, "metric": math.nan}


class ResNetCIFAR10(_Problem):
    """Pre-activation ResNet on CIFAR-10; validation cross-entropy and accuracy."""

    name = "resnet_cifar10"
    SIZES: dict[str, dict[str, Any]] = {
        "ci": dict(widths=(4, 8), blocks=(1, 1), n_train=256, n_valid=128, batch=32, steps=4),
        "cpu": dict(
            widths=(8, 16, 32), blocks=(1, 1, 1), n_train=10000, n_valid=500, batch=64, steps=120
        ),
        # ResNet-18 widths and depth, pre-activation; ~40 epochs of the 45k/5k split at bs 128.
        "gpu": dict(
            widths=(64, 128, 256, 512),
            blocks=(2, 2, 2, 2),
            n_train=45000,
            n_valid=5000,
            batch=128,
            steps=14000,
            augment=True,
        ),
    }

    def _data(self) -> _Images:
        return _load_images(self.config["n_train"], self.config["n_valid"], self.data_dir)

    def __call__(self, make_optimizer: Callable[[Any, int], Any], seed: int) -> dict[str, float]:
        cfg, dev = self.config, self.device
        data = self._data()
        with _seeded(seed):  # nn.Module init draws from the global generator
            model = PreActResNet(tuple(cfg["widths"]), tuple(cfg["blocks"])).to(dev)
        steps = int(cfg["steps"])
        opt = make_optimizer(model.parameters(), steps)
        gen = torch.Generator().manual_seed(seed)
        x_all = data.train_x.float().div_(255.0)
        mean = x_all.mean(dim=(0, 2, 3), keepdim=True)
        std = x_all.std(dim=(0, 2, 3), keepdim=True)

        def prep(x: torch.Tensor) -> torch.Tensor:
            return ((x.float().div(255.0) - mean) / std).to(dev)

        model.train()
        for _ in range(steps):
            idx = torch.randint(data.train_x.shape[0], (cfg["batch"],), generator=gen)
            x = prep(data.train_x[idx])
            if cfg.get("augment"):
                x = _flip_and_crop(x, gen)
            loss = F.cross_entropy(model(x), data.train_y[idx].to(dev))
            if not torch.isfinite(loss):
                return _diverged()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        total, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, data.valid_x.shape[0], 500):
                logits = model(prep(data.valid_x[i : i + 500]))
                y = data.valid_y[i : i + 500].to(dev)
                total += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
        n = data.valid_x.shape[0]
        loss = total / n
        return {"loss": loss, "metric": correct / n} if math.isfinite(loss) else _diverged()


def _flip_and_crop(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and 4-pixel-padded random crops (the usual CIFAR augmentation)."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)
    pad = F.pad(x, (4, 4, 4, 4))
    dx, dy = (int(v) for v in torch.randint(0, 9, (2,), generator=gen))
    return pad[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]


class TransformerLM(_Problem):
    """Decoder-only Transformer byte LM; validation cross-entropy (nats/byte) and accuracy."""

    name = "transformer_lm"
    SIZES: dict[str, dict[str, Any]] = {
        "ci": dict(d_model=16, layers=1, heads=2, context=16, batch=8, steps=4, n_valid=16),
        "cpu": dict(d_model=64, layers=2, heads=4, context=64, batch=16, steps=200, n_valid=128),
        "gpu": dict(
            d_model=512, layers=6, heads=8, context=256, batch=64, steps=10000, n_valid=2048
        ),
    }

    def _data(self) -> _Text:
        return _load_text(self.data_dir)

    def __call__(self, make_optimizer: Callable[[Any, int], Any], seed: int) -> dict[str, float]:
        cfg, dev = self.config, self.device
        data = self._data()
        t = int(cfg["context"])
        with _seeded(seed):
            model = DecoderLM(data.vocab, cfg["d_model"], cfg["layers"], cfg["heads"], t).to(dev)
        steps = int(cfg["steps"])
        opt = make_optimizer(model.parameters(), steps)
        gen = torch.Generator().manual_seed(seed)
        offsets = torch.arange(t + 1)
        model.train()
        for _ in range(steps):
            start = torch.randint(data.train.numel() - t - 1, (cfg["batch"], 1), generator=gen)
            seq = data.train[start + offsets].to(dev)
            logits = model(seq[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, data.vocab), seq[:, 1:].reshape(-1))
            if not torch.isfinite(loss):
                return _diverged()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        # Validation: n_valid windows evenly spaced over the held-out stream (the same every run).
        n = int(cfg["n_valid"])
        starts = torch.linspace(0, data.valid.numel() - t - 2, n).long()[:, None]
        model.eval()
        total, correct, count = 0.0, 0, 0
        with torch.no_grad():
            for i in range(0, n, 64):
                seq = data.valid[starts[i : i + 64] + offsets].to(dev)
                logits = model(seq[:, :-1]).reshape(-1, data.vocab)
                y = seq[:, 1:].reshape(-1)
                total += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
                count += y.numel()
        loss = total / count
        return {"loss": loss, "metric": correct / count} if math.isfinite(loss) else _diverged()


PROBLEMS: dict[str, type[_Problem]] = {
    "resnet_cifar10": ResNetCIFAR10,
    "transformer_lm": TransformerLM,
}


def make_problem(
    name: str,
    scale: str = "cpu",
    *,
    data_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> _Problem:
    """A reference problem's ``train_fn`` by name at ``scale`` (``ci``, ``cpu`` or ``gpu``)."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; valid: {', '.join(PROBLEMS)}")
    return PROBLEMS[name](scale, data_dir, device)
