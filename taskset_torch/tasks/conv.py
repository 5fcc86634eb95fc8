"""conv_pooling_family and conv_fc_family: 3x3 conv stacks, batched over n parameter sets.

The n parameter sets run as one grouped convolution: the first layer stacks the n filter banks
(``[n*Cout, Cin, 3, 3]``) over the shared input image, later layers use ``groups=n`` on
``[B, n*C, H, W]`` (channels-last). Measured: on one CPU thread, grouped convolution over
cache-sized blocks of sets (``image_common.CPU_BLOCK_FLOATS``) costs about what n separate
convolutions cost (within 15%), ``torch.func.vmap`` of ``conv2d`` was ~1.4x slower and one
unblocked grouped pass over 64 sets 1.5-2.5x slower; on an H200 the grouped form trained 64 sets
20-26x faster than a loop over them. Padding follows TensorFlow: SAME pads
``max((ceil(H/s)-1)*s + 3 - H, 0)`` with the extra row/column at the bottom/right, which for
stride 2 on even sizes is asymmetric and is therefore padded explicitly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from taskset_torch.base import check_config
from taskset_torch.sampling import choice, rng_for, sample_log_int
from taskset_torch.tasks.base import Batch, Params, TaskFamily
from taskset_torch.tasks.grouped_conv import grouped_conv2d
from taskset_torch.tasks.image_common import (
    ImageTask,
    check_int_list,
    check_w_init,
    load_family_images,
)
from taskset_torch.tasks.layers import get_activation, initialize, linear, mlp_apply, mlp_params
from taskset_torch.tasks.utils import sample_activation, sample_image_dataset, sample_initializer

__all__ = [
    "ConvPoolingFamily",
    "ConvFCFamily",
    "ConvPoolingTask",
    "ConvFCTask",
    "ConvLayer",
    "POOL_TYPES",
    "PADDINGS",
    "conv_geometry",
    "conv_stack_params",
    "conv_stack_apply",
]

POOL_TYPES = ("mean", "max", "squared_mean")
PADDINGS = ("SAME", "VALID")
_STRIDE_PATTERNS = ("all_two", "one_two", "two_one")
_MAX_LAYERS = 5
_KERNEL = 3


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """One 3x3 conv layer's geometry: channels, stride, TF padding (top, bottom, left, right)."""

    cin: int
    cout: int
    stride: int
    pad: tuple[int, int, int, int]
    out_hw: tuple[int, int]


def _trunc_div(a: int, b: int) -> int:
    """C++ integer division (truncates toward zero), as TF's shape functions compute it."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _tf_out_and_pad(size: int, stride: int, padding: str) -> tuple[int, int, int]:
    """TF's ``GetWindowedOutputSize``: output size and (before, after) padding of one dim."""
    if padding == "SAME":
        out = _trunc_div(size + stride - 1, stride)
        total = max((out - 1) * stride + _KERNEL - size, 0)
        return out, total // 2, total - total // 2
    return _trunc_div(size - _KERNEL + stride, stride), 0, 0


def conv_geometry(
    image_shape: Sequence[int],
    hidden_units: Sequence[int],
    strides: Sequence[int],
    paddings: Sequence[str],
    family: str = "conv",
) -> list[ConvLayer]:
    """Shapes of a 3x3 conv stack on a ``(C, H, W)`` image, as TensorFlow computes them.

    Like TF, a VALID layer on an input smaller than the kernel may yield a 0x0 output (about 5%
    of TaskSet's conv configs do; every later layer is then empty too); only a negative size is
    an error.
    """
    c, h, w = (int(s) for s in image_shape)
    layers = []
    for i, (cout, s, pad) in enumerate(zip(hidden_units, strides, paddings)):
        oh, pt, pb = _tf_out_and_pad(h, s, pad)
        ow, pl, pr = _tf_out_and_pad(w, s, pad)
        if oh < 0 or ow < 0:
            raise ValueError(
                f"{family}: conv layer {i} ({pad} padding, stride {s}) on a {h}x{w} input has a "
                "negative output size; TensorFlow (and so TaskSet) cannot build this config either"
            )
        layers.append(ConvLayer(c, int(cout), int(s), (pt, pb, pl, pr), (oh, ow)))
        c, h, w = int(cout), oh, ow
    return layers


