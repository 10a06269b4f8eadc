"""Import rules: retrieval depends on catalog only, and its light modules do not pull in torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import retrieval

PACKAGE = Path(retrieval.__file__).parent


def test_retrieval_never_imports_actions_and_only_its_cli_reads_settings() -> None:
    for module in PACKAGE.glob("*.py"):
        source = module.read_text()
        assert "import actions" not in source and "from actions" not in source, module.name
        if module.name != "__main__.py":
            assert "assistant" not in source and "os.environ" not in source, module.name


def test_search_index_and_build_import_without_torch() -> None:
    """Fakes and other packages' tests import these; torch and transformers load only when a model is used."""
    code = (
        "import sys, retrieval.search, retrieval.index, retrieval.build, retrieval.encoder, tests.retrieval.fakes;"
        "print(sorted({'torch', 'transformers', 'sentence_transformers'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent, timeout=120
    )
    assert result.stdout.strip() == "[]"
