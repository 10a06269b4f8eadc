"""The serving artifact: read from the catalog DB, built once per catalog import and code version, loaded back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, delete

from catalog.models import ImportRunRow
from recsys import artifact
from recsys.artifact import ensure_artifact, load_artifact, meta_path, model_path, read_meta
from recsys.errors import ModelNotBuilt, RecsysUnavailable
from recsys.interactions import PurchaseLog, load_purchase_log
from recsys.recommender import Goal
from recsys.service import RecommendationService
from tests.recsys.conftest import TITLES, set_import_fingerprint, synthetic_records


def test_the_catalog_reads_back_as_the_same_purchase_log(catalog_engine: Engine) -> None:
    from_db = load_purchase_log(catalog_engine)
    expected = PurchaseLog.from_records(synthetic_records(), TITLES)
    for column in ("product", "quantity", "time", "customer"):
        assert np.array_equal(getattr(from_db, column), getattr(expected, column)), column
    assert list(from_db.invoice_nos[from_db.invoice]) == list(expected.invoice_nos[expected.invoice])
    assert from_db.titles[5] == TITLES[5]


def test_built_once_then_skipped_until_the_catalog_changes(catalog_engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "recsys"
    first = ensure_artifact(catalog_engine, folder)
    assert first.built and first.path.exists() and first.path.parent == folder
    assert first.meta.customers == 30 and first.meta.version == artifact.RECSYS_VERSION
    assert first.meta.models["buy_again"].startswith("GradientBoostedRerankRecommender(goal=buy_again")
    stamp = first.path.stat().st_mtime_ns

    again = ensure_artifact(catalog_engine, folder)
    assert not again.built and again.path == first.path and again.meta == first.meta
    assert first.path.stat().st_mtime_ns == stamp

    set_import_fingerprint(catalog_engine, "fp-2")
    changed = ensure_artifact(catalog_engine, folder)
    assert changed.built and changed.path != first.path
    assert not first.path.exists() and not meta_path(folder, first.meta.fingerprint).exists(), "old one removed"

    forced = ensure_artifact(catalog_engine, folder, force=True)
    assert forced.built and forced.path == changed.path


def test_a_new_code_version_rebuilds(catalog_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ensure_artifact(catalog_engine, tmp_path)
    monkeypatch.setattr(artifact, "RECSYS_VERSION", "test-next")
    second = ensure_artifact(catalog_engine, tmp_path)
    assert second.built and second.meta.fingerprint != first.meta.fingerprint


def test_the_service_loads_the_artifact(catalog_engine: Engine, tmp_path: Path) -> None:
    report = ensure_artifact(catalog_engine, tmp_path)
    service = RecommendationService.load(tmp_path)
    assert service.meta == report.meta
    assert service.knows("12000") and not service.knows("99999")
    assert len(service.recommend("12000", Goal.BUY_AGAIN, 5)) == 5
    pinned = RecommendationService.load(tmp_path, fingerprint=report.meta.fingerprint)
    assert pinned.meta == report.meta


def test_no_artifact_means_model_not_built_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelNotBuilt, match="run `make build`"):
        load_artifact(tmp_path / "missing")
    with pytest.raises(ModelNotBuilt):
        RecommendationService.load(tmp_path)


def test_an_artifact_of_another_catalog_is_not_loaded_when_a_fingerprint_is_asked(
    catalog_engine: Engine, tmp_path: Path
) -> None:
    ensure_artifact(catalog_engine, tmp_path)
    with pytest.raises(ModelNotBuilt, match="fingerprint"):
        load_artifact(tmp_path, fingerprint="0" * 64)


def test_a_broken_artifact_is_unavailable_not_a_crash_and_the_build_replaces_it(
    catalog_engine: Engine, tmp_path: Path
) -> None:
    report = ensure_artifact(catalog_engine, tmp_path)
    model_path(tmp_path, report.meta.fingerprint).write_bytes(b"not a pickle")
    with pytest.raises(RecsysUnavailable, match="make build"):
        load_artifact(tmp_path)
    assert ensure_artifact(catalog_engine, tmp_path).built
    load_artifact(tmp_path)


def test_an_artifact_of_an_older_code_version_is_ignored(catalog_engine: Engine, tmp_path: Path) -> None:
    report = ensure_artifact(catalog_engine, tmp_path)
    path = meta_path(tmp_path, report.meta.fingerprint)
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": "0"}))
    assert read_meta(tmp_path) is None
    with pytest.raises(ModelNotBuilt):
        load_artifact(tmp_path)


def test_a_catalog_without_imports_cannot_be_trained_on(catalog_engine: Engine, tmp_path: Path) -> None:
    with catalog_engine.begin() as connection:
        connection.execute(delete(ImportRunRow))
    with pytest.raises(RecsysUnavailable, match="make build"):
        ensure_artifact(catalog_engine, tmp_path)
