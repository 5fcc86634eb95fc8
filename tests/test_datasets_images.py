"""Image datasets: local IDX/npz copies, prepared caches, substitutes, augmentation, batches."""

import colorsys

import numpy as np
import pytest
import torch

from taskset_torch import datasets as D
from taskset_torch.base import SPLITS
from taskset_torch.datasets.augment import augment_images, hsv_to_rgb, rgb_to_hsv
from taskset_torch.datasets.idx import read_idx, write_idx
from taskset_torch.datasets.images import resize_bicubic

AUG0 = {
    "crop_amount": 0,
    "flip_left_right": False,
    "flip_up_down": False,
    "do_color_aug": False,
    "brightness": 0.0,
    "saturation": 0.0,
    "hue": 0.0,
    "contrast": 0.0,
}


def _fake_mnist(n, seed):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 10, n).astype(np.uint8)
    # Each image encodes its label as its brightness, so label/image alignment is checkable.
    images = np.repeat((labels * 20 + 5).astype(np.uint8)[:, None, None], 28, 1).repeat(28, 2)
    return images, labels


def _write_mnist_dir(d, n_train=40, n_test=12, compress=False):
    d.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if compress else ""
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = _fake_mnist(n, seed)
        write_idx(d / f"{prefix}-images-idx3-ubyte{ext}", images, compress=compress)
        write_idx(d / f"{prefix}-labels-idx1-ubyte{ext}", labels, compress=compress)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_roundtrip(tmp_path, compress):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx", a, compress=compress)
    assert np.array_equal(read_idx(tmp_path / "a.idx"), a)
    f = np.linspace(-1, 1, 6, dtype=np.float32)
    write_idx(tmp_path / "f.idx", f)
    assert np.array_equal(read_idx(tmp_path / "f.idx"), f)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


def test_local_idx_directory_serves_mnist(data_dir):
    _write_mnist_dir(data_dir / "local" / "mnist", compress=True)
    assert D.dataset_status()["mnist"].kind == "local"
    ds = D.load_image_dataset("mnist", num_per_valid=5)
    assert ds.source.kind == "local" and ds.num_classes == 10 and ds.image_shape == (1, 28, 28)
    assert {s: ds.size(s) for s in SPLITS} == {
        "train": 30,
        "valid_inner": 5,
        "valid_outer": 5,
        "test": 12,
    }
    b = ds.batch("train", 16, torch.Generator().manual_seed(0))
    assert b["image"].shape == (16, 1, 28, 28) and b["image"].dtype == torch.float32
    assert b["label"].dtype == torch.int64
    # Alignment: brightness (label * 20 + 5) / 255 everywhere in the image.
    want = (b["label"].float() * 20 + 5) / 255
    assert torch.allclose(b["image"].amax(dim=(1, 2, 3)), want)
    assert float(b["image"].min()) >= 0 and float(b["image"].max()) <= 1
    # Same generator seed, same batch; the in-process cache serves a second load.
    b2 = ds.batch("train", 16, torch.Generator().manual_seed(0))
    assert torch.equal(b["image"], b2["image"])
    ds2 = D.load_image_dataset("mnist", num_per_valid=5)
    assert ds2.splits["test"]["image"].data_ptr() == ds.splits["test"]["image"].data_ptr()


def test_add_local_npz_then_prepared_cache(data_dir, tmp_path):
    rng = np.random.RandomState(0)
    x = rng.randint(0, 256, (30, 32, 32, 3)).astype(np.uint8)  # NHWC, as Keras/TFDS store it
    y = rng.randint(0, 10, 30)
    np.savez(tmp_path / "c.npz", x_train=x, y_train=y, x_test=x[:6], y_test=y[:6])
    src = D.add_local_dataset("cifar10", tmp_path / "c.npz")
    assert src.kind == "local"
    ds = D.load_image_dataset("cifar10", num_per_valid=4, num_train=7)
    assert ds.source.kind == "local" and str(tmp_path / "c.npz") in ds.source.detail
    assert ds.size("train") == 7 and ds.size("test") == 6
    # valid_inner is the first num_per_valid training images, stored NCHW.
    assert np.array_equal(ds.splits["valid_inner"]["image"].numpy(), x[:4].transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match="3 channels"):
        np.savez(tmp_path / "g.npz", x_train=x[..., 0], y_train=y)
        D.add_local_dataset("cifar10", tmp_path / "g.npz")
    with pytest.raises(ValueError, match="classes"):
        np.savez(tmp_path / "l.npz", x_train=x, y_train=y + 10)
        D.add_local_dataset("cifar10", tmp_path / "l.npz")


