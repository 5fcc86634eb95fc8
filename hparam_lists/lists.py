"""The hyperparameter list as a product: ordered configs + provenance, JSON I/O, and optimizers.

A list is data (a JSON file of configs of one search space, used by index); :func:`load_list`
reads one, :func:`learn_list` makes one from curves and :func:`optimizer_for_idx` turns an entry
into a ready ``torch.optim`` optimizer.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import taskset_torch
from hparam_lists.greedy import ListObjective, get_objective, greedy_list
from hparam_lists.normalize import Scores, compute_scores
from hparam_lists.published import PUBLISHED_LISTS, published_list_path
from taskset_torch.curves import Curves, parse_seed_name
from taskset_torch.curves.io import atomic_write_text

__all__ = [
    "FORMAT",
    "HParamList",
    "load_list",
    "learn_list",
    "learn_list_from_scores",
    "improving_length",
    "optimizer_for_idx",
    "space_of_names",
    "substitute_data",
    "check_list_fits",
]

FORMAT = "taskset-torch-hparam-list"
FORMAT_VERSION = 1


def space_of_names(names: Iterable[str | None]) -> str | None:
    """The search space shared by ``<space>_seed<N>`` config names, or None if they disagree."""
    spaces = set()
    for name in names:
        parsed = parse_seed_name(name)
        if parsed is None:
            return None
        spaces.add(parsed[0])
    return spaces.pop() if len(spaces) == 1 else None


def _check_jsonable(value: Any, where: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} is not plain JSON data ({e})") from None


@dataclass(frozen=True)
class HParamList:
    """An ordered list of optimizer configs of one search space; entry 0 is tried first.

    ``configs[i]`` holds the hyperparameters only; ``names[i]`` the config's name in its space
    (``nadamw_grid_seed251``) or None. ``provenance`` records how the list was made: search space,
    tasks learned on, objective, score, split and ``taskset_torch.__version__``.
    """

    configs: tuple[dict[str, Any], ...]
    space: str
    names: tuple[str | None, ...] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        configs = tuple(dict(c) for c in self.configs)
        if not configs:
            raise ValueError("a hyperparameter list needs at least one config")
        names = (None,) * len(configs) if self.names is None else tuple(self.names)
        if len(names) != len(configs):
            raise ValueError(f"{len(names)} names for {len(configs)} configs")
        if not isinstance(self.space, str) or not self.space:
            raise ValueError(f"space must be a search-space name, got {self.space!r}")
        for i, cfg in enumerate(configs):
            if "name" in cfg:
                raise ValueError(f"config {i} has a 'name' field; pass names separately")
            _check_jsonable(cfg, f"config {i}")
        _check_jsonable(dict(self.provenance), "provenance")
        object.__setattr__(self, "configs", configs)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "provenance", dict(self.provenance))

    def __len__(self) -> int:
        """The number of entries."""
        return len(self.configs)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        """A copy of entry ``idx``'s hyperparameters; IndexError naming the valid range."""
        if isinstance(idx, bool):
            raise TypeError("list index must be an int, got bool")
        try:
            idx = operator.index(idx)  # ints and numpy integers
        except TypeError:
            raise TypeError(f"list index must be an int, got {type(idx).__name__}") from None
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} out of range for a list of {len(self)} entries")
        return dict(self.configs[idx])

    def head(self, n: int) -> HParamList:
        """The first ``n`` entries (same provenance)."""
        if not 1 <= n <= len(self):
            raise ValueError(f"n must be in 1..{len(self)}, got {n}")
        return HParamList(
            configs=self.configs[:n],
            space=self.space,
            names=self.names[:n],
            provenance=self.provenance,
            description=self.description,
            source=self.source,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The list as this package's JSON document (entries carry their ``name`` if known)."""
        entries = []
        for name, cfg in zip(self.names, self.configs):
            entries.append({"name": name, **cfg} if name is not None else dict(cfg))
        out: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
        if self.description:
            out["description"] = self.description
        if self.source:
            out["source"] = self.source
        out.update({"space": self.space, "provenance": self.provenance, "configs": entries})
        return out

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any], *, origin: str = "<dict>") -> HParamList:
        """Read this package's format, or the published layout (``configs`` with names only)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("configs"), list):
            raise ValueError(f"{origin}: not a hyperparameter list (expected a 'configs' list)")
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT or data.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
            raise ValueError(
                f"{origin}: unsupported list format {fmt!r} version "
                f"{data.get('format_version')!r}; this code reads {FORMAT!r} {FORMAT_VERSION}"
            )
        names, configs = [], []
        for i, entry in enumerate(data["configs"]):
            if not isinstance(entry, Mapping):
                raise ValueError(f"{origin}: configs[{i}] is not an object")
            entry = dict(entry)
            names.append(entry.pop("name", None))
            configs.append(entry)
        space = data.get("space") or space_of_names(names)
        if not space:
            raise ValueError(
                f"{origin}: no 'space' field and the config names do not share a "
                "'<space>_seed<N>' prefix"
            )
        provenance = dict(data.get("provenance", {}))
        for key in ("schedule",):  # keep the published file's extra notes
            if key in data and key not in provenance:
                provenance[key] = data[key]
        return cls(
            configs=tuple(configs),
            space=space,
            names=tuple(names),
            provenance=provenance,
            description=str(data.get("description", "")),
            source=str(data.get("source", "")),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the list as JSON (atomically: a temp file, then rename)."""
        text = json.dumps(self.to_json_dict(), indent=1, allow_nan=False) + "\n"
        return atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike) -> HParamList:
        """Read a list JSON file (ValueError naming the file if it is not one)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return cls.from_json_dict(data, origin=str(path))


@functools.lru_cache(maxsize=8)
def _load_published(name: str) -> HParamList:
    return HParamList.load(published_list_path(name))


def load_list(name_or_path: str | os.PathLike | HParamList) -> HParamList:
    """A published list by name (``"opt_list"``), or a list JSON file by path.

    Args:
        name_or_path: a published name, a path to a list JSON file (as written by
            :meth:`HParamList.save`) or an :class:`HParamList` (returned as is).

    Returns:
        The :class:`HParamList`; FileNotFoundError names the published lists if neither fits.

    Example::

        hlist = load_list("opt_list")          # TaskSet's published nadamw_grid list
        hlist.space, len(hlist), hlist[0]["learning_rate"]
        mine = load_list("runs/my_list.json")  # one written by learn_list(...).save(...)
    """
    if isinstance(name_or_path, HParamList):
        return name_or_path
    if isinstance(name_or_path, str) and name_or_path in PUBLISHED_LISTS:
        return _load_published(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{name_or_path!s} is neither a published list ({', '.join(PUBLISHED_LISTS)}) "
            "nor an existing list file"
        )
    return HParamList.load(path)


def _check_int(value: Any, what: str, *, low: int | None = None) -> int:
    """``value`` as a Python int (numpy integers welcome), or a ValueError naming ``what``."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{what} must be an int, got {value!r}")
    value = operator.index(value)
    if low is not None and value < low:
        raise ValueError(f"{what} must be an int >= {low}, got {value}")
    return value


