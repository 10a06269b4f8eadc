"""The action server can load this package, and serves exactly the custom actions the domain names."""

from __future__ import annotations

from pathlib import Path

import yaml
from rasa_sdk.executor import ActionExecutor

DOMAIN = Path(__file__).resolve().parents[2] / "domain.yml"


def test_every_domain_action_is_served_and_nothing_else() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")  # what `python -m rasa_sdk --actions actions` does at start-up
    domain = yaml.safe_load(DOMAIN.read_text())
    custom = {a for a in domain["actions"] if a.startswith(("action_", "validate_"))}
    assert set(executor.actions) == custom
