"""Tests of the NLU components. Modules that need rasa skip themselves in the app runtime; `make test` runs this
folder in the core runtime too (`.venv-core/bin/python -m pytest tests/assistant/nlu`)."""