def optimizer_for_idx(
    params: Any,
    idx: int,
    training_steps: int,
    hparam_list: str | os.PathLike | HParamList = "opt_list",
    *,
    return_scheduler: bool = False,
    **optimizer_kwargs: Any,
) -> Any:
    """A ready ``torch.optim`` optimizer for entry ``idx`` of a list (default: the published one).

    ``params`` is anything ``torch.optim`` accepts (``model.parameters()``, param groups). The
    returned optimizer applies the entry's schedule itself from its own step count (NAdamW's
    warmup + cosine decay over ``training_steps``; Adam8P's decays on TaskSet's 10k-step
    horizon), as opt_list's PyTorch API does: there is no scheduler to forget, and ``param_groups`` hold
    the entry's true hyperparameters (``lr`` is the base rate the schedule scales).

    ``return_scheduler=True`` gives ``(optimizer, scheduler)`` instead: the optimizer runs at a
    constant rate and a ``LambdaLR`` carries the schedule, so ``scheduler.step()`` must follow
    every ``optimizer.step()`` (and ``param_groups`` show the constant-rate config).

    ``optimizer_kwargs`` go to the space's ``torch_optimizer``, e.g. ``warmup_semantics="max"``
    for the warmup of opt_list's PyTorch/JAX ports; the default ``"min"`` is TaskSet's TF code,
    with which the lists were learned. ``idx`` and ``training_steps`` may be numpy integers.

    Example::

        model = torch.nn.Linear(10, 1)
        for idx in range(3):  # try the list's first three entries, best first
            opt = optimizer_for_idx(model.parameters(), idx, training_steps=1000)
            ...  # opt.step() 1000 times; no scheduler to step
        opt, sched = optimizer_for_idx(model.parameters(), 0, 1000, return_scheduler=True)
    """
    if isinstance(idx, bool) or not hasattr(idx, "__index__"):
        raise TypeError(f"idx must be an int, got {type(idx).__name__}")
    training_steps = _check_int(training_steps, "training_steps", low=1)
    hlist = load_list(hparam_list)
    cfg = hlist[operator.index(idx)]
    from taskset_torch.optimizers import get_space

    space = get_space(hlist.space)
    if not return_scheduler:
        opt, _ = space.torch_optimizer(params, cfg, training_steps, **optimizer_kwargs)
        return opt
    # The schedule moves to a LambdaLR: the optimizer runs at the constant base rate.
    multiplier = space.schedule(cfg, training_steps, **optimizer_kwargs)
    constant = space.without_schedule(cfg)
    opt, _ = space.torch_optimizer(params, constant, training_steps, **optimizer_kwargs)
    import torch

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, multiplier)


