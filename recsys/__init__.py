"""Recommenders over purchase history (training, evaluation, serving). Not built yet: see the recommendations issue."""