def conv_stack_params(
    layers: Sequence[ConvLayer], w_init: Sequence[Any], use_bias: bool, generator: torch.Generator
) -> Params:
    """Unbatched conv weights in TF layout ``[3, 3, cin, cout]`` (TF fans), zero biases."""
    params: Params = {}
    for i, layer in enumerate(layers):
        params[f"conv/w{i}"] = initialize(
            w_init, (_KERNEL, _KERNEL, layer.cin, layer.cout), generator
        )
        if use_bias:
            params[f"conv/b{i}"] = torch.zeros(layer.cout)
    return params


def conv_stack_apply(
    params: Params,
    image: torch.Tensor,
    layers: Sequence[ConvLayer],
    activation: Callable[[torch.Tensor], torch.Tensor],
    use_bias: bool,
) -> torch.Tensor:
    """Shared ``[B, C, H, W]`` image -> ``[B, n*Cout, H', W']`` (set k owns channel block k).

    Every layer is activated (Sonnet's ``activate_final=True``).
    """
    # Channels-last makes oneDNN's grouped convolutions about 2x faster on CPU; every later op
    # (pad, conv, activation) keeps the layout.
    x = image.contiguous(memory_format=torch.channels_last)
    for i, layer in enumerate(layers):
        w = params[f"conv/w{i}"]  # [n, 3, 3, cin, cout]
        n = w.shape[0]
        weight = w.permute(0, 4, 3, 1, 2).reshape(n * layer.cout, layer.cin, _KERNEL, _KERNEL)
        bias = params[f"conv/b{i}"].reshape(-1) if use_bias else None
        if 0 in layer.out_hw:
            # TF returns an empty map here (and from every later layer): the weights go unused.
            x = x.new_zeros(x.shape[0], n * layer.cout, *layer.out_hw)
            continue
        pt, pb, pl, pr = layer.pad
        if pt == pb and pl == pr:
            padding: tuple[int, int] = (pt, pl)
        else:
            x = F.pad(x, (pl, pr, pt, pb))
            padding = (0, 0)
        groups = 1 if i == 0 else n  # the first layer reads the one shared image
        x = activation(
            grouped_conv2d(x, weight, bias, stride=layer.stride, padding=padding, groups=groups)
        )
    return x


def _split_sets(x: torch.Tensor, n: int) -> torch.Tensor:
    """``[B, n*C, ...]`` -> ``[n, B, C, ...]`` (a view)."""
    return x.unflatten(1, (n, -1)).transpose(0, 1)