def test_substitute_is_labelled_and_can_be_refused(data_dir):
    ds = D.load_image_dataset("cifar100", augmentation=None)
    assert ds.source.is_substitute and "digits" in ds.source.detail
    assert ds.image_shape == (3, 32, 32) and ds.num_classes == 100
    with pytest.raises(D.SubstituteError, match="cifar100.*data prepare cifar100"):
        D.load_image_dataset("cifar100", allow_substitute=False)
    D.set_allow_substitutes(False)
    with pytest.raises(D.SubstituteError):
        D.load_image_dataset("sun397_32x32")
    assert D.load_image_dataset("sun397_32x32", allow_substitute=True).source.is_substitute


def test_unknown_names_and_bad_arguments(data_dir):
    with pytest.raises(KeyError, match="unknown image dataset 'cifar11'"):
        D.load_image_dataset("cifar11")
    ds = D.load_image_dataset("mnist")
    with pytest.raises(ValueError, match="unknown split"):
        ds.batch("validation", 2, torch.Generator())
    with pytest.raises(ValueError, match="batch_size"):
        ds.batch("train", 0, torch.Generator())
    with pytest.raises(ValueError, match="crop_amount"):
        D.load_image_dataset("mnist", augmentation={**AUG0, "crop_amount": 40})
    with pytest.raises(ValueError, match="unknown keys"):
        D.load_image_dataset("mnist", augmentation={**AUG0, "zoom": 2})


