"""The real image model, exported once per test session into a temporary folder (as the services load it once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.vision.backbone import DEFAULT_VARIANT, ImageModel, OnnxImageModel, export_onnx


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> ImageModel:
    return OnnxImageModel(export_onnx(DEFAULT_VARIANT, tmp_path_factory.mktemp("onnx")), DEFAULT_VARIANT, threads=1)


@pytest.fixture(scope="session")
def grocery_dir() -> Path:
    from assistant.settings import load_settings

    folder = load_settings().grocery_data_dir
    if not (folder / "classes.csv").is_file():
        pytest.skip(f"the Grocery Store Dataset is not at {folder} (GROCERY_DATA_DIR)")
    return folder