def substitute_data(curves: Curves, tasks: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Task -> the datasets that a substitute or stand-in served in ``curves`` (from
    ``curves.data_sources``; tasks without substitutes are left out)."""
    sources = curves.data_sources
    out = {}
    for task in curves.tasks if tasks is None else tasks:
        subs = [
            f"{d.get('dataset', '?')} ({d.get('detail') or 'substitute'})"
            for d in sources.get(task, [])
            if isinstance(d, Mapping) and d.get("kind") == "substitute"
        ]
        if subs:
            out[task] = subs
    return out


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0) or (
            math.isnan(float(a)) and math.isnan(float(b))
        )
    return a == b


def _disagreement(name: str, got: Mapping[str, Any], want: Mapping[str, Any]) -> str | None:
    keys = [k for k in dict.fromkeys([*got, *want]) if k not in got or k not in want]
    keys += [k for k in got if k in want and not _same_value(got[k], want[k])]
    if not keys:
        return None
    k = keys[0]
    return f"{name}: {k} = {got.get(k, '<missing>')!r} in the list but {want.get(k, '<missing>')!r}"


def check_list_fits(hlist: HParamList, curves: Curves, *, what: str = "the list") -> None:
    """ValueError unless ``hlist`` can be judged on ``curves``: the same search space, and each
    named entry's hyperparameters equal to the curves' config of that name."""
    if curves.space and hlist.space != curves.space:
        raise ValueError(
            f"{what} is a list of search space {hlist.space!r} but the curves are of space "
            f"{curves.space!r}; evaluate it on curves of {hlist.space!r}"
        )
    if curves.hparams is None:
        return
    index = {c: i for i, c in enumerate(curves.config_names)}
    for i, (name, cfg) in enumerate(zip(hlist.names, hlist.configs)):
        if name is None or name not in index:
            continue
        bad = _disagreement(name, cfg, curves.hparams[index[name]])
        if bad:
            raise ValueError(
                f"{what}: entry {i}'s name and values disagree with the curves ({bad}); the "
                "entry's name does not describe its hyperparameters"
            )


def _hparams_for(curves: Curves, names: Sequence[str]) -> list[dict[str, Any]]:
    if curves.hparams is not None:
        index = {c: i for i, c in enumerate(curves.config_names)}
        return [dict(curves.hparams[index[n]]) for n in names]
    from taskset_torch.optimizers import optimizer_config

    return [dict(optimizer_config(n)) for n in names]


def improving_length(values: Sequence[float] | np.ndarray) -> int:
    """How many leading entries of a greedy list improved its objective.

    The greedy search appends configs while one lowers the objective; once none does, it fills
    the rest of the list with the unused configs in index order (all at the same value). Entries
    from this position on are that filler.
    """
    vals = np.asarray(values, dtype=np.float64)
    if len(vals) == 0:
        return 0
    tol = 1e-12 * np.maximum(1.0, np.abs(vals[:-1]))
    flat = np.flatnonzero(~(vals[1:] < vals[:-1] - tol))
    return int(flat[0]) + 1 if len(flat) else len(vals)


def learn_list(
    curves: Curves,
    *,
    tasks: Sequence[str] | None = None,
    split: str = "valid_inner",
    objective: str | ListObjective = "mean_loss",
    score: str = "mean",
    replicas: str = "mean",
    length: int | None = None,
    norm_ref: str = "auto",
) -> HParamList:
    """Learn a list greedily on ``tasks`` (default: all) of ``curves`` on ``split``.

    Configs not run on every task are left out of the pool. ``length`` defaults to the whole
    pool (a full ranking, like the published list).

    Example::

        hlist = learn_list(curves, tasks=train_tasks, objective="mean_loss", length=50)
        hlist.save("my_list.json")  # later: load_list("my_list.json"), optimizer_for_idx(...)
    """
    if tasks is not None:
        curves = curves.select_tasks(tasks)
    scores = compute_scores(curves, split, score=score, replicas=replicas, norm_ref=norm_ref)
    return learn_list_from_scores(curves, scores, objective=objective, length=length)


def learn_list_from_scores(
    curves: Curves,
    scores: Scores,
    *,
    tasks: Sequence[str] | None = None,
    objective: str | ListObjective = "mean_loss",
    length: int | None = None,
) -> HParamList:
    """:func:`learn_list` on precomputed scores (``curves`` supplies space and hyperparameters)."""
    if tasks is not None:
        scores = scores.select_tasks(tasks)
    scores = scores.complete()
    if scores.n_tasks == 0 or scores.n_configs == 0:
        raise ValueError(f"no (task, config) pair has data on split {scores.split!r}")
    obj = get_objective(objective)
    length = scores.n_configs if length is None else min(int(length), scores.n_configs)
    result = greedy_list(scores, objective=obj, length=length)
    names = [scores.config_names[i] for i in result.indices]
    space = curves.space or space_of_names(names)
    if not space:
        raise ValueError("cannot tell the curves' search space; set Curves.space")
    provenance = {
        "search_space": space,
        "tasks": list(scores.tasks),
        "split": scores.split,
        "objective": obj.describe(),
        "score": scores.score,
        "replicas": scores.replicas,
        "norm_ref": scores.norm_ref,  # what "1" was: the zero optimizer's loss or the step-0 loss
        "norm_ref_step0_tasks": list(scores.step0_tasks),  # zero loss unusable: step-0 kept
        "pool_size": scores.n_configs,
        "objective_values": [float(v) if math.isfinite(v) else None for v in result.values],
        "improving_length": improving_length(result.values),
        "code_version": taskset_torch.__version__,
    }
    substituted = substitute_data(curves, scores.tasks)
    if substituted:  # the list travels with what its curves were trained on
        provenance["substitute_data"] = substituted
    return HParamList(
        configs=tuple(_hparams_for(curves, names)),
        space=space,
        names=tuple(names),
        provenance=provenance,
        description=f"greedy {obj.name} list learned on {scores.n_tasks} tasks ({scores.split})",
    )
