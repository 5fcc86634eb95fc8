"""RNN pieces of TaskSet's sequence families: samplers and Sonnet-1 cores batched over n configs.

Samplers reproduce ``task_set/tasks/utils.py`` draw for draw (``sample_rnn_core`` and the char-LM,
word-LM and text-classification dataset samplers). The cores follow Sonnet 1 exactly:

- ``vrnn`` (``snt.VanillaRNN``): ``h' = act(x W_ih + b_ih + h W_hh + b_hh)``; both biases zero.
- ``gru`` (``snt.GRU``): ``z = sig(x wz + h uz + bz)``, ``r = sig(x wr + h ur + br)``,
  ``h~ = tanh(x wh + (r * h) uh + bh)``, ``h' = (1 - z) h + z h~``. Sonnet passes no bias
  initializer, so ``tf.get_variable``'s default (glorot_uniform, fans ``(H, H)``) draws the biases.
- ``lstm`` (``snt.LSTM``): ``[x, h] w_gates + b_gates`` split into ``i, j, f, o``;
  ``c' = sig(f + 1) c + sig(i) tanh(j)`` (forget bias 1.0), ``h' = tanh(c') sig(o)``. ``w_gates``
  is one ``[E + H, 4H]`` matrix (fans from that shape); ``b_gates`` uses Sonnet's default linear
  initializer, a truncated normal with stddev ``1 / sqrt(E + H)``.

A trainable initial state (``snt.RNNCore.initial_state(trainable=True)``) is a zero-initialised
``[H]`` vector per state tensor, broadcast over the batch.

The recurrence runs over ``[n, B, H]`` with one batched matmul per step; the input projections of
all time steps are computed up front in one matmul.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from taskset_torch.base import DataSource, check_config
from taskset_torch.sampling import choice, sample_bool, sample_linear_int, sample_log_int
from taskset_torch.tasks.base import Params, Task
from taskset_torch.tasks.layers import get_activation, initialize
from taskset_torch.tasks.utils import sample_activation, sample_initializer

__all__ = [
    "CHAR_LM_DATASETS",
    "WORD_LM_DATASETS",
    "TEXT_CLASSIFICATION_DATASETS",
    "RNN_CORES",
    "sample_rnn_core",
    "sample_char_lm_dataset",
    "sample_word_lm_dataset",
    "sample_text_classification_dataset",
    "validate_rnn_core",
    "rnn_core_params",
    "rnn_core_apply",
    "RNNSequenceTask",
]

RNN_CORES: tuple[str, ...] = ("vrnn", "gru", "lstm")
_GRU_KEYS: tuple[str, ...] = ("wh", "wz", "wr", "uh", "uz", "ur")

CHAR_LM_DATASETS: tuple[str, ...] = tuple(
    sorted(
        [
            "lm1b/bytes",
            "imdb_reviews/bytes",
            "tokenized_wikipedia/20190301.zh_bytes",
            "tokenized_wikipedia/20190301.ru_bytes",
            "tokenized_wikipedia/20190301.ja_bytes",
            "tokenized_wikipedia/20190301.hsb_bytes",
            "tokenized_wikipedia/20190301.en_bytes",
            "tokenized_amazon_reviews/Books_v1_02_bytes",
            "tokenized_amazon_reviews/Camera_v1_00_bytes",
            "tokenized_amazon_reviews/Home_v1_00_bytes",
            "tokenized_amazon_reviews/Video_v1_00_bytes",
        ]
    )
)
WORD_LM_DATASETS: tuple[str, ...] = tuple(
    sorted(
        n.replace("_bytes", "_subwords8k").replace("/bytes", "/subwords8k")
        for n in CHAR_LM_DATASETS
    )
)
# TaskSet's list lacks a comma after "imdb_reviews/subwords8k", so two names fuse into one key; the
# sampler draws over the 9 keys that result. (Every key then loads imdb_reviews/subwords8k.)
TEXT_CLASSIFICATION_DATASETS: tuple[str, ...] = tuple(
    sorted(
        ["imdb_reviews/subwords8kimdb_reviews/bytes"]
        + [
            f"tokenized_amazon_reviews/{cat}_{tok}"
            for cat in ("Books_v1_02", "Camera_v1_00", "Home_v1_00", "Video_v1_00")
            for tok in ("bytes", "subwords8k")
        ]
    )
)


# --------------------------------------------------------------------------------------- samplers
def sample_rnn_core(rng: np.random.RandomState) -> list[Any]:
    """``[core, args]`` as TaskSet's ``sample_rnn_core`` draws it (at most 128 units)."""
    core = choice(rng, ["vrnn", "gru", "lstm"])
    # Linked (one initializer shared by the core's weights) 4x as likely as unlinked.
    linked = bool(choice(rng, [True, True, True, True, False]))
    args: dict[str, Any] = {}
    if core == "vrnn":
        if linked:
            init = sample_initializer(rng)
            args["hidden_to_hidden"] = init
            args["in_to_hidden"] = init
        else:
            args["hidden_to_hidden"] = sample_initializer(rng)
            args["in_to_hidden"] = sample_initializer(rng)
        args["act_fn"] = sample_activation(rng)
        args["core_dim"] = sample_log_int(rng, 32, 128)
    elif core == "gru":
        args["core_dim"] = sample_log_int(rng, 32, 128)
        if linked:
            init = sample_initializer(rng)
            for key in _GRU_KEYS:
                args[key] = init
        else:
            for key in _GRU_KEYS:
                args[key] = sample_initializer(rng)
    else:
        args["w_gates"] = sample_initializer(rng)
        args["core_dim"] = sample_log_int(rng, 32, 128)
    return [core, args]


