"""Every user mistake of issue 8's list ends in a message and an exit status, never a traceback.

Exit statuses: 2 for a usage error (the command line asks for something invalid or absent), 1 for
a failure (what was asked could not be done), 130 for Ctrl-C, 141 when the output pipe closed.
Most cases run ``main`` in-process (a traceback would escape as an exception); broken pipes,
Ctrl-C and file-size limits need a child process.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from taskset_torch.cli import main

REPO = Path(__file__).resolve().parents[1]
GEN = [
    "generate",
    "quadratic_family_seed1",
    "--space",
    "adam1p_wide_grid",
    "--configs",
    "0-1",
    "--steps",
    "4",
    "--eval-every",
    "2",
    "--eval-batches",
    "1",
    "--quiet",
]


@pytest.fixture(autouse=True)
def _dataset_settings(data_dir):
    """Commands here may switch substitutes off process-wide; the data_dir fixture restores it."""
    yield


def _store_with_curves(root: Path) -> Path:
    from taskset_torch.curves import Curves, CurveStore

    store = CurveStore(root)
    rng = np.random.RandomState(0)
    for t in range(3):
        names = [f"adam1p_wide_grid_seed{i}" for i in range(4)]
        store.write_unit(
            Curves.unit(f"quadratic_family_seed{t}", "adam1p_wide_grid", 0, names, hparams=[{"learning_rate": 10.0 ** -i} for i in range(4)], steps=[0, 2, 4], values=rng.rand(4, 3, 4).astype(np.float32) + np.arange(3, 0, -1)[:, None], time_per_step=np.full(4, 0.01), data_sources=[{"dataset": "quadratic", "kind": "synthetic"}], meta={})
        )  # fmt: skip
    return root


def _cases(tmp: Path) -> list[tuple[str, list[str], dict, int, str]]:
    """(id, argv, environment, exit status, text the message must hold)."""
    a_file = tmp / "a_file"
    a_file.write_text("")
    empty = tmp / "empty.npz"
    empty.write_bytes(b"")
    store = str(_store_with_curves(tmp / "store"))
    empty_dir = tmp / "empty_store"
    empty_dir.mkdir()
    learn = ["learn", "--store", store, "--space", "adam1p_wide_grid"]
    return [
        ("steps 0", [*GEN, "--steps", "0"], {}, 2, "--steps: must be a positive integer"),
        ("steps -5", [*GEN, "--steps", "-5"], {}, 2, "--steps: must be a positive integer"),
        ("eval-every 0", [*GEN, "--eval-every", "0"], {}, 2, "--eval-every: must be a positive"),
        ("eval-batches 0", [*GEN, "--eval-batches", "0"], {}, 2, "--eval-batches: must be a"),
        ("chunk 0", [*GEN, "--chunk", "0"], {}, 2, "--chunk: must be a positive integer"),
        ("chunk -1", [*GEN, "--chunk", "-1"], {}, 2, "--chunk: must be a positive integer"),
        ("device tpu", [*GEN, "--device", "tpu"], {}, 2, "unknown --device 'tpu'; valid: cpu"),
        ("device mps", [*GEN, "--device", "mps"], {}, 2, "no Apple MPS device"),
        (
            "bad ray address",
            [*GEN, "--backend", "ray", "--ray-address", "not an address"],
            {},
            2,
            "is not a Ray address",
        ),
        ("ray address, local", [*GEN, "--ray-address", "auto"], {}, 2, "needs --backend ray"),
        ("store is a file", [*GEN, "--store", str(a_file)], {}, 1, "must be a directory"),
        ("optimizer as task", ["tasks", "adam8p_wide_grid_seed3"], {}, 2, "is an optimizer config"),
        ("learn out dir", [*learn, "--out", str(tmp / "no" / "l.json")], {}, 2, "does not exist"),
        ("learn bootstrap", [*learn, "--out", "x", "--bootstrap", "-5"], {}, 2, "non-negative"),
        (
            "export out dir",
            ["export", "--format", "optuna", "--out", str(tmp / "no" / "e.json")],
            {},
            2,
            "does not exist",
        ),
        ("add-local empty", ["data", "add-local", "mnist", str(empty)], {}, 2, "empty or trunc"),
        (
            "no substitutes",
            ["generate", "mlp_family_seed1", "--steps", "2", "--store", str(tmp / "s2"), "--quiet"],
            {"TASKSET_TORCH_NO_SUBSTITUTES": "1"},
            1,
            "substitutes are disallowed",
        ),
        (
            "no substitutes: not a switch",
            ["tasks", "quadratic_family_seed1"],
            {"TASKSET_TORCH_NO_SUBSTITUTES": "maybe"},
            2,
            "is not a switch",
        ),
        ("configs -1", [*GEN, "--configs=-1"], {}, 2, "values must be non-negative"),
        (
            "missing store",
            [*learn[:2], str(tmp / "nope"), *learn[3:], "--out", "x"],
            {},
            1,
            "no such",
        ),
        ("empty store", [*learn[:2], str(empty_dir), *learn[3:], "--out", "x"], {}, 1, "is empty"),
        (
            "absent space",
            ["learn", "--store", store, "--space", "nadamw_grid", "--out", "x"],
            {},
            1,
            "holds no curves of space 'nadamw_grid'; it holds adam1p_wide_grid",
        ),
    ]


def test_every_listed_mistake_gets_a_message_and_its_exit_status(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TASKSET_TORCH_DATA", str(tmp_path / "data"))
    failures = []
    for name, argv, env, code, text in _cases(tmp_path):
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            if "--store" not in argv and argv[0] == "generate":
                argv = [*argv, "--store", str(tmp_path / "gen")]
            try:
                got = main(argv)
            except BaseException as e:  # a traceback would end here
                failures.append(f"{name}: raised {type(e).__name__}: {e}")
                continue
            err = capsys.readouterr().err
            if got != code or text not in err or "Traceback" in err:
                failures.append(f"{name}: exit {got} (want {code}), stderr {err[-300:]!r}")
    assert not failures, "\n".join(failures)
    assert not list((tmp_path / "gen").rglob("*.npz"))  # nothing was trained by a bad command


def _child(argv, **kw):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **kw.pop("env", {})}
    cmd = [sys.executable, "-m", "taskset_torch.cli", *argv]
    return subprocess.Popen(cmd, env=env, cwd=kw.pop("cwd", REPO), text=True, **kw)


def test_a_closed_output_pipe_ends_quietly():
    """`taskset-torch config NAME | head`: the reader went away before the output came."""
    proc = _child(["config", "mlp_family_seed12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # nobody reads: the child's write fails with EPIPE
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_ctrl_c_during_start_up_exits_130_without_a_traceback():
    checked = 0
    for delay in (0.7, 1.5):
        proc = _child(["tasks", "--family", "quadratic"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.PIPE)  # fmt: skip
        time.sleep(delay)
        if proc.poll() is not None:  # a fast machine finished first: nothing to interrupt
            proc.communicate()
            continue
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        # -SIGINT: interrupted before Python installed its handler (no traceback either).
        assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, err)
        checked += 1
    if not checked:
        pytest.skip("the command finished before any interrupt")


def _limit_file_size():  # runs in the child: files may not grow past 4 KiB (like a full disk)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_store_that_cannot_take_a_unit_fails_before_training(tmp_path):
    store = tmp_path / "store"
    proc = _child([*GEN, "--configs", "0-99", "--store", str(store)], stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, preexec_fn=_limit_file_size)  # fmt: skip
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "cannot write curves here (File too large)" in err and "Traceback" not in err
    assert not list(store.rglob("*.npz")) and not [p for p in store.rglob("*") if p.is_file()]


def test_a_read_only_store_fails_before_training(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root ignores permissions; /sys is read-only for it
            ro = Path("/sys/taskset_torch_store")
            if os.access("/sys", os.W_OK) and not ro.exists():
                try:
                    ro.mkdir()
                except OSError:
                    pass
                else:
                    ro.rmdir()
                    pytest.skip("no read-only directory available to this user")
        code = main([*GEN, "--store", str(ro / "store")])
    finally:
        (tmp_path / "ro").chmod(0o755)
    err = capsys.readouterr().err
    assert code == 1 and "cannot write curves here" in err, err
