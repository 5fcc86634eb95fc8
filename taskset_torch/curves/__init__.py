"""Training curves: one type (:class:`Curves`), the store, TaskSet's file format, tidy tables.

One path: the trainer's result for a unit of work becomes :meth:`Curves.unit`, which
:meth:`CurveStore.write_unit` writes atomically; :meth:`CurveStore.read` merges a (task, space)'s
units into :class:`Curves` of that task, :func:`combine` (or :meth:`CurveStore.load`) puts tasks
on one grid, and ``hparam_lists`` normalizes and scores those same :class:`Curves`.
:func:`load_curves_dataframe` gives them as a tidy pandas DataFrame. numpy only at import.

Example::

    from taskset_torch.curves import CurveStore, load_curves_dataframe

    store = CurveStore("runs/demo")
    curves = store.load(space="nadamw_grid")      # Curves [task, config, seed, step, split]
    df = load_curves_dataframe(store, "nadamw_grid")
"""

from taskset_torch.curves.frames import (
    TABLE_FORMATS,
    load_curves_dataframe,
    tidy,
    write_curves_table,
)
from taskset_torch.curves.grid import combine
from taskset_torch.curves.io import CurveStoreError, atomic_save_npz
from taskset_torch.curves.merge import DUPLICATE_RTOL, CurveStoreWarning, merge_curves
from taskset_torch.curves.model import SPLITS, Curves, split_index
from taskset_torch.curves.names import config_sort_key, parse_seed_name
from taskset_torch.curves.store import CurveStore, ProtocolMismatch, StoreScan
from taskset_torch.curves.taskset_format import (
    ConfigLookup,
    parse_taskset_filename,
    read_taskset_npz,
    write_taskset_npz,
)

__all__ = [
    "SPLITS",
    "Curves",
    "combine",
    "split_index",
    "CurveStore",
    "CurveStoreError",
    "CurveStoreWarning",
    "ProtocolMismatch",
    "StoreScan",
    "DUPLICATE_RTOL",
    "merge_curves",
    "ConfigLookup",
    "read_taskset_npz",
    "write_taskset_npz",
    "parse_taskset_filename",
    "parse_seed_name",
    "config_sort_key",
    "atomic_save_npz",
    "TABLE_FORMATS",
    "load_curves_dataframe",
    "tidy",
    "write_curves_table",
]
