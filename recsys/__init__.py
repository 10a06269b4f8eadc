"""Recommenders over the store's purchase history: training, evaluation, serving.

- `interactions`: order lines → net purchases (cancellations netted per customer and product, guests kept for
  popularity and co-purchase only) → a customer × product matrix with counts and times; the temporal split.
- `recommender`: the `Recommender` Protocol (`fit`, `recommend`) plus `SimilarItems` and `BoughtTogether`;
  `Recommendation(product_id, score, reason, kind, related_product_id)`; `Goal` (buy again / discover).
- `recommenders/`: `PopularityRecommender`, `RepeatPurchaseRecommender`, `ItemKnnRecommender`, `AlsRecommender`
  (implicit), `EaseRecommender`, and the chosen one, `GradientBoostedRerankRecommender`: candidates from re-buy,
  ALS, EASE, popular-now and popular-a-year-ago signals, ranked by a gradient-boosted classifier that learns from
  the weeks just before the training cut-off. One instance per goal: "buy again" (protocol (a)) and "you might also
  like" (protocol (b), own products never candidates).
- `metrics`, `evaluate`: Recall@k, NDCG@k, MAP@k, coverage, popularity bias; the two protocols; tuning on
  validation. `bench/recsys_quality.py` prints the comparison.
- `artifact`, `service`, `__main__`: `python -m recsys build [--force]` trains on all purchases and writes
  `STATE_DIR/recsys/model-<fingerprint>.pkl` (+ `.json`), skipped while the catalog import and `RECSYS_VERSION` are
  unchanged; `RecommendationService` loads it once and answers every question, falling back to a cold start
  (popular, or what the customers of the viewed products bought) for unknown shoppers and products.

Why a re-ranker rather than a blend: on this store, re-orders dominate (a reseller's next order repeats much of the
last ones), seasonality is strong (Christmas lines sell from September), and collaborative scores help mostly for
customers with short histories. A classifier over the features of all signals learns those interactions; a fixed
weighted blend cannot (e.g. "an own item last bought 11 months ago at this season" vs "last bought last week").
"""
