"""Real archives read in place: IMDB (bytes, TFDS subwords8k), CIFAR-10 JPEGs, English stand-in.

Small archives in the layouts of ../shared/data are made in tmp dirs; one test reads the real
archives when ../shared is present (the full decode is marked slow).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from taskset_torch import cli
from taskset_torch import datasets as D
from taskset_torch.base import SPLITS
from taskset_torch.datasets import archives, text_sources
from taskset_torch.datasets.subwords import TFDSSubwordEncoder

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def make_tar(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


WORDS = "movie film great awful plot actor scene story bad good".split()


def _review(i: int, label: str) -> str:
    rng = np.random.RandomState(i)
    body = " ".join(rng.choice(WORDS, size=20))
    tone = "loved it" if label == "pos" else "hated it"
    return f"  The movie_{i % 3} {body}, {tone}!<br /><br />Überall. \n"


def make_imdb(root: Path, n_train: int = 6, n_test: int = 3) -> tuple[Path, dict]:
    """A small labelled IMDB archive in the shared layout; returns it and {split: [(key, text,
    label)]} in archive order."""
    members = {"imdb-reviews/README.md": b"# IMDb\n"}
    rows: dict[str, list] = {"train": [], "test": []}
    i = 0
    for split, n in (("train", n_train), ("test", n_test)):
        for label in ("pos", "neg"):
            for j in range(n):
                text = _review(i, label)
                if split == "test":
                    text += " zyzzyva zyzzyva zyzzyva zyzzyva"  # only in test: never a subword
                fn = f"{j}_{8 if label == 'pos' else 2}.txt"
                members[f"imdb-reviews/{split}/{label}/{fn}"] = text.encode()
                rows[split].append((f"aclImdb/{split}/{label}/{fn}", text.strip(), label == "pos"))
                i += 1
    path = make_tar(root / "imdb_reviews" / "aclImdb_labelled.tar.gz", members)
    return path, rows


def _tfds_sorted(rows: list, split: str) -> list:
    def key(r):
        return int(hashlib.md5((split + r[0]).encode()).hexdigest(), 16)

    return sorted(rows, key=key)


def _sequences(ds, split: str) -> list[list[int]]:
    r = ds.splits[split]
    return [
        r.tokens[int(o) : int(o) + int(n)].tolist()
        for o, n in zip(r.offsets.tolist(), r.lengths.tolist())
    ]


@pytest.fixture
def search(monkeypatch):
    """Set the archive search path for one test (the suite default is no search)."""

    def set_path(*dirs):
        D.set_search_path([Path(d) for d in dirs])

    yield set_path
    D.set_search_path([])


def test_imdb_archive_is_found_and_bytes_are_taskset_exact(tmp_path, data_dir, search):
    path, rows = make_imdb(tmp_path / "shared" / "data")
    assert archives.detect_archive(path) == "imdb"
    assert D.dataset_status()["imdb_reviews/bytes"].is_substitute  # nothing on the search path
    search(tmp_path / "shared" / "data")
    status = D.dataset_status()["imdb_reviews/bytes"]
    assert status.category == "real" and status.kind == "local"
    assert "imdb_reviews (aclImdb labelled, local copy)" in status.detail
    assert str(path) in status.detail
    ds = D.load_text_dataset("imdb_reviews/bytes", patch_length=8, num_per_valid=2)
    assert ds.source == status and ds.vocab_size == 257 and ds.num_classes == 2
    # Test split: every review, stripped, as UTF-8 bytes + 1, in TFDS's hashed key order.
    want = _tfds_sorted(rows["test"], "test")
    assert _sequences(ds, "test") == [[b + 1 for b in t.encode()] for _, t, _ in want]
    assert ds.labels["test"].tolist() == [int(p) for _, _, p in want]
    # Train split carved in TFDS order: valid_inner = first 2, valid_outer = next 2, train = rest.
    tr = _tfds_sorted(rows["train"], "train")
    assert ds.labels["valid_inner"].tolist() == [int(p) for _, _, p in tr[:2]]
    assert ds.size("train") == len(tr) - 4
    b = ds.batch("train", 5, torch.Generator().manual_seed(0))
    assert b["tokens"].shape == (5, 8) and set(b["label"].tolist()) <= {0, 1}


def test_imdb_subwords_use_tfds_id_layout_from_train_text_and_are_cached(
    tmp_path, data_dir, search, monkeypatch
):
    path, rows = make_imdb(tmp_path / "d", n_train=20)
    search(tmp_path / "d")
    ds = D.load_text_dataset("imdb_reviews/subwords8k", patch_length=16, num_per_valid=3)
    sub = ds.info["subwords"]
    n = len(sub)
    assert ds.vocab_size == 1 + n + 256 and "TFDS subwords8k vocabulary" in ds.source.detail
    # Built from train text only, by TFDS's rule, ordered by descending count.
    train_texts = [t for _, t, _ in _tfds_sorted(rows["train"], "train")]
    assert sub == TFDSSubwordEncoder.build(train_texts).subwords
    assert not any("zyzzyva" in s for s in sub)
    assert sub.index("movie_") < n // 2  # frequent words get small ids
    enc = TFDSSubwordEncoder(sub)
    want = _tfds_sorted(rows["test"], "test")
    seqs = _sequences(ds, "test")
    assert seqs == [enc.encode(t).tolist() for _, t, _ in want]
    assert [enc.decode(s).replace("\\&undsc", "_") for s in seqs] == [t for _, t, _ in want]
    flat = torch.cat([ds.splits[s].tokens for s in SPLITS])
    assert int(flat.min()) >= 1 and int(flat.max()) <= n + 256
    # Unknown text ("zyzzyva") falls back to the byte ids at the end of the vocabulary.
    z = enc.encode("zyzzyva").tolist()
    assert all(i > n for i in z) and z[0] == n + 1 + ord("z")
    # A second process (memo and dataset cache cleared) reads the disk cache, builds nothing.
    D.clear_cache()
    D.clear_archive_memo()

    def no_build(*a, **k):
        raise AssertionError("the vocabulary was rebuilt instead of read from the cache")

    monkeypatch.setattr(text_sources, "build_vocab", no_build)
    again = D.load_text_dataset("imdb_reviews/subwords8k", patch_length=16, num_per_valid=3)
    assert _sequences(again, "test") == seqs and again.info["subwords"] == sub
    assert any(
        p.name.startswith("imdb-subwords8k-vocab-") for p in (data_dir / "archive_cache").iterdir()
    )


def _tfds_reference():
    """TFDS's own SubwordTextEncoder with a stand-in for the two TensorFlow helpers it uses."""
    ste = pytest.importorskip("tensorflow_datasets.core.deprecated.text.subword_text_encoder")
    te = pytest.importorskip("tensorflow_datasets.core.deprecated.text.text_encoder")

    def as_text(x):
        return x.decode("utf-8") if isinstance(x, bytes) else x

    def as_bytes(x):
        return x.encode("utf-8") if isinstance(x, str) else x

    fake = types.SimpleNamespace(compat=types.SimpleNamespace(as_text=as_text, as_bytes=as_bytes))
    return ste, te, fake


