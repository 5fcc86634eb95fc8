"""The ``taskset-torch data`` commands and the environment variables the CLI passes on."""

import json

import numpy as np
import pytest

from taskset_torch import cli
from taskset_torch import datasets as D
from taskset_torch.datasets.idx import write_idx


@pytest.fixture(autouse=True)
def restore_settings():
    yield
    D.set_data_dir(None)
    D.set_allow_substitutes(True)


def test_data_status_json_reads_data_dir_env(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TASKSET_TORCH_DATA", str(tmp_path / "d"))
    monkeypatch.delenv("TASKSET_TORCH_NO_SUBSTITUTES", raising=False)
    assert cli.main(["data", "status", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data_dir"] == str(tmp_path / "d")
    assert out["cifar10"]["kind"] == "substitute" and out["lm1b/bytes"]["dataset"] == "lm1b/bytes"


def test_add_local_then_status(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TASKSET_TORCH_DATA", str(tmp_path / "d"))
    src = tmp_path / "fm"
    src.mkdir()
    rng = np.random.RandomState(0)
    for prefix, n in (("train", 30), ("t10k", 8)):
        write_idx(
            src / f"{prefix}-images-idx3-ubyte", rng.randint(0, 256, (n, 28, 28)).astype(np.uint8)
        )
        write_idx(src / f"{prefix}-labels-idx1-ubyte", rng.randint(0, 10, n).astype(np.uint8))
    assert cli.main(["data", "add-local", "fashion_mnist", str(src)]) == 0
    assert "stored local copy" in capsys.readouterr().out
    assert cli.main(["data", "status"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("fashion_mnist"))
    assert "local" in line and str(src) in line
    assert cli.main(["data", "add-local", "nope", str(src)]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_no_substitutes_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKSET_TORCH_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("TASKSET_TORCH_NO_SUBSTITUTES", "1")
    assert cli.main(["data", "status", "--json"]) == 0  # main() applies the environment
    assert not D.get_allow_substitutes()
    with pytest.raises(D.SubstituteError, match="cifar10"):
        D.load_image_dataset("cifar10")
