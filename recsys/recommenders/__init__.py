"""The recommenders: one module per technique, all `ScoringRecommender`s (see `base`).

Not called `models/`: the project's .gitignore ignores every folder of that name (Rasa's trained models).
"""
