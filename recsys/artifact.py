"""The serving artifact: the chosen models trained on all purchases, saved once per catalog import and code version.

`model-<fingerprint>.pkl` (the fitted models) + `model-<fingerprint>.json` (what was built, from what, how long it
took) in one folder. The fingerprint digests the catalog's import fingerprints (table `import_runs`) and
`RECSYS_VERSION`, so `ensure_artifact` rebuilds only when the store's data or the training code changed (or when the
existing pickle no longer loads). The pickle is written by this code on this machine and read back by it; a version
or format mismatch means "rebuild".
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from catalog.models import ImportRunRow
from recsys.errors import ModelNotBuilt, RecsysUnavailable
from recsys.interactions import Interactions, load_purchase_log, to_datetime
from recsys.recommender import Goal
from recsys.recommenders.item_knn import ItemKnnRecommender
from recsys.recommenders.rerank import BoostingSettings, GradientBoostedRerankRecommender, SignalSettings, fit_rerankers

RECSYS_VERSION = "1"
"""Part of the fingerprint: bump it when training code or the chosen hyper-parameters change."""
PREFIX = "model-"

SERVING_SIGNALS = SignalSettings()
"""Hyper-parameters of the served models, chosen on the validation weeks (`bench/recsys_quality.py`)."""
SERVING_BOOSTING = BoostingSettings()
SERVING_NEIGHBOURS = 100


@dataclass
class ServingModels:
    """What the assistant serves from: one re-ranker per list, and item-item neighbours."""

    buy_again: GradientBoostedRerankRecommender
    discover: GradientBoostedRerankRecommender
    neighbours: ItemKnnRecommender
    """Similar items, frequently bought together, and cold start from the items a shopper looked at."""


@dataclass(frozen=True)
class ArtifactMeta:
    fingerprint: str
    catalog_fingerprint: str
    version: str
    built_at: str
    data_until: str
    """Time of the last purchase trained on."""
    customers: int
    products: int
    train_seconds: float
    models: dict[str, str]


@dataclass(frozen=True)
class BuildReport:
    meta: ArtifactMeta
    path: Path
    built: bool
    """False when an artifact with this fingerprint existed and nothing was trained."""
    seconds: float


def catalog_fingerprint(engine: Engine) -> str:
    """Digest of every import the catalog recorded (`import_runs.fingerprint`). Raises `RecsysUnavailable`."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(ImportRunRow.source, ImportRunRow.fingerprint).order_by(ImportRunRow.source)
            ).all()
    except SQLAlchemyError as exc:
        raise RecsysUnavailable(f"reading the catalog's imports failed: {exc}") from exc
    if not rows:
        raise RecsysUnavailable("nothing has been imported into the catalog yet; run `make build`")
    return hashlib.sha256("".join(f"{source}\0{fp}\n" for source, fp in rows).encode()).hexdigest()


def artifact_fingerprint(catalog_fp: str) -> str:
    return hashlib.sha256(f"recsys v{RECSYS_VERSION}\0{catalog_fp}".encode()).hexdigest()


def model_path(directory: Path, fingerprint: str) -> Path:
    return directory / f"{PREFIX}{fingerprint[:16]}.pkl"


def meta_path(directory: Path, fingerprint: str) -> Path:
    return directory / f"{PREFIX}{fingerprint[:16]}.json"


def train_serving_models(interactions: Interactions) -> ServingModels:
    """Fit the serving models on `interactions` (all purchases, for the artifact); the re-rankers' lists of known
    customers are computed here once, so serving a customer is a look-up (see `precompute`)."""
    rerankers = fit_rerankers(
        interactions, [Goal.BUY_AGAIN, Goal.DISCOVER], boosting=SERVING_BOOSTING, signals=SERVING_SIGNALS
    )
    for model in rerankers.values():
        model.precompute()
    neighbours = ItemKnnRecommender(neighbours=SERVING_NEIGHBOURS)
    neighbours.fit(interactions)
    return ServingModels(rerankers[Goal.BUY_AGAIN], rerankers[Goal.DISCOVER], neighbours)


