"""The training command: folder layouts, refusals that say what is wrong, and real training runs (slow)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog.grocery_store import read_products, read_split
from retrieval.vision.backbone import ImageModel
from retrieval.vision.errors import InvalidTrainingData
from retrieval.vision.fashion_mnist import CLASSES, DEBIAN_DIR, read_idx
from retrieval.vision.head import LinearHead
from retrieval.vision.train import ModelKind, choose_kind, read_training_folder, train_folder
from tests.retrieval.vision import images


def write_photos(folder: Path, count: int, image: Image.Image) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        image.save(folder / f"{n}.jpg")


def test_one_folder_per_category_holds_out_a_fifth_of_each(tmp_path: Path) -> None:
    write_photos(tmp_path / "mugs", 10, images.coffee())
    write_photos(tmp_path / "cats", 5, images.chelsea())
    (tmp_path / "notes.txt").write_text("ignored")
    data = read_training_folder(tmp_path)
    assert data.classes == ["cats", "mugs"] and data.test_name == "held out (20%)"
    assert len(data.test) == 3 and len(data.train) == 12
    assert {label for _, label in data.test} == {0, 1}
    assert read_training_folder(tmp_path).test == data.test  # seeded


def test_a_given_train_and_test_split_is_used(tmp_path: Path) -> None:
    write_photos(tmp_path / "train" / "mugs", 3, images.coffee())
    write_photos(tmp_path / "train" / "cats", 3, images.chelsea())
    write_photos(tmp_path / "test" / "cats", 2, images.chelsea())
    data = read_training_folder(tmp_path)
    assert data.test_name == "test" and len(data.train) == 6 and [label for _, label in data.test] == [0, 0]
    write_photos(tmp_path / "test" / "dogs", 1, images.chelsea())
    with pytest.raises(InvalidTrainingData, match="dogs"):
        read_training_folder(tmp_path)


def test_bad_folders_say_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(InvalidTrainingData, match="not a folder"):
        read_training_folder(tmp_path / "missing")
    write_photos(tmp_path / "only-one", 4, images.coffee())
    with pytest.raises(InvalidTrainingData, match="at least 2"):
        read_training_folder(tmp_path)


def test_small_grey_images_get_the_small_cnn(tmp_path: Path) -> None:
    write_photos(tmp_path / "a", 2, Image.new("L", (28, 28)))
    write_photos(tmp_path / "b", 2, Image.new("L", (28, 28), 255))
    assert choose_kind(read_training_folder(tmp_path)) is ModelKind.SMALL_CNN
    write_photos(tmp_path / "c", 2, images.coffee())
    big = read_training_folder(tmp_path)
    assert choose_kind(big) is (ModelKind.SMALL_CNN if big.train[0][0].parent.name == "a" else ModelKind.HEAD)


@pytest.mark.slow
def test_a_head_trained_on_real_shelf_photos_is_saved_with_its_accuracy(
    tmp_path: Path, onnx_model: ImageModel, grocery_dir: Path
) -> None:
    wanted = {p.class_id: p.name for p in read_products(grocery_dir) if p.name in {"Banana", "Lime", "Oatly-Oat-Milk"}}
    for photo in read_split(grocery_dir, "train"):
        if photo.class_id in wanted and len(list((tmp_path / "shop" / wanted[photo.class_id]).glob("*"))) < 12:
            (tmp_path / "shop" / wanted[photo.class_id]).mkdir(parents=True, exist_ok=True)
            shutil.copy(photo.path, tmp_path / "shop" / wanted[photo.class_id] / photo.path.name)
    lines: list[str] = []
    report = train_folder(tmp_path / "shop", tmp_path / "out", model_factory=lambda: onnx_model, log=lines.append)
    assert (
        report.kind is ModelKind.HEAD
        and report.test_photos == 6
        and report.train_photos == 30
        and report.accuracy >= 0.8
    )
    assert report.artifact == tmp_path / "out" / "shop-v1.npz" and "3 categories" in lines[0]
    head = LinearHead.load(report.artifact)
    assert (
        head.info.classes == ["Banana", "Lime", "Oatly-Oat-Milk"] and head.info.metrics["accuracy"] == report.accuracy
    )
    again = train_folder(tmp_path / "shop", tmp_path / "out", model_factory=lambda: onnx_model, log=lines.append)
    assert again.artifact.name == "shop-v2.npz"


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="apt-get install -y dataset-fashion-mnist")
def test_the_small_cnn_learns_fashion_mnist(tmp_path: Path) -> None:
    """One epoch on 3,000 real Fashion-MNIST images: far above chance (10%) on 500 test images."""
    x, y = read_idx(DEBIAN_DIR, "train")
    xt, yt = read_idx(DEBIAN_DIR, "test")
    for split, (xs, ys) in {"train": (x[:3000], y[:3000]), "test": (xt[:500], yt[:500])}.items():
        for n, (image, label) in enumerate(zip(xs, ys, strict=True)):
            folder = tmp_path / "fm" / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(image)).save(folder / f"{n}.png")
    report = train_folder(tmp_path / "fm", tmp_path / "out", epochs=1, progress=False, log=lambda _: None)
    assert report.kind is ModelKind.SMALL_CNN and report.accuracy > 0.6
    assert (tmp_path / "out" / "fm-v1.pt").is_file() and (tmp_path / "out" / "fm-v1.json").is_file()
