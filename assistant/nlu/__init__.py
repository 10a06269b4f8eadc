"""The project's Rasa NLU components (core runtime: Python 3.10, rasa, onnxruntime, tokenizers; never torch).

- `minilm`: all-MiniLM-L6-v2 as int8 ONNX in onnxruntime, one session per process (no rasa import).
- `minilm_featurizer.MiniLMFeaturizer`: dense sentence and per-token features for DIET.
- `sentiment.SentimentClassifier`: negative/neutral/positive on every message, as a message attribute and a
  `sentiment` entity (so the domain's `sentiment` slot fills from it).
- `sentiment_data`: the labelled texts it learns from and the fixed held-out split (standard library only, so the
  benchmark in the app runtime reads the same split).

This package's `__init__` imports nothing, so `sentiment_data` is importable without rasa.
"""
