"""Command line of the vision package.

python -m retrieval.vision build [--force]     export the image model; for the grocery store (SHOP_STORE=
                                               grocery_store) also import its catalogue and train its matcher
python -m retrieval.vision train DIR [--model auto|head|small-cnn] [--epochs N] [--out DIR]
                                               train a classifier from a folder of labelled photos
python -m retrieval.vision fashion-mnist [--epochs N]
                                               the training command on Fashion-MNIST, beside the published table
python -m retrieval.vision classify PHOTO      what the active store's photo search makes of one photo
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.settings import Settings, SettingsError, Store, load_settings
from catalog.errors import CatalogError
from retrieval.errors import RetrievalError
from retrieval.vision.errors import VisionError

BUILD_VERSION = "2"
"""Part of the grocery matcher's fingerprint: 2 = grouped cross-validation on train, augmented embeddings,
mirrored second pass, nearest-photo refusal. The fingerprint also covers the source of the modules that train the
matcher (`MATCHER_SOURCES`), so a change to them rebuilds it."""
MATCHER_SOURCES = ("grocery.py", "augment.py", "head.py", "photo_search.py", "embeddings.py", "backbone.py")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval.vision", description="photos: model, matching, training")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="export the image model; grocery store: import it and train its matcher")
    build.add_argument("--force", action="store_true")
    train = commands.add_parser("train", help="train a classifier from DIR/<category>/*.jpg (or DIR/train + DIR/test)")
    train.add_argument("folder", type=Path)
    train.add_argument("--model", default="auto", choices=["auto", "head", "small-cnn"])
    train.add_argument("--epochs", type=int, default=12, help="small CNN only")
    train.add_argument("--out", type=Path, default=None, help="artifact folder (default: STATE_DIR/vision/models)")
    fashion = commands.add_parser("fashion-mnist", help="train on Fashion-MNIST and print the published benchmark")
    fashion.add_argument("--epochs", type=int, default=12)
    classify = commands.add_parser("classify", help="labels and matching products of one photo (active store)")
    classify.add_argument("photo", type=Path)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "build":
            return _build(settings, args.force)
        if args.command == "train":
            return _train(settings, args.folder, args.model, args.epochs, args.out)
        if args.command == "fashion-mnist":
            return _fashion_mnist(settings, args.epochs)
        return _classify(settings, args.photo)
    except (SettingsError, VisionError, RetrievalError, CatalogError) as exc:
        print(f"{parser.prog} {args.command}: {exc}", file=sys.stderr)
        return 1


def _build(settings: Settings, force: bool) -> int:
    from retrieval.vision.backbone import DEFAULT_SIZE, DEFAULT_VARIANT, export_onnx

    onnx = export_onnx(DEFAULT_VARIANT, settings.vision_dir / "onnx", DEFAULT_SIZE)
    print(f"image model: {onnx}")
    if settings.store is not Store.GROCERY_STORE:
        return 0
    from catalog.db import make_engine
    from catalog.grocery_store import import_grocery_store
    from catalog.migrate import upgrade
    from retrieval.vision.embeddings import backbone_name
    from retrieval.vision.grocery import (
        COMBINATION_FILE,
        FLIP_TTA,
        accuracy,
        cross_validate,
        fit_head,
        grouped_folds,
        iconic_similarity,
        load_embeddings,
        reference_vectors,
        save_artifacts,
    )
    from retrieval.vision.photo_search import combined_log_proba, nearest_similarity
    from retrieval.vision.service import grocery_artifacts_dir, image_model

    engine = make_engine(settings.database_url)
    upgrade(engine)
    count, skipped = import_grocery_store(engine, settings.grocery_data_dir, force=force)
    print(f"grocery store catalogue: {count} products ({'unchanged' if skipped else 'imported'})")
    folder = grocery_artifacts_dir(settings)
    model = image_model(settings)
    backbone = backbone_name(model)
    data_files = [*sorted(settings.grocery_data_dir.glob("*.txt")), settings.grocery_data_dir / "classes.csv"]
    digest = hashlib.sha256(f"{BUILD_VERSION}:{backbone}".encode())
    for path in [*data_files, *(Path(__file__).parent / name for name in MATCHER_SOURCES)]:
        digest.update(path.read_bytes())
    fingerprint = digest.hexdigest()
    stamp = folder / "fingerprint.txt"
    if not force and stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == fingerprint:
        print(f"grocery matcher: up to date in {folder}")
        return 0
    data = load_embeddings(model, settings.grocery_data_dir, settings.cache_dir / "vision" / "embeddings")
    print("choosing C, weight, temperature and the refusal threshold by grouped 5-fold cross-validation on train")
    tuned = cross_validate(data, backbone, grouped_folds(data.train.embeddings, data.train.fine), flip_tta=FLIP_TTA)
    head = fit_head(data, backbone, tuned.c)
    # `val` is scored once, here, after every choice is made; nothing below feeds back into the choices.
    queries = data.val.queries(FLIP_TTA)
    combined = combined_log_proba(head.log_proba(queries), iconic_similarity(data, queries), tuned.combination)
    refused = nearest_similarity(data.val.embeddings, reference_vectors(data)) < tuned.combination.min_similarity
    score = accuracy(combined, data.val.fine, data.val.coarse, data.coarse_of_class)
    metrics = {
        "cv_top1": tuned.cv.top1,
        "cv_coarse_top1": tuned.cv.coarse_top1,
        "val_top1": score.top1,
        "val_top5": score.top5,
        "val_coarse_top1": score.coarse_top1,
        "val_false_refusals": float(np.mean(refused)),
        "min_similarity": tuned.combination.min_similarity,
    }
    path = save_artifacts(folder, data, head, tuned, metrics)
    stamp.write_text(fingerprint + "\n", encoding="utf-8")
    print(f"grocery matcher: {path.name}, {COMBINATION_FILE}: {json.dumps(metrics)}")
    return 0


def _train(settings: Settings, folder: Path, model: str, epochs: int, out: Path | None) -> int:
    from retrieval.vision.service import image_model
    from retrieval.vision.train import ModelKind, train_folder

    report = train_folder(
        folder,
        out or settings.state_dir / "vision" / "models",
        ModelKind(model),
        model_factory=lambda: image_model(settings),
        cache_dir=settings.cache_dir / "vision" / "embeddings",
        epochs=epochs,
    )
    print(
        f"{report.kind.value}: {report.accuracy:.2%} accuracy on {report.test_photos} {report.test_name} photos "
        f"({len(report.classes)} categories, {report.train_photos} training photos, {report.seconds:.0f} s)"
    )
    print(f"saved {report.artifact} (+ {report.artifact.with_suffix('.json').name})")
    return 0


def _fashion_mnist(settings: Settings, epochs: int) -> int:
    import torch

    from retrieval.vision.fashion_mnist import DEBIAN_DIR, PUBLISHED, export_folders
    from retrieval.vision.train import ModelKind, train_folder

    torch.set_num_threads(2)
    folder = export_folders(DEBIAN_DIR, settings.cache_dir / "datasets" / "fashion-mnist")
    report = train_folder(
        folder, settings.state_dir / "vision" / "models", ModelKind.AUTO, epochs=epochs, name="fashion-mnist"
    )
    rows = [*PUBLISHED, (f"this project: {report.kind.value}, {epochs} epochs", "shift, mirror", report.accuracy)]
    print(f"\nFashion-MNIST test accuracy ({report.test_photos} test images), published benchmark table:")
    for name, preprocessing, accuracy in sorted(rows, key=lambda row: row[2]):
        marker = "  <-- " if name.startswith("this project") else ""
        print(f"  {name:<48}{preprocessing:<32}{accuracy:>7.1%}{marker}")
    print(f"target >= 93%: {'met' if report.accuracy >= 0.93 else 'NOT met'}; {report.seconds:.0f} s in all")
    return 0


def _classify(settings: Settings, photo: Path) -> int:
    from catalog.db import make_engine
    from catalog.repository import SqlProductRepository
    from retrieval.encoder import MiniLMEncoder
    from retrieval.search import FaissProductSearch
    from retrieval.vision.service import build_photo_search
    from retrieval.vision.uploads import sanitise_image

    image = sanitise_image(photo.read_bytes(), settings.max_upload_pixels)
    products = SqlProductRepository(make_engine(settings.database_url))
    text = None
    if settings.store is Store.ONLINE_RETAIL:
        text = FaissProductSearch.from_file(settings.index_path, MiniLMEncoder(), products)
    match = build_photo_search(settings, products, text).search(image, 5)
    print("labels: " + ", ".join(f"{label.name} {label.probability:.0%}" for label in match.labels))
    print(f"looks like: {match.looks_like or '-'}; search phrase: {match.search_phrase or '-'}")
    for hit in match.hits:
        print(f"  {hit.product.sku:<10}{hit.product.title}  ({hit.score:.3f})")
    if not match.hits:
        print("  nothing the store sells looks like this")
    return 0


if __name__ == "__main__":
    sys.exit(main())
