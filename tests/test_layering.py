"""Imports run one way (`actions → retrieval, recsys → catalog`) and the core runtime never imports app packages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = {"actions", "assistant", "catalog", "retrieval", "recsys"}
APP_ONLY = {"torch", "transformers", "sentence_transformers", "faiss", "sqlalchemy", "alembic", "aiohttp", "pandas",
            "rasa_sdk", "catalog", "retrieval", "recsys", "actions"}  # fmt: skip
CORE_RUNTIME_MODULES = [
    "assistant/settings.py",
    "assistant/rasa_model.py",
    "assistant/nlu/__init__.py",
    "assistant/nlu/minilm.py",
    "assistant/nlu/minilm_featurizer.py",
    "assistant/nlu/sentiment.py",
    "assistant/nlu/sentiment_data.py",
    "assistant/secrets.py",
    "assistant/channels/__init__.py",
    "assistant/channels/telegram.py",
]
"""Modules the core runtime (Python 3.10, rasa) runs; the project's Rasa components will join them."""


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def project_imports(package: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(ROOT)): {m for m in imported_modules(path) if m.split(".")[0] in PROJECT_PACKAGES}
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("catalog", {"actions", "retrieval", "recsys", "assistant"}),
        ("retrieval", {"actions", "recsys", "assistant"}),
        ("recsys", {"actions", "retrieval", "assistant"}),
        ("assistant", {"actions"}),
    ],
)
def test_imports_run_one_way(package: str, forbidden: set[str]) -> None:
    allowed = {"assistant.settings"}  # the one configuration module, standard library only, usable by CLIs
    bad = {
        f"{module} imports {name}"
        for module, names in project_imports(package).items()
        for name in names
        if name.split(".")[0] in forbidden and name not in allowed
    }
    assert not bad, sorted(bad)


def test_settings_is_the_only_reader_of_the_environment() -> None:
    """Passing the environment on to a child process (`{**os.environ, ...}`) is fine; reading values from it is not."""
    reads = re.compile(r"os\.environ\.get\(|os\.environ\[|getenv\(|environ\.setdefault\(")
    readers = sorted(
        str(path.relative_to(ROOT))
        for package in PROJECT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if reads.search(path.read_text())
    )
    assert readers == [], readers


CORE_RUNTIME_ALSO_HAS = {"aiohttp"}
"""App-runtime packages that rasa itself depends on, so the core runtime has them too (the Telegram connector uses
aiohttp, as aiogram does)."""


@pytest.mark.parametrize("module", CORE_RUNTIME_MODULES)
def test_core_runtime_code_never_imports_app_packages(module: str) -> None:
    names = {n.split(".")[0] for n in imported_modules(ROOT / module)}
    allowed = CORE_RUNTIME_ALSO_HAS if module.startswith("assistant/channels/") else set()
    assert not names & (APP_ONLY - allowed), names & (APP_ONLY - allowed)
