"""Download TaskSet's released curves into a curve store: resumable, validated, with retries.

TaskSet released one file per (task, search space) at
``<base>/<task>/<space>_1k_10000_replica5.npz`` (keys ``optimizers``, ``xs``, ``ys``) and the task
list at ``<base>/task_names.txt``. A file lands in the store as
``<store>/<task>/<space>_1k_10000_replica5.npz``, which :class:`~taskset_torch.curves.CurveStore`
reads like its own units. Bytes arrive in ``<file>.partial`` (never read as curves); an interrupted
transfer resumes from there with an HTTP ``Range`` request, and a file is renamed into place only
after it has been validated (npz structure, shapes, config names of the asked space).
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from taskset_torch.curves import CurveStoreError, parse_seed_name, read_taskset_npz

__all__ = [
    "DEFAULT_BASE_URL",
    "RELEASED_SPACES",
    "DownloadError",
    "DownloadReport",
    "released_filename",
    "fetch_task_names",
    "download_curves",
]

#: TaskSet's public bucket over HTTPS (``gs://gresearch/task_set_data``).
DEFAULT_BASE_URL = "https://storage.googleapis.com/gresearch/task_set_data/"

#: Search spaces TaskSet released curves for (1000 configs x 5 replicas x 51 evals x 4 splits).
RELEASED_SPACES: tuple[str, ...] = (
    "adam1p_wide_grid",
    "adam4p_wide_grid",
    "adam6p_wide_grid",
    "adam8p_wide_grid",
    "nadamw_grid",
)

TASK_NAMES_FILE = "task_names.txt"
_CHUNK = 1 << 16
_TASK_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class DownloadError(RuntimeError):
    """A download that cannot complete; the message says which URL and what to do."""


@dataclasses.dataclass
class DownloadReport:
    """What :func:`download_curves` did: files fetched, already present, and bytes moved."""

    fetched: list[Path] = dataclasses.field(default_factory=list)
    present: list[Path] = dataclasses.field(default_factory=list)
    bytes: int = 0


def released_filename(space: str) -> str:
    """``"nadamw_grid"`` -> ``"nadamw_grid_1k_10000_replica5.npz"`` (TaskSet's file name)."""
    if space not in RELEASED_SPACES:
        raise ValueError(
            f"TaskSet released no curves for search space {space!r}; "
            f"valid: {', '.join(RELEASED_SPACES)}"
        )
    return f"{space}_1k_10000_replica5.npz"


def _join(base_url: str, *parts: str) -> str:
    base = base_url if base_url.endswith("/") else base_url + "/"
    return base + "/".join(urllib.parse.quote(p) for p in parts)


def _check_task(name: str) -> str:
    if not _TASK_NAME.match(name) or name in (".", ".."):
        raise ValueError(f"{name!r} is not a task name (letters, digits, '_', '-', '.')")
    return name


def _offline_hint(url: str, err: BaseException) -> str:
    host = urllib.parse.urlsplit(url).netloc or url
    return (
        f"cannot reach {host} ({err}). Offline, or the host is blocked: run where the internet is "
        "reachable, or pass --base-url to a mirror that serves the same layout "
        "(<base>/<task>/<space>_1k_10000_replica5.npz and <base>/task_names.txt)."
    )


def _is_transient(err: BaseException) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code in (408, 425, 429) or 500 <= err.code < 600
    return isinstance(err, (urllib.error.URLError, TimeoutError, ConnectionError))


def _with_retries(
    url: str,
    attempt: Callable[[], None],
    retries: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run ``attempt`` until it succeeds; transient failures wait ``backoff * 2**i`` and retry."""
    for i in range(retries + 1):
        try:
            attempt()
            return
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise DownloadError(f"{url}: not found (HTTP 404)") from None
            if not _is_transient(e) or i == retries:
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            if i == retries:
                reason = getattr(e, "reason", e)
                if isinstance(reason, socket.gaierror | ConnectionRefusedError):
                    raise DownloadError(_offline_hint(url, reason)) from None
                raise DownloadError(f"{url}: failed after {retries + 1} attempts: {e}") from None
        sleep(backoff * (2**i))


def _fetch_to(
    url: str,
    partial: Path,
    timeout: float,
    on_bytes: Callable[[int], None],
) -> int:
    """Fetch ``url`` into ``partial``, resuming from its current size. Returns bytes received."""
    have = partial.stat().st_size if partial.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "taskset-torch"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    received = 0
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the partial is already complete (or the server says so)
            return 0
        raise
    with resp:
        status = resp.status
        mode = "ab" if have and status == 206 else "wb"  # 200 to a Range request: start over
        with open(partial, mode) as f:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                received += len(chunk)
                on_bytes(len(chunk))
        length = resp.headers.get("Content-Length")
    if length is not None and received < int(length):
        raise ConnectionError(f"connection closed after {received} of {length} bytes")
    return received


def _validate(path: Path, task: str, space: str) -> None:
    """Raise :class:`CurveStoreError` unless ``path`` holds TaskSet curves of ``space``."""
    curves = read_taskset_npz(path, task=task, space=space)
    prefixes = {p[0] if p else None for p in map(parse_seed_name, curves.config_names)}
    if prefixes != {space}:
        raise CurveStoreError(
            f"{path}: config names are not {space}_seed<N> (found prefixes {sorted(map(str, prefixes))})"
        )
    if len(set(curves.config_names)) != len(curves.config_names):
        raise CurveStoreError(f"{path}: a config name appears twice")


def fetch_task_names(
    dest_dir: str | os.PathLike,
    base_url: str = DEFAULT_BASE_URL,
    *,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    refresh: bool = False,
) -> list[str]:
    """TaskSet's released task names, fetched once into ``dest_dir/task_names.txt``."""
    dest = Path(dest_dir) / TASK_NAMES_FILE
    if refresh or not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        partial.unlink(missing_ok=True)
        url = _join(base_url, TASK_NAMES_FILE)
        _with_retries(
            url,
            lambda: _fetch_to(url, partial, timeout, lambda n: None),
            retries,
            backoff,
        )
        os.replace(partial, dest)
    names = [ln.strip() for ln in dest.read_text(encoding="utf-8").splitlines() if ln.strip()]
    bad = [n for n in names if not _TASK_NAME.match(n)]
    if bad or not names:
        dest.unlink(missing_ok=True)
        raise DownloadError(
            f"{dest}: not a task list (expected one task name per line; "
            f"{'empty' if not names else f'bad lines such as {bad[:3]}'}); removed it"
        )
    return names


def download_curves(
    store: str | os.PathLike,
    space: str,
    tasks: Sequence[str] | None = None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadReport:
    """Fetch TaskSet's released curves of ``space`` for ``tasks`` (all released tasks if None).

    A file already in the store that validates is kept; one that does not validate is set aside
    (renamed ``*.invalid``) and fetched again. Each new file is validated before it is renamed
    into place, so the store never holds a partial or foreign file under a curve file's name.

    Example::

        download_curves("runs/taskset", "nadamw_grid", ["FixedMLP_cifar10_ce_128x128x128_relu_bs128"])
        CurveStore("runs/taskset").read("FixedMLP_cifar10_ce_128x128x128_relu_bs128", "nadamw_grid")
    """
    filename = released_filename(space)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    root = Path(store)
    if root.exists() and not root.is_dir():
        raise ValueError(f"store {root} exists and is not a directory")
    root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK):
        raise ValueError(f"store {root} is not writable")
    if tasks is None:
        tasks = fetch_task_names(root, base_url, retries=retries, backoff=backoff, timeout=timeout)
    names = list(dict.fromkeys(_check_task(t) for t in tasks))
    report = DownloadReport()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=0, unit="B", unit_scale=True, unit_divisor=1024, desc=f"0/{len(names)} files"
        )

    def on_bytes(n: int) -> None:
        report.bytes += n
        if bar is not None:
            bar.update(n)

    try:
        for i, task in enumerate(names):
            dest = root / task / filename
            if dest.is_file():
                try:
                    _validate(dest, task, space)
                    report.present.append(dest)
                    if bar is not None:
                        bar.set_description(f"{i + 1}/{len(names)} files")
                    continue
                except CurveStoreError as e:
                    aside = dest.with_name(dest.name + ".invalid")
                    os.replace(dest, aside)
                    msg = f"{e}; set aside as {aside.name} and downloading again"
                    (bar.write if bar is not None else print)(msg)
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial = dest.with_name(dest.name + ".partial")
            url = _join(base_url, task, filename)
            _with_retries(
                url,
                lambda url=url, partial=partial: _fetch_to(url, partial, timeout, on_bytes),
                retries,
                backoff,
                sleep,
            )
            try:
                _validate(partial, task, space)
            except CurveStoreError as e:
                partial.unlink(missing_ok=True)
                raise DownloadError(f"{url}: the downloaded file is not valid: {e}") from None
            os.replace(partial, dest)
            report.fetched.append(dest)
            if bar is not None:
                bar.set_description(f"{i + 1}/{len(names)} files")
    finally:
        if bar is not None:
            bar.close()
    return report