def _maybe_num_train(rng: np.random.RandomState) -> int | None:
    return sample_linear_int(rng, 1000, 50000) if sample_bool(rng, 0.2) else None


def _sample_lm_config(rng: np.random.RandomState, max_patch: int) -> dict[str, Any]:
    num_train = _maybe_num_train(rng)
    return {
        "patch_length": sample_log_int(rng, 10, max_patch),
        "batch_size": sample_log_int(rng, 8, 512),
        "just_train": sample_bool(rng, 0.2),
        "num_train": num_train,
    }


def sample_char_lm_dataset(rng: np.random.RandomState) -> list[Any]:
    """``[name, {patch_length, batch_size, just_train, num_train}]`` over 11 byte datasets."""
    name = choice(rng, CHAR_LM_DATASETS)
    return [name, _sample_lm_config(rng, 160)]


def sample_word_lm_dataset(rng: np.random.RandomState) -> list[Any]:
    """As :func:`sample_char_lm_dataset` over the 11 subwords8k datasets, patches up to 256."""
    name = choice(rng, WORD_LM_DATASETS)
    return [name, _sample_lm_config(rng, 256)]


def sample_text_classification_dataset(rng: np.random.RandomState) -> list[Any]:
    """``[key, {bs, num_train, max_token, just_train, patch_length}]`` (key order as stored)."""
    name = choice(rng, TEXT_CLASSIFICATION_DATASETS)
    num_train = _maybe_num_train(rng)
    return [
        name,
        {
            "bs": sample_log_int(rng, 8, 512),
            "num_train": num_train,
            "max_token": 8185,
            "just_train": sample_bool(rng, 0.2),
            "patch_length": sample_log_int(rng, 8, 128),
        },
    ]


# ------------------------------------------------------------------------------------------ cores
def _check_init(spec: Any, what: str) -> None:
    if not isinstance(spec, (list, tuple)) or len(spec) != 2 or not isinstance(spec[0], str):
        raise ValueError(f"{what} must be an initializer spec [name, arg], got {spec!r}")


def validate_rnn_core(core: Any) -> tuple[str, dict[str, Any]]:
    """Check a sampled ``[core, args]`` spec; returns ``(name, args)`` or raises a clear error."""
    if not isinstance(core, (list, tuple)) or len(core) != 2 or not isinstance(core[1], dict):
        raise ValueError(f"an RNN core spec is [name, args], got {core!r}")
    name, args = core
    required = {
        "vrnn": ("hidden_to_hidden", "in_to_hidden", "act_fn", "core_dim"),
        "gru": ("core_dim", *_GRU_KEYS),
        "lstm": ("w_gates", "core_dim"),
    }
    if name not in required:
        raise ValueError(f"unknown RNN core {name!r}; valid: {list(RNN_CORES)}")
    check_config(args, required[name], f"{name} core args")
    dim = args["core_dim"]
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
        raise ValueError(f"core_dim must be a positive int, got {dim!r}")
    for k in required[name]:
        if k not in ("act_fn", "core_dim"):
            _check_init(args[k], f"{name} initializer {k!r}")
    if name == "vrnn":
        get_activation(args["act_fn"])
    return name, args


def _trunc_normal(shape: Sequence[int], std: float, g: torch.Generator) -> torch.Tensor:
    """TF's ``truncated_normal_initializer(stddev=std)``: N(0, std) cut at two stddevs."""
    t = torch.empty(shape)
    torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std, generator=g)
    return t