def read_meta(directory: Path, fingerprint: str | None = None) -> ArtifactMeta | None:
    """The meta of the artifact with `fingerprint`, or of the newest one of this code version; None if none."""
    candidates = [meta_path(directory, fingerprint)] if fingerprint else sorted(directory.glob(f"{PREFIX}*.json"))
    metas = []
    for path in candidates:
        try:
            meta = ArtifactMeta(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if meta.version == RECSYS_VERSION and (fingerprint is None or meta.fingerprint == fingerprint):
            metas.append(meta)
    return max(metas, key=lambda m: m.built_at) if metas else None


def ensure_artifact(engine: Engine, directory: Path, force: bool = False) -> BuildReport:
    """Train and save the serving models unless an artifact for this catalog and code version exists."""
    started = time.perf_counter()
    catalog_fp = catalog_fingerprint(engine)
    fingerprint = artifact_fingerprint(catalog_fp)
    existing = read_meta(directory, fingerprint)
    if existing is not None and not force:
        try:
            load_artifact(directory, fingerprint)
            return BuildReport(existing, model_path(directory, fingerprint), False, time.perf_counter() - started)
        except (ModelNotBuilt, RecsysUnavailable):
            pass  # missing or unreadable (e.g. pickled by code that moved since): build it again

    interactions = Interactions.from_log(load_purchase_log(engine))
    models = train_serving_models(interactions)
    seconds = time.perf_counter() - started
    meta = ArtifactMeta(
        fingerprint=fingerprint,
        catalog_fingerprint=catalog_fp,
        version=RECSYS_VERSION,
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        data_until=to_datetime(interactions.now).isoformat(),
        customers=interactions.n_customers,
        products=interactions.n_items,
        train_seconds=round(seconds, 2),
        models={name: repr(model) for name, model in vars(models).items()},
    )
    path = save_artifact(models, meta, directory)
    return BuildReport(meta, path, True, time.perf_counter() - started)


def save_artifact(models: ServingModels, meta: ArtifactMeta, directory: Path) -> Path:
    """Write the pickle and its meta atomically (meta last), then remove other artifacts of this folder."""
    directory.mkdir(parents=True, exist_ok=True)
    path = model_path(directory, meta.fingerprint)
    for target, payload in (
        (path, pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)),
        (meta_path(directory, meta.fingerprint), json.dumps(asdict(meta), indent=2).encode()),
    ):
        partial = target.with_suffix(target.suffix + ".partial")
        partial.write_bytes(payload)
        os.replace(partial, target)
    keep = {path.name, meta_path(directory, meta.fingerprint).name}
    for old in directory.glob(f"{PREFIX}*"):
        if old.name not in keep:
            old.unlink(missing_ok=True)
    return path


def load_artifact(directory: Path, fingerprint: str | None = None) -> tuple[ServingModels, ArtifactMeta]:
    """The artifact with `fingerprint` (default: the newest of this code version).

    Raises `ModelNotBuilt` when there is none, `RecsysUnavailable` when it cannot be read.
    """
    meta = read_meta(directory, fingerprint)
    if meta is None or not model_path(directory, meta.fingerprint).exists():
        detail = f"fingerprint {fingerprint[:16]}, version {RECSYS_VERSION}" if fingerprint else ""
        raise ModelNotBuilt(directory, detail or f"version {RECSYS_VERSION}")
    try:
        models = pickle.loads(model_path(directory, meta.fingerprint).read_bytes())
    except (OSError, pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError) as exc:
        raise RecsysUnavailable(
            f"cannot read {model_path(directory, meta.fingerprint)}: {exc}; run `make build`"
        ) from exc
    if not isinstance(models, ServingModels):
        raise RecsysUnavailable(f"{model_path(directory, meta.fingerprint)} is not a recommender artifact")
    return models, meta
