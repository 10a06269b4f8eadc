"""Which Rasa model belongs to the current training inputs, and training it only when there is none.

A model is named `shop-<fingerprint>.tar.gz`, where the fingerprint hashes everything `rasa train` reads (config,
domain, training data, the project's Rasa components, the pinned core requirements, and the
review files the sentiment classifier reads from `REVIEWS_DIR`). So `make train` and `make run`
reuse a model whose inputs have not changed and train a new one when they have, and `rasa run --model` always gets
the model that matches the checkout. Standard library only: runs in both runtimes.

    python -m assistant.rasa_model train    # train if stale (core runtime: needs `rasa` on PATH or beside python)
    python -m assistant.rasa_model path     # print the current model's path (exit 1 if not trained)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.nlu.sentiment_data import REVIEWS_FILE, UCI_FILES
from assistant.settings import PROJECT_ROOT, load_settings

MODEL_PREFIX = "shop-"
KEEP_MODELS = 3
TRAINING_INPUTS = ("config.yml", "domain.yml", "domain", "data", "assistant/nlu", "requirements/core.txt")


def training_files(root: Path = PROJECT_ROOT) -> list[Path]:
    """Every file `rasa train` depends on, in a stable order."""
    files: list[Path] = []
    for name in TRAINING_INPUTS:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return sorted(files)


def external_inputs() -> list[Path]:
    """Training data outside the project that a component reads itself: the sentiment classifier's review files."""
    reviews = load_settings().reviews_dir
    return [reviews / REVIEWS_FILE, *(reviews / name for name in UCI_FILES.values())]


def fingerprint(root: Path = PROJECT_ROOT, external: Sequence[Path] | None = None) -> str:
    digest = hashlib.sha256()
    for path in training_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    for path in external_inputs() if external is None else external:
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path(models_dir: Path, root: Path = PROJECT_ROOT) -> Path:
    return models_dir / f"{MODEL_PREFIX}{fingerprint(root)}.tar.gz"


def _rasa_executable() -> str:
    beside = Path(sys.executable).parent / "rasa"
    return str(beside) if beside.exists() else "rasa"


def train(models_dir: Path, root: Path = PROJECT_ROOT) -> Path:
    """Train a model for the current inputs unless one exists; prune older `shop-*` models. Returns its path."""
    target = model_path(models_dir, root)
    if target.exists():
        print(f"==> Rasa model up to date: {target.relative_to(root) if target.is_relative_to(root) else target}")
        return target
    print(f"==> training the Rasa model ({target.name}); this takes a minute or two")
    started = time.monotonic()
    command = [
        _rasa_executable(),
        "train",
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--data",
        "data",
        "--out",
        str(models_dir),
        "--fixed-model-name",
        target.name.removesuffix(".tar.gz"),
    ]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run(command, cwd=root, env=env, check=False)
    if result.returncode != 0 or not target.exists():
        raise SystemExit(f"error: `{' '.join(command)}` failed (exit {result.returncode}); see its output above")
    print(f"==> trained {target.name} in {time.monotonic() - started:.0f}s")
    old = sorted(models_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in old[KEEP_MODELS:]:
        stale.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant.rasa_model", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["train", "path"])
    args = parser.parse_args(argv)
    models_dir = load_settings().models_dir
    if args.command == "train":
        train(models_dir)
        return 0
    path = model_path(models_dir)
    if not path.exists():
        print(f"error: no Rasa model for the current training data at {path}; run `make train`", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
