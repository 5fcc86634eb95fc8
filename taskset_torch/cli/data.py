"""``data`` and ``download``: dataset sources and the environment that sets them; TaskSet's curves."""

from __future__ import annotations

import argparse
import os
import sys

from taskset_torch.cli._common import print_json
from taskset_torch.cli._errors import CLIError

__all__ = ["add_data_commands", "add_download_command", "apply_data_env", "no_substitutes"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def no_substitutes() -> bool:
    """TASKSET_TORCH_NO_SUBSTITUTES as a switch: 1/true/yes/on, or 0/false/no/off/unset."""
    raw = os.environ.get("TASKSET_TORCH_NO_SUBSTITUTES", "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CLIError(
        f"TASKSET_TORCH_NO_SUBSTITUTES={raw!r} is not a switch; use 1/true/yes/on to refuse "
        "substitute data, 0/false/no/off (or unset) to allow it"
    )


def apply_data_env() -> None:
    """Pass TASKSET_TORCH_DATA, TASKSET_TORCH_SEARCH_PATH and TASKSET_TORCH_NO_SUBSTITUTES to the
    dataset library."""
    data_dir = os.environ.get("TASKSET_TORCH_DATA")
    search = os.environ.get("TASKSET_TORCH_SEARCH_PATH")
    no_subs = no_substitutes()
    if not data_dir and search is None and "TASKSET_TORCH_NO_SUBSTITUTES" not in os.environ:
        return
    from taskset_torch import datasets

    if search is not None:  # os.pathsep-separated directories; empty: no archive search
        datasets.set_search_path([p for p in search.split(os.pathsep) if p])
    if data_dir:
        datasets.set_data_dir(data_dir)
    if "TASKSET_TORCH_NO_SUBSTITUTES" in os.environ:  # 0/off says "allow" just as 1/on refuses
        datasets.set_allow_substitutes(not no_subs)


def _cmd_data_status(args: argparse.Namespace) -> None:
    from taskset_torch.datasets import dataset_status, get_data_dir, get_search_path

    status = dataset_status()
    search = [str(p) for p in get_search_path()]
    if args.json:
        print_json(
            {
                "data_dir": str(get_data_dir()),
                "search_path": search,
                **{k: {**v.to_json(), "category": v.category} for k, v in status.items()},
            }
        )
        return
    print(f"data dir: {get_data_dir()}")
    print(f"archive search path: {os.pathsep.join(search) or '(none)'}")
    width = max(len(k) for k in status)
    for name, src in status.items():
        detail = (
            src.detail
            if src.kind != "local" or "local copy" in src.detail
            else (f"local copy {src.detail}")
        )
        print(f"{name:<{width}}  {src.category:<10}  {detail}")
    counts = {c: sum(s.category == c for s in status.values()) for c in ("real", "stand-in")}
    n_sub = len(status) - counts["real"] - counts["stand-in"]
    print(
        f"{counts['real']} of {len(status)} datasets real; {counts['stand-in']} stand-in "
        f"(real data of another kind); {n_sub} substituted"
    )


def _cmd_data_prepare(args: argparse.Namespace) -> None:
    from taskset_torch.datasets import dataset_names, prepare_dataset

    names = dataset_names() if args.names == ["all"] else args.names
    failed = []
    for name in names:
        try:
            src = prepare_dataset(name)
        except KeyError as e:
            raise CLIError(str(e.args[0])) from None
        except Exception as e:  # noqa: BLE001 - report every failure, keep preparing the rest
            failed.append(name)
            print(f"{name}: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        print(f"{name}: prepared ({src.kind}: {src.detail})")
    if failed:
        raise CLIError(f"could not prepare {', '.join(failed)}")


def _cmd_data_add_local(args: argparse.Namespace) -> None:
    from taskset_torch.datasets import add_local_dataset

    # "imdb_reviews" names both encodings the IMDB archive serves.
    names = (
        ["imdb_reviews/bytes", "imdb_reviews/subwords8k"]
        if args.name == "imdb_reviews"
        else [args.name]
    )
    for name in names:
        try:
            src = add_local_dataset(name, args.path)
        except KeyError as e:
            raise CLIError(str(e.args[0])) from None
        except (OSError, ValueError) as e:
            raise CLIError(str(e)) from None
        except EOFError as e:  # numpy on an empty or cut-off file
            raise CLIError(f"{args.path}: empty or truncated file ({e})") from None
        print(f"{name}: stored local copy ({src.category}) from {src.detail}")


def add_data_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``data status``, ``data prepare`` and ``data add-local``."""
    p = sub.add_parser(
        "data",
        help="dataset sources: status, prepare (TFDS download), add-local",
        description="Data dir: $TASKSET_TORCH_DATA (default ~/.cache/taskset_torch). "
        "Real archives (IMDB, CIFAR-10 JPEGs, State of the Union prose) are found in place on "
        "the archive search path: $TASKSET_TORCH_SEARCH_PATH (directories; default: shared/data "
        "beside the repository when it exists). "
        "TASKSET_TORCH_NO_SUBSTITUTES=1 makes any substituted or stand-in dataset an error.",
    )
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("status", help="which source serves each dataset TaskSet uses")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_cmd_data_status)
    q = dsub.add_parser("prepare", help="download through TFDS and store plain arrays")
    q.add_argument("names", nargs="+", metavar="NAME", help="dataset names, or 'all'")
    q.set_defaults(func=_cmd_data_prepare)
    q = dsub.add_parser(
        "add-local",
        help="store a real local copy (IDX files, .npz, text, or the IMDB / CIFAR-10 / State of "
        "the Union archives as they are)",
    )
    q.add_argument(
        "name",
        metavar="NAME",
        help="dataset name, e.g. mnist, cifar10, imdb_reviews (both encodings)",
    )
    q.add_argument("path", metavar="PATH", help="directory or file holding the data")
    q.set_defaults(func=_cmd_data_add_local)


def _cmd_download(args: argparse.Namespace) -> int:
    from taskset_torch.download import DEFAULT_BASE_URL, DownloadError, download_curves

    if not args.all and not args.tasks:
        raise CLIError("give --tasks NAME ... or --all (every task in TaskSet's task_names.txt)")
    try:
        rep = download_curves(
            args.store,
            args.space,
            None if args.all else args.tasks,
            base_url=args.base_url or DEFAULT_BASE_URL,
            retries=args.retries,
            progress=not args.quiet,
        )
    except DownloadError as e:
        raise CLIError(
            f"{e}\nfinished files are kept; rerun the same command to resume", code=1
        ) from None
    mb = rep.bytes / 2**20
    print(
        f"{len(rep.fetched)} files downloaded ({mb:.1f} MiB), {len(rep.present)} already in "
        f"{args.store}"
    )
    return 0


def add_download_command(sub: argparse._SubParsersAction) -> None:
    """Add ``download`` (TaskSet's released curves into a store)."""
    from taskset_torch.download import DEFAULT_BASE_URL, RELEASED_SPACES

    p = sub.add_parser(
        "download",
        help="fetch TaskSet's released curves (<task>/<space>_1k_10000_replica5.npz) into a store",
        description="Fetch TaskSet's released curves over HTTPS into a curve store: resumable "
        "(rerun the same command), each file validated before it counts, retries with backoff.",
    )
    p.add_argument("--space", required=True, help=f"one of {', '.join(RELEASED_SPACES)}")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tasks", nargs="+", metavar="TASK", help="task names to fetch")
    g.add_argument("--all", action="store_true", help="every task of TaskSet's task_names.txt")
    p.add_argument("--store", required=True, help="curve store directory")
    p.add_argument(
        "--base-url", default=None, help=f"base URL or mirror (default {DEFAULT_BASE_URL})"
    )
    p.add_argument("--retries", type=int, default=4, help="retries per file (default 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_download)
