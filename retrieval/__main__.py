"""`python -m retrieval build [--force]`: build the product index from the catalog, unless it is up to date."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from assistant.settings import SettingsError, load_settings
from catalog.db import make_engine, require_built
from catalog.errors import CatalogError
from catalog.repository import SqlProductRepository
from retrieval.build import ensure_product_index, model_signature
from retrieval.encoder import MiniLMEncoder
from retrieval.errors import RetrievalError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the FAISS product index from the catalog")
    build.add_argument("--force", action="store_true", help="rebuild even when the index is up to date")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            require_built(engine)
            products = list(SqlProductRepository(engine).iter_all())
        finally:
            engine.dispose()
        encoder = MiniLMEncoder()
        report = ensure_product_index(
            products, encoder, settings.index_path, model_signature(encoder.model_path), force=args.force
        )
    except (SettingsError, CatalogError, RetrievalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if report.built and report.incremental:
        print(
            f"updated the product index in {report.seconds:.1f} s: {report.encoded} products encoded, "
            f"{report.removed} removed, {report.count} in all → {report.path} (+ BM25)"
        )
    elif report.built:
        print(f"indexed {report.count} products in {report.seconds:.1f} s (vectors + BM25) → {report.path}")
    else:
        print(f"product index up to date ({report.count} products) at {report.path}; --force rebuilds it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
