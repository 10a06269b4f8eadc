"""The Rasa model's fingerprint follows exactly the files `rasa train` reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import rasa_model
from assistant.settings import PROJECT_ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("config.yml", "domain.yml", "data", "requirements"):
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    (tmp_path / "README.md").write_text("not a training input")
    return tmp_path


def test_fingerprint_is_stable_and_ignores_files_rasa_does_not_read(project: Path) -> None:
    before = rasa_model.fingerprint(project)
    (project / "README.md").write_text("changed")
    (project / "requirements" / "app.txt").write_text("changed")
    assert rasa_model.fingerprint(project) == before


@pytest.mark.parametrize("changed", ["config.yml", "domain.yml", "data/nlu/search.yml", "requirements/core.txt"])
def test_fingerprint_changes_with_every_training_input(project: Path, changed: str) -> None:
    before = rasa_model.fingerprint(project)
    with (project / changed).open("a") as f:
        f.write("\n# edited\n")
    assert rasa_model.fingerprint(project) != before


def test_fingerprint_changes_with_the_review_data_outside_the_project(project: Path, tmp_path: Path) -> None:
    reviews = tmp_path / "reviews.csv.gz"
    reviews.write_bytes(b"rating,text")
    before = rasa_model.fingerprint(project, external=[reviews])
    reviews.write_bytes(b"rating,text\n5,great")
    assert rasa_model.fingerprint(project, external=[reviews]) != before
    assert rasa_model.fingerprint(project, external=[tmp_path / "gone"]) != before


def test_an_existing_model_for_the_inputs_is_reused_without_training(project: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    expected = rasa_model.model_path(models, project)
    expected.write_bytes(b"model")
    assert expected.name.startswith("shop-") and expected.name.endswith(".tar.gz")
    assert rasa_model.train(models, project) == expected  # would run `rasa train` (and fail here) if stale
