"""Downloading released curves over real HTTP from a local server that serves TaskSet's layout."""

from __future__ import annotations

import http.server
import io
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from taskset_torch.cli import main
from taskset_torch.curves import CurveStore
from taskset_torch.download import (
    DownloadError,
    download_curves,
    fetch_task_names,
    released_filename,
)

SPACE = "nadamw_grid"
TASKS = ("FixedMLP_mnist_ce_128x128x128_relu_bs128", "mlp_family_seed3")


def _npz_bytes(seed: int, space: str = SPACE, n_configs: int = 3) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    np.savez(
        buf,
        optimizers=np.array([f"{space}_seed{i}".encode() for i in range(n_configs)]),
        xs=np.arange(0, 10001, 200),
        ys=rng.random((n_configs, 2, 51, 4)).astype(np.float32),
    )
    return buf.getvalue()


class _Server:
    """Serves ``files`` (URL path -> bytes) with Range support and scripted failures."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.failures: dict[str, list[str]] = {}  # path -> actions for the next requests
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                server.requests.append((path, self.headers.get("Range")))
                action = (
                    server.failures.get(path, [None]).pop(0) if server.failures.get(path) else None
                )
                if action == "503":
                    self.send_error(503, "busy")
                    return
                if path not in server.files:
                    self.send_error(404, "no such file")
                    return
                body = server.files[path]
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if action == "truncate":  # half the body, then the connection drops
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/task_set_data/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def put(self, task: str, data: bytes, space: str = SPACE) -> str:
        path = f"/task_set_data/{task}/{released_filename(space)}"
        self.files[path] = data
        return path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    for i, t in enumerate(TASKS):
        s.put(t, _npz_bytes(i))
    s.files["/task_set_data/task_names.txt"] = ("\n".join(TASKS) + "\n").encode()
    yield s
    s.close()


def _no_sleep(_: float) -> None:
    pass


def test_download_lands_in_the_store_and_a_rerun_fetches_nothing(server, tmp_path):
    rep = download_curves(tmp_path, SPACE, TASKS, base_url=server.url, progress=False)
    assert len(rep.fetched) == 2 and not rep.present and rep.bytes > 0
    store = CurveStore(tmp_path)
    assert store.tasks(SPACE) == sorted(TASKS)
    c = store.read(TASKS[0], SPACE)
    assert c.values.shape == (1, 3, 2, 51, 4)
    orig = server.files[f"/task_set_data/{TASKS[0]}/{released_filename(SPACE)}"]
    with np.load(io.BytesIO(orig), allow_pickle=False) as z:
        np.testing.assert_array_equal(c.values[0], z["ys"])
    n = len(server.requests)
    again = download_curves(tmp_path, SPACE, TASKS, base_url=server.url, progress=False)
    assert not again.fetched and len(again.present) == 2 and again.bytes == 0
    assert len(server.requests) == n  # nothing asked of the server
    assert not list(tmp_path.rglob("*.partial"))


def test_all_tasks_come_from_the_released_task_list(server, tmp_path):
    rep = download_curves(tmp_path, SPACE, None, base_url=server.url, progress=False)
    assert sorted(p.parent.name for p in rep.fetched) == sorted(TASKS)
    assert fetch_task_names(tmp_path, server.url) == list(TASKS)  # cached copy


def test_transient_errors_are_retried(server, tmp_path):
    path = f"/task_set_data/{TASKS[0]}/{released_filename(SPACE)}"
    server.failures[path] = ["503", "503"]
    waits: list[float] = []
    rep = download_curves(
        tmp_path,
        SPACE,
        TASKS[:1],
        base_url=server.url,
        progress=False,
        sleep=waits.append,
        backoff=0.5,
    )
    assert len(rep.fetched) == 1
    assert waits == [0.5, 1.0]  # exponential backoff


def test_a_dropped_connection_resumes_with_a_range_request(server, tmp_path):
    path = f"/task_set_data/{TASKS[0]}/{released_filename(SPACE)}"
    server.failures[path] = ["truncate"]
    download_curves(
        tmp_path, SPACE, TASKS[:1], base_url=server.url, progress=False, sleep=_no_sleep
    )
    ranges = [r for p, r in server.requests if p == path]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert int(ranges[1][6:-1]) == len(server.files[path]) // 2  # resumed where it stopped
    got = (tmp_path / TASKS[0] / released_filename(SPACE)).read_bytes()
    assert got == server.files[path]


def test_an_interrupted_download_never_counts_as_present(server, tmp_path):
    path = f"/task_set_data/{TASKS[0]}/{released_filename(SPACE)}"
    server.failures[path] = ["truncate"]
    with pytest.raises(DownloadError, match="failed after 1 attempts"):
        download_curves(tmp_path, SPACE, TASKS[:1], base_url=server.url, progress=False, retries=0)
    assert (tmp_path / TASKS[0] / (released_filename(SPACE) + ".partial")).exists()
    assert CurveStore(tmp_path).tasks(SPACE) == []  # the partial is not a curve file
    rep = download_curves(tmp_path, SPACE, TASKS[:1], base_url=server.url, progress=False)
    assert len(rep.fetched) == 1 and CurveStore(tmp_path).tasks(SPACE) == [TASKS[0]]


def test_invalid_files_are_refused_and_corrupt_ones_replaced(server, tmp_path):
    server.put(TASKS[0], b"this is not an npz file")
    with pytest.raises(DownloadError, match="not valid"):
        download_curves(tmp_path, SPACE, TASKS[:1], base_url=server.url, progress=False)
    assert not list((tmp_path / TASKS[0]).iterdir())
    # a file of another search space under this space's name is refused too
    server.put(TASKS[0], _npz_bytes(0, space="adam8p_wide_grid"))
    with pytest.raises(DownloadError, match="not nadamw_grid_seed"):
        download_curves(tmp_path, SPACE, TASKS[:1], base_url=server.url, progress=False)
    # a corrupt file already in the store is set aside and fetched again
    server.put(TASKS[0], _npz_bytes(0))
    dest = tmp_path / TASKS[0] / released_filename(SPACE)
    dest.write_bytes(b"")
    rep = download_curves(tmp_path, SPACE, TASKS[:1], base_url=server.url, progress=False)
    assert rep.fetched == [dest] and dest.with_name(dest.name + ".invalid").exists()


def test_missing_files_and_offline_hosts_are_clear_errors(server, tmp_path):
    with pytest.raises(DownloadError, match="not found"):
        download_curves(tmp_path, SPACE, ["no_such_task"], base_url=server.url, progress=False)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach 127.0.0.1"):
        download_curves(
            tmp_path,
            SPACE,
            TASKS[:1],
            base_url=f"http://127.0.0.1:{port}/",
            progress=False,
            retries=0,
        )
    with pytest.raises(ValueError, match="valid: adam1p_wide_grid"):
        download_curves(tmp_path, "adagrad_wide_grid", TASKS, base_url=server.url)
    with pytest.raises(ValueError, match="not a task name"):
        download_curves(tmp_path, SPACE, ["../etc"], base_url=server.url)


def test_cli_download(server, tmp_path, capsys):
    store = tmp_path / "store"
    rc = main(
        [
            "download",
            "--space",
            SPACE,
            "--tasks",
            *TASKS,
            "--store",
            str(store),
            "--base-url",
            server.url,
            "--quiet",
        ]
    )
    assert rc == 0
    assert "2 files downloaded" in capsys.readouterr().out
    assert CurveStore(store).tasks(SPACE) == sorted(TASKS)
    assert main(["download", "--space", "adagrad_wide_grid", "--all", "--store", str(store)]) == 2
    assert "valid: adam1p_wide_grid" in capsys.readouterr().err
    rc = main(
        [
            "download",
            "--space",
            SPACE,
            "--tasks",
            "nope",
            "--store",
            str(store),
            "--base-url",
            server.url,
            "--quiet",
        ]
    )
    assert rc == 1
    assert "not found" in capsys.readouterr().err
    Path(tmp_path / "afile").write_text("x")
    assert main(["download", "--space", SPACE, "--all", "--store", str(tmp_path / "afile")]) == 2
