"""Loading never touches the network: no socket is opened, and it works with no network at all."""

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from taskset_torch import datasets as D

REPO = Path(__file__).resolve().parents[1]


def test_loaders_open_no_socket(data_dir, monkeypatch):
    opened = []

    def refuse(*args, **kwargs):
        opened.append(args)
        raise OSError("network access attempted while loading data")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    g = torch.Generator().manual_seed(0)
    D.load_image_dataset("food101_32x32").batch("train", 4, g)
    D.load_image_dataset("mnist").batch("test", 4, g)
    D.load_text_dataset("tokenized_wikipedia/20190301.ru_subwords8k", patch_length=8).batch(
        "valid_inner", 4, g
    )
    D.dataset_status()
    assert opened == []


_SCRIPT = """
import torch
from taskset_torch import datasets as D
D.set_data_dir({data!r})
D.set_search_path([])  # the substitutes, whether or not ../shared/data is there
g = torch.Generator().manual_seed(0)
a = D.load_image_dataset("cifar10")
t = D.load_text_dataset("lm1b/bytes", patch_length=16)
print(a.batch("train", 2, g)["image"].shape, t.batch("test", 2, g)["tokens"].shape, a.source.kind)
"""


def test_loaders_work_in_a_namespace_without_network(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.decode().strip()}")
    script = _SCRIPT.format(data=str(tmp_path / "data"))
    out = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "torch.Size([2, 3, 32, 32]) torch.Size([2, 16]) substitute" in out.stdout