def test_subword_encoder_equals_tfds_reference(monkeypatch):
    ste, te, fake = _tfds_reference()
    monkeypatch.setattr(ste, "tf", fake)
    monkeypatch.setattr(te, "tf", fake)
    corpus = [
        "The quick brown fox jumps over the lazy dog. It's 3 o'clock_now!",
        "the dog sleeps; the fox runs, and the fox jumps again!",
        "Über café naïve — 日本語 and русский текст.  Two  spaces",
        "snake_case and a\\&undsc b",
    ] * 30
    for target in (300, 400):
        ref = ste.SubwordTextEncoder.build_from_corpus(corpus, target)
        ours = TFDSSubwordEncoder.build(corpus, target)
        assert ours.subwords == ref.subwords and ours.vocab_size == ref.vocab_size
        for text in corpus[:4] + ["unseen wörds_x  y", "tail_ ", "_", ""]:
            ids = ours.encode(text).tolist()
            assert ids == ref.encode(text)
            assert ours.decode(ids) == ref.decode(ids)


def _jpeg(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _color(c: int) -> tuple[int, int, int]:
    return (20 * c + 10, 240 - 20 * c, 128)


def make_cifar(root: Path, per_class: int = 4) -> Path:
    members = {}
    for split, n in (("train", per_class), ("test", 1)):
        for c, cls in enumerate(archives.CIFAR10_CLASSES):
            for j in range(n):
                members[f"{split}/{cls}/{j:04d}.jpg"] = _jpeg(_color(c))
    return make_tar(root / "cifar10" / "cifar10_jpg.tar.gz", members)


def test_cifar10_archive_decoded_once_shuffled_with_recorded_seed(
    tmp_path, data_dir, search, monkeypatch
):
    path = make_cifar(tmp_path / "shared" / "data")
    search(tmp_path / "shared" / "data")
    status = D.dataset_status()["cifar10"]
    assert status.category == "real" and "cifar10 (JPEG re-encoded local copy)" in status.detail
    assert f"seed {archives.CIFAR10_SHUFFLE_SEED}" in status.detail and str(path) in status.detail
    ds = D.load_image_dataset("cifar10", num_per_valid=5)
    assert ds.source == status and {s: ds.size(s) for s in SPLITS} == {
        "train": 30,
        "valid_inner": 5,
        "valid_outer": 5,
        "test": 10,
    }
    # The class-grouped files are permuted by RandomState(seed) (names sorted first).
    grouped = np.repeat(np.arange(10), 4)
    want = grouped[np.random.RandomState(archives.CIFAR10_SHUFFLE_SEED).permutation(40)]
    got = torch.cat([ds.splits[s]["label"] for s in ("valid_inner", "valid_outer", "train")])
    assert got.tolist() == want.tolist()
    # Pixels: each image is its class colour (JPEG is lossy: within a few levels).
    img = torch.cat([ds.splits[s]["image"] for s in ("valid_inner", "valid_outer", "train")])
    colors = torch.tensor([_color(c) for c in want.tolist()], dtype=torch.float32)
    assert img.shape[1:] == (3, 32, 32) and img.dtype == torch.uint8
    assert (img.float().mean((2, 3)) - colors).abs().max() < 4
    b = ds.batch("test", 4, torch.Generator().manual_seed(0))
    assert b["image"].shape == (4, 3, 32, 32) and 0 <= float(b["image"].min()) <= 1
    # Decoded once: the data dir holds the arrays for later processes, and a new data dir in
    # the same process reuses the decode from memory.
    assert len(list((data_dir / "archive_cache").glob("cifar10-*"))) == 1
    monkeypatch.setattr(archives, "read_cifar10_archive", _no_decode)
    D.set_data_dir(tmp_path / "other")
    again = D.load_image_dataset("cifar10", num_per_valid=5)
    assert torch.equal(again.splits["test"]["image"], ds.splits["test"]["image"])
    # A fresh process (memory cleared) reads the first data dir's copy.
    D.set_data_dir(data_dir)
    D.clear_archive_memo()
    third = D.load_image_dataset("cifar10", num_per_valid=5)
    assert torch.equal(third.splits["train"]["label"], ds.splits["train"]["label"])


def _no_decode(*args, **kwargs):
    raise AssertionError("the archive was decoded again instead of reusing the decoded copy")


def make_sotu(root: Path) -> Path:
    members = {"LICENSE": b"PDDL-1.0\n"}
    for k, (year, who) in enumerate(
        [(1790, "george_washington_n"), (1850, "zachary_taylor_w"), (1901, "theodore_roosevelt_r"),
         (1950, "harry_s_truman_d"), (1990, "george_bush_r"), (2021, "joseph_r_biden_d")]
    ):  # fmt: skip
        sents = [f"In {year} address {k} sentence {j} speaks of the Union and its people." for j in range(40)]  # fmt: skip
        members[f"data/{year}_{who}.txt"] = " ".join(sents).encode()
    return make_tar(root / "english_text" / "sotu_1790_2021.tar.gz", members)


def test_english_prose_is_the_labelled_stand_in(tmp_path, data_dir, search):
    path = make_sotu(tmp_path / "data")
    search(tmp_path / "data")
    status = D.dataset_status()
    lm = status["lm1b/bytes"]
    assert lm.kind == "stand-in" and lm.category == "stand-in"
    assert lm.detail.startswith("english_text:sotu (stand-in for lm1b)") and str(path) in lm.detail
    assert (
        "stand-in for wikipedia ru, English text"
        in status["tokenized_wikipedia/20190301.ru_subwords8k"].detail
    )
    assert status["imdb_reviews/bytes"].is_stand_in  # no IMDB archive: English prose stands in
    assert status["cifar10"].is_substitute
    ds = D.load_text_dataset("lm1b/bytes", patch_length=12)
    assert ds.source.is_stand_in and "num_per_valid 3000->" in ds.source.detail
    text = D.ByteEncoder().decode(_sequences(ds, "test")[0])
    assert text.startswith("In ") and text.endswith("people.")
    amazon = D.load_text_dataset(
        "tokenized_amazon_reviews/Books_v1_02_subwords8k", patch_length=6, num_per_valid=20
    )
    assert amazon.num_classes == 5 and set(amazon.labels["train"].tolist()) == set(range(5))
    assert amazon.vocab_size == 1 + len(amazon.info["subwords"]) + 256
    with pytest.raises(D.SubstituteError, match="stand-in for lm1b"):
        D.load_text_dataset("lm1b/bytes", patch_length=4, allow_substitute=False)


def test_add_local_accepts_the_archives_as_they_are(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TASKSET_TORCH_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("TASKSET_TORCH_SEARCH_PATH", "")  # nothing found without add-local
    monkeypatch.delenv("TASKSET_TORCH_NO_SUBSTITUTES", raising=False)
    imdb, _ = make_imdb(tmp_path / "a", n_train=15)
    cifar = make_cifar(tmp_path / "a", per_class=2)
    sotu = make_sotu(tmp_path / "a")
    try:
        assert cli.main(["data", "add-local", "imdb_reviews", str(imdb)]) == 0
        out = capsys.readouterr().out
        assert "imdb_reviews/bytes: stored local copy (real)" in out
        assert "imdb_reviews/subwords8k: stored local copy (real)" in out
        assert cli.main(["data", "add-local", "cifar10", str(cifar)]) == 0
        assert cli.main(["data", "add-local", "lm1b/subwords8k", str(sotu)]) == 0
        assert "stored local copy (stand-in)" in capsys.readouterr().out
        assert cli.main(["data", "add-local", "cifar10", str(imdb)]) == 2
        assert "serves imdb_reviews/bytes, imdb_reviews/subwords8k" in capsys.readouterr().err
        assert cli.main(["data", "status"]) == 0
        lines = {x.split()[0]: x for x in capsys.readouterr().out.splitlines()[2:-1]}
        assert lines["cifar10"].split()[1] == "real" and str(cifar) in lines["cifar10"]
        assert lines["imdb_reviews/subwords8k"].split()[1] == "real"
        assert lines["lm1b/subwords8k"].split()[1] == "stand-in"
        assert lines["lm1b/bytes"].split()[1] == "substitute"
        assert cli.main(["data", "status", "--json"]) == 0
        js = json.loads(capsys.readouterr().out)
        assert js["search_path"] == [] and js["imdb_reviews/bytes"]["category"] == "real"
        # A registered copy serves curves with the archive named in its detail.
        ds = D.load_image_dataset("cifar10", num_per_valid=2)
        assert ds.source.kind == "local" and "JPEG re-encoded local copy" in ds.source.detail
    finally:
        D.set_data_dir(None)
        D.set_search_path([])


def test_default_search_path_is_the_shared_folder_beside_the_repository():
    want = [SHARED_DATA] if SHARED_DATA.is_dir() else []
    assert [p.resolve() for p in D.default_search_path()] == [p.resolve() for p in want]
    with pytest.raises(TypeError, match="list of directories"):
        D.set_search_path("/tmp")


needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "README_real_datasets.md").is_file(), reason="../shared/data not present"
)