def test_augmentation_shapes_crop_and_flips():
    g = torch.Generator().manual_seed(0)
    img = torch.arange(6 * 6, dtype=torch.float32).reshape(1, 1, 6, 6).repeat(500, 1, 1, 1)
    out = augment_images(img, {**AUG0, "crop_amount": 2}, g)
    assert out.shape == (500, 1, 4, 4)
    # Every crop is a contiguous window at an offset in [0, 2] x [0, 2]; all 9 occur.
    offsets = {(int(v) // 6, int(v) % 6) for v in out[:, 0, 0, 0]}
    assert offsets == {(r, c) for r in range(3) for c in range(3)}
    assert torch.equal(out[:, 0, 1:, :] - out[:, 0, :-1, :], torch.full((500, 3, 4), 6.0))
    flipped = augment_images(img, {**AUG0, "flip_left_right": True}, g)
    is_flipped = flipped[:, 0, 0, 0] == 5
    assert torch.equal(flipped[is_flipped], img[is_flipped].flip(-1))
    assert torch.equal(flipped[~is_flipped], img[~is_flipped])
    assert 150 < int(is_flipped.sum()) < 350
    ud = augment_images(img, {**AUG0, "flip_up_down": True}, g)
    assert {float(v) for v in ud[:, 0, 0, 0]} == {0.0, 30.0}


def test_colour_augmentation():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(64, 3, 5, 5, generator=g)
    hsv = rgb_to_hsv(img)
    assert torch.allclose(hsv_to_rgb(hsv), img, atol=1e-5)
    for b, i in [(0, 0), (5, 3), (17, 2)]:
        want = colorsys.rgb_to_hsv(*img[b, :, i, i].tolist())
        assert torch.allclose(hsv[b, :, i, i], torch.tensor(want), atol=1e-5)
    # Zero-strength colour jitter is the identity; grey images are unchanged by hue/saturation.
    same = augment_images(img, {**AUG0, "do_color_aug": True}, g)
    assert torch.allclose(same, img, atol=1e-5)
    grey = torch.rand(8, 1, 5, 5, generator=g).repeat(1, 3, 1, 1)
    cfg = {**AUG0, "do_color_aug": True, "saturation": 0.9, "hue": 0.4}
    assert torch.allclose(augment_images(grey, cfg, g), grey, atol=1e-5)
    # Brightness shifts each image by one constant in [-b, b] (values kept inside [0, 1] here,
    # since the HSV steps that follow cannot represent negative values).
    img = 0.25 + 0.5 * img
    out = augment_images(img, {**AUG0, "do_color_aug": True, "brightness": 0.2}, g)
    delta = (out - img).flatten(1)
    assert torch.allclose(delta, delta[:, :1].expand_as(delta), atol=1e-5)
    assert float(delta.abs().max()) <= 0.2 + 1e-6 and float(delta.std()) > 0.01
    # Contrast keeps each channel's mean.
    out = augment_images(img, {**AUG0, "do_color_aug": True, "contrast": 0.9}, g)
    assert torch.allclose(out.mean(dim=(2, 3)), img.mean(dim=(2, 3)), atol=1e-5)
    # Single-channel images get no colour jitter.
    one = img[:, :1]
    cfg = {**AUG0, "do_color_aug": True, "brightness": 0.2, "contrast": 0.5}
    assert torch.equal(augment_images(one, cfg, g), one)


def test_dataset_applies_augmentation_and_centering(data_dir):
    aug = {**AUG0, "crop_amount": 1, "flip_left_right": True, "do_color_aug": True,
           "brightness": 0.1, "saturation": 0.5, "hue": 0.1, "contrast": 0.3}  # fmt: skip
    ds = D.load_image_dataset("cifar10", augmentation=aug, center=True)
    assert ds.image_shape == (3, 31, 31)
    for split in SPLITS:
        b = ds.batch(split, 8, torch.Generator().manual_seed(1))
        assert b["image"].shape == (8, 3, 31, 31)
    plain = D.load_image_dataset("mnist", center=True)
    x = plain.batch("test", 64, torch.Generator().manual_seed(2))["image"]
    assert float(x.min()) >= -1 and float(x.max()) <= 1 and float(x.min()) < -0.5


def test_resize_bicubic():
    const = np.full((2, 3, 20, 30), 77, dtype=np.uint8)
    assert np.array_equal(resize_bicubic(const, 8, 8), np.full((2, 3, 8, 8), 77, np.uint8))
    ramp = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))[None, None]
    small = resize_bicubic(ramp, 16, 16)[0, 0]
    assert small.shape == (16, 16) and np.all(np.diff(small[5].astype(int)) > 0)


def test_status_lists_every_taskset_dataset(data_dir):
    status = D.dataset_status()
    assert set(status) == set(D.IMAGE_SPECS) | set(D.TEXT_SPECS)
    assert len(D.IMAGE_SPECS) == 12 and len(D.TEXT_SPECS) == 22
    assert all(s.kind in {"real", "local", "substitute"} for s in status.values())


def test_prepared_cache_overwrites_atomically(data_dir):
    from taskset_torch.datasets import cache

    def arrays(v):
        return {"train": {"image": np.full((2, 1, 28, 28), v, np.uint8), "label": np.zeros(2)}}

    meta = {"source_kind": "local", "detail": "test"}
    cache.write_prepared("mnist", arrays(1), meta)
    cache.write_prepared("mnist", arrays(2), meta)
    got, m, vocab = cache.read_prepared("mnist")
    assert int(got["train"]["image"].max()) == 2 and m["source_kind"] == "local" and vocab is None
    assert [p.name for p in (data_dir / "prepared").iterdir()] == ["mnist"]
    with pytest.raises(ValueError, match="expected format"):
        (data_dir / "prepared" / "cifar10").mkdir()
        (data_dir / "prepared" / "mnist" / "meta.json").rename(
            data_dir / "prepared" / "cifar10" / "meta.json"
        )
        cache.read_prepared("cifar10")