def rnn_core_params(
    core: Any,
    input_dim: int,
    generator: torch.Generator,
    *,
    trainable_init: bool,
    prefix: str = "rnn",
) -> dict[str, torch.Tensor]:
    """One unbatched parameter set of a core reading ``input_dim`` features (weights [in, out])."""
    name, args = validate_rnn_core(core)
    h, e, g = int(args["core_dim"]), int(input_dim), generator
    p: dict[str, torch.Tensor] = {}
    if name == "vrnn":
        p[f"{prefix}/in_to_hidden/w"] = initialize(args["in_to_hidden"], (e, h), g)
        p[f"{prefix}/in_to_hidden/b"] = torch.zeros(h)
        p[f"{prefix}/hidden_to_hidden/w"] = initialize(args["hidden_to_hidden"], (h, h), g)
        p[f"{prefix}/hidden_to_hidden/b"] = torch.zeros(h)
    elif name == "gru":
        for gate in ("z", "r", "h"):  # Sonnet's variable creation order
            p[f"{prefix}/w{gate}"] = initialize(args[f"w{gate}"], (e, h), g)
            p[f"{prefix}/u{gate}"] = initialize(args[f"u{gate}"], (h, h), g)
            # No bias initializer is passed, so tf.get_variable's glorot_uniform applies.
            p[f"{prefix}/b{gate}"] = initialize(["glorot_uniform", None], (h,), g)
    else:
        p[f"{prefix}/w_gates"] = initialize(args["w_gates"], (e + h, 4 * h), g)
        p[f"{prefix}/b_gates"] = _trunc_normal((4 * h,), 1.0 / math.sqrt(e + h), g)
    if trainable_init:
        p[f"{prefix}/initial_state"] = torch.zeros(h)
        if name == "lstm":
            p[f"{prefix}/initial_cell"] = torch.zeros(h)
    return p


def _initial(
    params: dict[str, torch.Tensor], key: str, n: int, b: int, h: int, like: torch.Tensor
) -> torch.Tensor:
    if key in params:
        return params[key].unsqueeze(1).expand(n, b, h)
    return like.new_zeros(n, b, h)


def rnn_core_apply(
    core: Any, params: dict[str, torch.Tensor], x: torch.Tensor, *, prefix: str = "rnn"
) -> torch.Tensor:
    """Unroll a core over time-major inputs ``x`` [n, T, B, E]; returns outputs [n, T, B, H].

    Input projections of every step are one batched matmul; each step is then one (two for the
    GRU) ``[n, B, H] x [n, H, G]`` product and element-wise gates. Steps read the projections
    through ``unbind`` (one backward copy in total; indexing ``xs[:, t]`` would allocate a full
    zero gradient per step, quadratic in T).
    """
    name, args = validate_rnn_core(core)
    n, t_len, b, e = x.shape
    h_dim = int(args["core_dim"])
    flat = x.reshape(n, t_len * b, e)
    h = _initial(params, f"{prefix}/initial_state", n, b, h_dim, x)
    outs: list[torch.Tensor] = []
    if name == "vrnn":
        act = get_activation(args["act_fn"])
        bias = params[f"{prefix}/in_to_hidden/b"] + params[f"{prefix}/hidden_to_hidden/b"]
        xs = torch.baddbmm(bias.unsqueeze(1), flat, params[f"{prefix}/in_to_hidden/w"])
        xs = xs.view(n, t_len, b, h_dim).unbind(1)
        w_hh = params[f"{prefix}/hidden_to_hidden/w"]
        for t in range(t_len):
            h = act(torch.baddbmm(xs[t], h, w_hh))
            outs.append(h)
    elif name == "gru":
        w = torch.cat([params[f"{prefix}/w{k}"] for k in "zrh"], 2)
        bias = torch.cat([params[f"{prefix}/b{k}"] for k in "zrh"], 1)
        xs = torch.baddbmm(bias.unsqueeze(1), flat, w).view(n, t_len, b, 3 * h_dim).unbind(1)
        u_zr = torch.cat([params[f"{prefix}/uz"], params[f"{prefix}/ur"]], 2)
        u_h = params[f"{prefix}/uh"]
        for t in range(t_len):
            xz, xr, xh = xs[t].split(h_dim, dim=2)
            hz, hr = torch.bmm(h, u_zr).split(h_dim, dim=2)
            z = torch.sigmoid(xz + hz)
            r = torch.sigmoid(xr + hr)
            h_tilde = torch.tanh(torch.baddbmm(xh, r * h, u_h))
            h = (1 - z) * h + z * h_tilde
            outs.append(h)
    else:
        w = params[f"{prefix}/w_gates"]  # rows: inputs first, then the previous hidden state
        w_x, w_h = w[:, :e], w[:, e:]
        xs = torch.baddbmm(params[f"{prefix}/b_gates"].unsqueeze(1), flat, w_x)
        xs = xs.view(n, t_len, b, 4 * h_dim).unbind(1)
        c = _initial(params, f"{prefix}/initial_cell", n, b, h_dim, x)
        for t in range(t_len):
            i, j, f, o = torch.baddbmm(xs[t], h, w_h).split(h_dim, dim=2)
            c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(j)  # forget bias 1.0
            h = torch.tanh(c) * torch.sigmoid(o)
            outs.append(h)
    return torch.stack(outs, 1)


