"""Forecast quality: every model of `catalog.forecast` in one rolling-origin backtest on the reference store.

Origins tile the last 8 weeks of the data with the 28-day horizon (two origins: each of the last 56 days is
forecast once). Each model is fitted on the data before each origin and scored on a seeded sample of the products
sold in the year before the first origin (AutoETS costs ~50 ms a product, so all ~3,800 would take ~7 minutes);
pooled models (store profiles, the global model) still learn from every product. Printed per model: RMSSE, MASE,
bias, 80% interval coverage, scaled pinball loss at 0.5 / 0.8 / 0.95 and their mean, 80% coverage of 28-day totals
(the distribution behind sell-out probabilities) and fit time. The all-zero forecast is a reference row: it wins
MASE on intermittent demand and is useless for stock, so models are chosen by RMSSE and quantile loss relative to
seasonal naive (`catalog.forecast_eval.choose_model`), never by MASE. Then the chosen model is fitted on all
products, as `python -m catalog forecast` does, and timed (budget 60 s).

    python bench/forecast_quality.py                     # from the app runtime with PYTHONPATH=.
    python bench/forecast_quality.py --products 300 --models zero seasonal_naive tsb tsb_weekday
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import timedelta

import numpy as np

from assistant.settings import load_settings
from catalog.db import make_engine
from catalog.forecast import DEFAULT_MODEL, HORIZON, ForecastModel, make_forecaster
from catalog.forecast_eval import SPL_TAUS, ModelScore, backtest, choose_model, last_weeks_origins
from catalog.forecast_store import ACTIVE_DAYS, load_history

BASELINE = ForecastModel.SEASONAL_NAIVE.value
LIBRARY_MODELS = {"seasonal_naive", "auto_ets", "croston", "tsb", "adida"}
"""statsforecast's own models, unmodified: the chosen one must be at least as good as the best of these."""
FIT_BUDGET_S = 60.0


def format_table(scores: Sequence[ModelScore], chosen: str) -> str:
    spl = " ".join(f"{'SPL' + str(t):>8}" for t in SPL_TAUS)
    header = f"{'model':<16}{'RMSSE':>7}{'MASE':>7}{'bias':>8}{'cov80':>7} {spl}{'SPLmean':>8}{'tot80':>7}{'fit s':>8}"
    lines = [header, "-" * len(header)]
    for s in scores:
        spls = " ".join(f"{s.spl[t]:>8.4f}" for t in SPL_TAUS)
        mark = "  <- chosen" if s.model == chosen else ("  (reference)" if s.model == "zero" else "")
        lines.append(
            f"{s.model:<16}{s.rmsse:>7.4f}{s.mase:>7.3f}{s.bias:>+8.1%}{s.coverage80:>7.1%} {spls}"
            f"{s.spl_mean:>8.4f}{s.total_coverage80:>7.1%}{s.fit_seconds:>8.1f}{mark}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--products", type=int, default=1000, help="products scored (seeded sample; 0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", choices=[m.value for m in ForecastModel], default=None)
    args = parser.parse_args(argv)
    models = [ForecastModel(m) for m in args.models] if args.models else list(ForecastModel)
    if ForecastModel.SEASONAL_NAIVE not in models:
        models.insert(0, ForecastModel.SEASONAL_NAIVE)

    engine = make_engine(load_settings().database_url)
    try:
        history = load_history(engine)
    finally:
        engine.dispose()
    origins = last_weeks_origins(history, weeks=8, horizon=HORIZON)
    eligible = history.until(origins[0]).active(ACTIVE_DAYS)
    rng = np.random.default_rng(args.seed)
    sample = eligible if args.products <= 0 else np.sort(rng.choice(eligible, args.products, replace=False))
    first_days = [history.start + timedelta(days=o) for o in origins]
    print(
        f"data {history.start}..{history.end}, {len(history.skus):,} products; origins (first forecast day) "
        f"{', '.join(str(d) for d in first_days)}; horizon {HORIZON} days; {len(sample):,} of {len(eligible):,} "
        f"products sold in the year before (seed {args.seed})",
        flush=True,
    )
    started = time.perf_counter()
    scores = []
    for model in models:
        scores += backtest(history, [make_forecaster(model)], origins, sample)
        print(f"  {model.value}: {scores[-1].fit_seconds:.1f} s", file=sys.stderr, flush=True)
    chosen = choose_model(scores, BASELINE)
    print()
    print(format_table(scores, chosen.model))
    print(
        "RMSSE, MASE, SPL: means over products and origins (M5 scaling); bias: (forecast - actual) / actual totals;"
        "\ncov80: product-days inside the 80% interval; tot80: 28-day totals inside their central 80%;"
        f" fit s: both origins, {len(sample):,} products. Backtest took {time.perf_counter() - started:.0f} s."
    )
    base = next(s for s in scores if s.model == BASELINE)
    library = [s for s in scores if s.model in LIBRARY_MODELS]
    best_rmsse = min(library, key=lambda s: s.rmsse)
    best_spl = min(library, key=lambda s: s.spl_mean)
    gain = 1 - chosen.rmsse / base.rmsse
    print(f"\nchosen: {chosen.model} (configured default: {DEFAULT_MODEL.value})")
    print(f"  RMSSE {gain:+.1%} better than seasonal naive (target >= 15%): {'ok' if gain >= 0.15 else 'MISSED'}")
    ok_library = chosen.rmsse <= best_rmsse.rmsse and chosen.spl_mean <= best_spl.spl_mean
    print(
        f"  vs best statsforecast model: RMSSE {chosen.rmsse:.4f} vs {best_rmsse.rmsse:.4f} ({best_rmsse.model}), "
        f"SPL {chosen.spl_mean:.4f} vs {best_spl.spl_mean:.4f} ({best_spl.model}): {'ok' if ok_library else 'MISSED'}"
    )
    in_band = 0.75 <= chosen.coverage80 <= 0.85
    print(f"  80% interval coverage {chosen.coverage80:.1%} (target 75-85%): {'ok' if in_band else 'MISSED'}")

    full = history.active(ACTIVE_DAYS)
    started = time.perf_counter()
    make_forecaster(chosen.model).forecast(history, HORIZON, full)
    seconds = time.perf_counter() - started
    verdict = "ok" if seconds <= FIT_BUDGET_S else "OVER BUDGET"
    print(f"  fit for all {len(full):,} active products: {seconds:.1f} s (budget {FIT_BUDGET_S:.0f} s): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
