"""`python -m recsys build [--force]`: train the serving recommenders on the catalog, unless they are up to date.

`python -m recsys show CUSTOMER_ID` prints what the assistant would recommend to that customer (from the artifact).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from assistant.settings import SettingsError, load_settings
from catalog.db import make_engine, require_built
from catalog.errors import CatalogError
from recsys.artifact import ensure_artifact
from recsys.errors import RecsysError
from recsys.recommender import Recommendation
from recsys.service import RecommendationService


def _lines(title: str, recommendations: list[Recommendation]) -> list[str]:
    return [title] + [f"  {n:>2}. product {r.product_id:>5}  {r.reason}" for n, r in enumerate(recommendations, 1)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsys", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="train the recommenders on all purchases and save the artifact")
    build.add_argument("--force", action="store_true", help="retrain even when the artifact is up to date")
    show = commands.add_parser("show", help="print a customer's recommendations from the artifact")
    show.add_argument("customer_id")
    show.add_argument("-k", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        directory = settings.state_dir / "recsys"
        if args.command == "show":
            service = RecommendationService.load(directory)
            answer = service.for_customer(args.customer_id, max(args.k, 1))
            if not answer.known:
                print(f"customer {args.customer_id!r} is unknown: cold-start answer")
            print("\n".join(_lines("buy again:", answer.buy_again) + _lines("you might also like:", answer.discover)))
            return 0
        engine = make_engine(settings.database_url)
        try:
            require_built(engine)
            report = ensure_artifact(engine, directory, force=args.force)
        finally:
            engine.dispose()
    except (SettingsError, CatalogError, RecsysError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    meta = report.meta
    if report.built:
        print(
            f"trained recommenders on {meta.customers:,} customers × {meta.products:,} products "
            f"in {report.seconds:.1f} s → {report.path}"
        )
    else:
        print(
            f"recommenders up to date (catalog fingerprint {meta.catalog_fingerprint[:12]}) at {report.path}; "
            "--force retrains"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
