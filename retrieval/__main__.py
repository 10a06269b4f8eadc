"""`python -m retrieval build [--force]`: build the product index from the catalog, unless it is up to date.

For the reference store it first completes the product attributes: titles the catalog's rules leave in "other" get
the category their nearest neighbours in MiniLM title space agree on (`catalog.attribute_store`; skipped when already
done for these titles and rules), so the index and BM25 are built on the final categories. Other stores (the grocery
store) bring their own categories and are left as they are.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from assistant.settings import SettingsError, Store, load_settings
from catalog.attribute_store import derive_product_attributes, format_attributes_report
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
        encoder = MiniLMEncoder()
        try:
            require_built(engine)
            if settings.store is Store.ONLINE_RETAIL:  # the title rules are the giftware store's; others keep theirs
                attributes = derive_product_attributes(
                    engine, embed=lambda titles: encoder.encode([" ".join(t.split()).lower() for t in titles])
                )
                if not attributes.skipped:
                    print(format_attributes_report(attributes))
            products = list(SqlProductRepository(engine).iter_all())
        finally:
            engine.dispose()
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