# ------------------------------------------------------------------------------------------ tasks
class RNNSequenceTask(Task):
    """Shared body of the RNN tasks: Embed(vocab, embed_dim) -> core -> Linear(out_dim).

    Embeddings start N(0, 1) (``snt.Embed``'s default), the output layer's weight from ``w_init``
    with a zero bias. The text dataset loads on first use (``batch``/``data_sources``), so building
    a task and counting its parameters is cheap; ``dataset=`` injects any object with TextDataset's
    ``batch(split, batch_size, generator)`` and ``source`` instead.
    """

    def __init__(
        self,
        *,
        dataset_name: str,
        dataset_kwargs: dict[str, Any],
        batch_size: int,
        embed_dim: int,
        vocab_size: int,
        core: Any,
        w_init: Any,
        trainable_init: bool,
        out_dim: int,
        dataset: Any = None,
        name: str = "",
    ):
        for what, v in (
            ("embed_dim", embed_dim),
            ("vocab_size", vocab_size),
            ("batch_size", batch_size),
        ):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{what} must be a positive int, got {v!r}")
        validate_rnn_core(core)
        _check_init(w_init, "w_init")
        self.name = name
        self.dataset_name = dataset_name
        self.dataset_kwargs = dict(dataset_kwargs)
        self.batch_size = int(batch_size)
        self.embed_dim = int(embed_dim)
        self.vocab_size = int(vocab_size)
        self.core = core
        self.hidden = int(core[1]["core_dim"])
        self.w_init = w_init
        self.trainable_init = bool(trainable_init)
        self.out_dim = int(out_dim)
        self._dataset = dataset
        self._device: torch.device | None = None

    @property
    def dataset(self) -> Any:
        if self._dataset is None:
            from taskset_torch.datasets import load_text_dataset

            ds = load_text_dataset(self.dataset_name, **self.dataset_kwargs)
            self._dataset = ds if self._device is None else ds.to(self._device)
        return self._dataset

    def init_params(self, generator: torch.Generator) -> Params:
        p = {"embed/embeddings": torch.randn(self.vocab_size, self.embed_dim, generator=generator)}
        p.update(
            rnn_core_params(
                self.core, self.embed_dim, generator, trainable_init=self.trainable_init
            )
        )
        p["linear/w"] = initialize(self.w_init, (self.hidden, self.out_dim), generator)
        p["linear/b"] = torch.zeros(self.out_dim)
        return p

    def num_params(self) -> int:
        e, h, v, o = self.embed_dim, self.hidden, self.vocab_size, self.out_dim
        core = {
            "vrnn": e * h + h * h + 2 * h,
            "gru": 3 * (e * h + h * h + h),
            "lstm": (e + h + 1) * 4 * h,
        }
        n_init = (2 if self.core[0] == "lstm" else 1) * h if self.trainable_init else 0
        return v * e + core[self.core[0]] + n_init + h * o + o

    def rnn_outputs(self, params: Params, tokens: torch.Tensor) -> torch.Tensor:
        """Core outputs [n, T, B, H] for clipped tokens [B, T] (token ids above the vocab clip)."""
        tokens = tokens.clamp(max=self.vocab_size - 1)
        x = params["embed/embeddings"][:, tokens.t()]  # [n, T, B, E], time-major
        return rnn_core_apply(self.core, params, x)

    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.dataset.batch(split, self.batch_size, generator)

    @property
    def data_sources(self) -> tuple[DataSource, ...]:
        return (self.dataset.source,)

    def to(self, device: torch.device | str) -> RNNSequenceTask:
        self._device = torch.device(device)
        if self._dataset is not None:
            self._dataset = self._dataset.to(device)
        return self