class _ConvTask(ImageTask):
    """Shared parts: config checks, the conv stack, mean softmax cross entropy."""

    family = "conv"

    def __init__(
        self,
        *,
        dataset: Any,
        batch_size: int,
        hidden_units: list[int],
        strides: list[Any],
        padding: list[str],
        activation: str,
        w_init: list[Any],
        use_bias: bool,
        center_data: bool,
        name: str = "",
    ):
        fam = self.family
        hidden_units = check_int_list(hidden_units, "hidden_units", fam)
        if not isinstance(strides, (list, tuple)) or len(strides) != len(hidden_units):
            raise ValueError(f"{fam}: strides must have one [s, s] per layer, got {strides!r}")
        flat_strides = []
        for s in strides:
            if not (
                isinstance(s, (list, tuple)) and len(s) == 2 and s[0] == s[1] and s[0] in (1, 2)
            ):
                raise ValueError(f"{fam}: each stride must be [1, 1] or [2, 2], got {s!r}")
            flat_strides.append(int(s[0]))
        if not isinstance(padding, (list, tuple)) or len(padding) != len(hidden_units):
            raise ValueError(f"{fam}: padding must have one entry per layer, got {padding!r}")
        if any(p not in PADDINGS for p in padding):
            raise ValueError(f"{fam}: padding entries must be one of {PADDINGS}, got {padding!r}")
        self.w_init = check_w_init(w_init, fam)
        self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        super().__init__(dataset, batch_size, center=bool(center_data), flatten=False, name=name)
        self.layers = conv_geometry(self.image_shape, hidden_units, flat_strides, padding, fam)
        self.activation_floats = self.batch_size * sum(
            lay.cout * lay.out_hw[0] * lay.out_hw[1] for lay in self.layers
        )

    def _features(self, params: Params, image: torch.Tensor) -> torch.Tensor:
        return conv_stack_apply(params, image, self.layers, self.activation, self.use_bias)

    def _cross_entropy(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n, b, k = logits.shape
        ce = F.cross_entropy(logits.reshape(n * b, k), labels.repeat(n), reduction="none")
        return ce.reshape(n, b).mean(1)

    def _conv_num_params(self) -> int:
        per = [_KERNEL * _KERNEL * lay.cin * lay.cout + (lay.cout if self.use_bias else 0)
               for lay in self.layers]  # fmt: skip
        return sum(per)


class ConvPoolingTask(_ConvTask):
    """Conv stack -> spatial pooling (mean, max or squared_mean) -> Linear(num_classes) -> CE."""

    family = "conv_pooling_family"

    def __init__(self, *, pool_type: str, **kwargs: Any):
        if pool_type not in POOL_TYPES:
            raise ValueError(
                f"conv_pooling_family: unknown pool_type {pool_type!r}; valid: {POOL_TYPES}"
            )
        super().__init__(**kwargs)
        self.pool_type = pool_type

    def init_params(self, generator: torch.Generator) -> Params:
        params = conv_stack_params(self.layers, self.w_init, self.use_bias, generator)
        c = self.layers[-1].cout
        # snt.Linear always has a bias, whatever the conv layers' use_bias.
        params["linear/w"] = initialize(self.w_init, (c, self.num_classes), generator)
        params["linear/b"] = torch.zeros(self.num_classes)
        return params

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        h = self._features(params, batch["image"])  # [B, n*C, H, W]
        if self.pool_type == "mean":
            pooled = h.mean((2, 3))
        elif self.pool_type == "max":
            # TF's max over an empty map is -inf (torch refuses to reduce an empty dim).
            pooled = h.amax((2, 3)) if h[0, 0].numel() else h.new_full(h.shape[:2], -math.inf)
        else:
            pooled = h.square().mean((2, 3))
        n = params["linear/w"].shape[0]
        logits = linear(_split_sets(pooled, n), params["linear/w"], params["linear/b"])
        return self._cross_entropy(logits, batch["label"])

    def num_params(self) -> int:
        c = self.layers[-1].cout
        return self._conv_num_params() + c * self.num_classes + self.num_classes


class ConvFCTask(_ConvTask):
    """Conv stack -> flatten (TF's H, W, C order) -> MLP(fc_hidden_units + [num_classes]) -> CE."""

    family = "conv_fc_family"

    def __init__(self, *, fc_hidden_units: list[int], **kwargs: Any):
        fc = check_int_list(fc_hidden_units, "fc_hidden_units", self.family, allow_empty=True)
        super().__init__(**kwargs)
        last = self.layers[-1]
        self.fc_sizes = [last.cout * math.prod(last.out_hw), *fc, self.num_classes]

    def init_params(self, generator: torch.Generator) -> Params:
        params = conv_stack_params(self.layers, self.w_init, self.use_bias, generator)
        if self.fc_sizes[0] == 0:
            # An empty conv output: the first fc weight is [0, h] (TF builds it; the logits then
            # depend on the fc biases only). Nothing to draw, and fans of 0 must not be divided by.
            params["fc/w0"] = torch.zeros(0, self.fc_sizes[1])
            params["fc/b0"] = torch.zeros(self.fc_sizes[1])
            rest = mlp_params(self.fc_sizes[1:], self.w_init, generator, prefix="fc")
            params.update({_shift_layer(k): v for k, v in rest.items()})
        else:
            params.update(mlp_params(self.fc_sizes, self.w_init, generator, prefix="fc"))
        return params

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        h = self._features(params, batch["image"])  # [B, n*C, H, W]
        n = params["fc/w0"].shape[0]
        b = h.shape[0]
        flat = _split_sets(h, n).permute(0, 1, 3, 4, 2).reshape(n, b, -1)  # NHWC flatten
        logits = mlp_apply(params, flat, len(self.fc_sizes) - 1, self.activation, prefix="fc")
        return self._cross_entropy(logits, batch["label"])

    def num_params(self) -> int:
        fc = sum(a * b + b for a, b in zip(self.fc_sizes[:-1], self.fc_sizes[1:]))
        return self._conv_num_params() + fc


def _shift_layer(key: str) -> str:
    """``fc/w0`` -> ``fc/w1``: renumber the layers of an MLP built from the second size on."""
    prefix, leaf = key.rsplit("/", 1)
    return f"{prefix}/{leaf[0]}{int(leaf[1:]) + 1}"


def _sample_conv_stack(rng) -> dict[str, Any]:
    """TaskSet's shared draws of both conv families: layers, strides, widths, act, init, padding."""
    n_layers = int(rng.choice([1, 2, 3, 4, 5]))
    pattern = choice(rng, _STRIDE_PATTERNS)
    base = {"all_two": [2], "one_two": [1, 2], "two_one": [2, 1]}[pattern]
    strides = (base * _MAX_LAYERS)[:n_layers]
    cfg: dict[str, Any] = {"strides": [[s, s] for s in strides]}
    cfg["hidden_units"] = [sample_log_int(rng, 8, 64) for _ in range(n_layers)]
    cfg["activation"] = sample_activation(rng)
    cfg["w_init"] = sample_initializer(rng)
    cfg["padding"] = [choice(rng, PADDINGS) for _ in range(n_layers)]
    return cfg


def _conv_kwargs(config: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "dataset": load_family_images(config["dataset"]),
        "batch_size": config["dataset"][1]["bs"],
        "hidden_units": config["hidden_units"],
        "strides": config["strides"],
        "padding": config["padding"],
        "activation": config["activation"],
        "w_init": config["w_init"],
        "use_bias": config["use_bias"],
        "center_data": config["center_data"],
        "name": name,
    }


_COMMON_KEYS = ("strides", "hidden_units", "activation", "w_init", "padding", "use_bias", "dataset",
                "center_data")  # fmt: skip


class ConvPoolingFamily(TaskFamily):
    name = "conv_pooling_family"

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed, 0)
        cfg = _sample_conv_stack(rng)
        cfg["pool_type"] = choice(rng, POOL_TYPES)
        cfg["use_bias"] = bool(rng.choice([True, False]))
        cfg["dataset"] = sample_image_dataset(rng)
        cfg["center_data"] = bool(rng.choice([True, False]))
        return cfg

    def build(self, config: dict[str, Any], name: str = "") -> ConvPoolingTask:
        check_config(config, (*_COMMON_KEYS, "pool_type"), f"{self.name} config")
        return ConvPoolingTask(pool_type=config["pool_type"], **_conv_kwargs(config, name))


class ConvFCFamily(TaskFamily):
    name = "conv_fc_family"

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed, 0)
        cfg = _sample_conv_stack(rng)
        n_fc = int(rng.choice([0, 1, 2, 3]))
        cfg["fc_hidden_units"] = [sample_log_int(rng, 32, 128) for _ in range(n_fc)]
        cfg["use_bias"] = bool(rng.choice([True, False]))
        cfg["dataset"] = sample_image_dataset(rng)
        cfg["center_data"] = bool(rng.choice([True, False]))
        return cfg

    def build(self, config: dict[str, Any], name: str = "") -> ConvFCTask:
        check_config(config, (*_COMMON_KEYS, "fc_hidden_units"), f"{self.name} config")
        return ConvFCTask(fc_hidden_units=config["fc_hidden_units"], **_conv_kwargs(config, name))