@needs_shared
def test_real_archives_are_recognised_in_place():
    D.set_search_path(None)
    try:
        found = {k: archives.find_archive(k) for k in archives.ARCHIVES}
    finally:
        D.set_search_path([])
    assert all(p is not None for p in found.values()), found
    assert {k: archives.detect_archive(p) for k, p in found.items()} == {
        "imdb": "imdb",
        "cifar10": "cifar10",
        "sotu": "sotu",
    }
    docs = archives.read_sotu_archive(found["sotu"])
    assert len(docs) == 233 and docs[0][0] == 1790 and docs[-1][0] == 2021


_FRESH = """
from taskset_torch import datasets as D
D.set_data_dir({data!r})
s = D.dataset_status()
print(s["cifar10"].category, s["imdb_reviews/subwords8k"].category, s["lm1b/bytes"].category)
print(s["cifar10"].detail)
"""


@needs_shared
@pytest.mark.slow  # a fresh interpreter importing torch: several seconds
def test_fresh_process_finds_the_real_data_without_a_manual_step(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _FRESH.format(data=str(tmp_path / "d"))],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "real real stand-in"
    assert "cifar10 (JPEG re-encoded local copy)" in lines[1] and "cifar10_jpg.tar.gz" in lines[1]


@needs_shared
@pytest.mark.slow
def test_real_archives_full_decode(tmp_path, data_dir):
    D.set_search_path(None)
    try:
        imdb = D.load_text_dataset("imdb_reviews/bytes", patch_length=8)
        cifar = D.load_image_dataset("cifar10")
    finally:
        D.set_search_path([])
    assert imdb.size("test") == 25000 and imdb.size("train") == 25000 - 2 * 3000
    assert int(imdb.labels["test"].sum()) == 12500
    assert cifar.size("test") == 10000 and cifar.size("train") == 40000
    means = cifar.splits["train"]["image"].float().mean((0, 2, 3)) / 255
    assert torch.allclose(means, torch.tensor([0.4914, 0.4822, 0.4465]), atol=0.01)
    labels = cifar.splits["valid_inner"]["label"]
    assert labels.bincount(minlength=10).min() > 400  # shuffled: no class-grouped split


def test_search_path_from_the_environment(tmp_path, monkeypatch, capsys):
    make_cifar(tmp_path / "a" / "b", per_class=1)
    monkeypatch.setenv("TASKSET_TORCH_DATA", str(tmp_path / "d"))
    monkeypatch.setenv(
        "TASKSET_TORCH_SEARCH_PATH", f"{tmp_path / 'nothing'}:{tmp_path / 'a' / 'b'}"
    )
    monkeypatch.delenv("TASKSET_TORCH_NO_SUBSTITUTES", raising=False)
    try:
        assert cli.main(["data", "status", "--json"]) == 0
        js = json.loads(capsys.readouterr().out)
        assert js["search_path"] == [str(tmp_path / "nothing"), str(tmp_path / "a" / "b")]
        assert js["cifar10"]["category"] == "real" and js["lm1b/bytes"]["category"] == "substitute"
    finally:
        D.set_data_dir(None)
        D.set_search_path([])
