from __future__ import annotations

from pathlib import Path

import pytest

from assistant.settings import PROJECT_ROOT, SettingsError, load_settings


def test_defaults_keep_state_in_the_project_and_services_on_loopback() -> None:
    s = load_settings({})
    assert s.state_dir == PROJECT_ROOT / ".state"
    assert s.database_url == f"sqlite:///{PROJECT_ROOT / '.state' / 'catalog.db'}"
    assert s.shop_data_dir == PROJECT_ROOT.parent / "shared" / "datasets" / "online_retail"
    assert s.rasa_url == "http://127.0.0.1:5005" and s.action_server_url == "http://127.0.0.1:5055"
    assert s.chat_url == "http://127.0.0.1:8080/"
    assert s.index_path == PROJECT_ROOT / ".state" / "index" / "products.faiss"


def test_environment_overrides(tmp_path: Path) -> None:
    s = load_settings({"STATE_DIR": str(tmp_path), "GATEWAY_PORT": "9000", "GATEWAY_HOST": "0.0.0.0"})
    assert s.tracker_db == tmp_path / "tracker.db" and s.index_dir == tmp_path / "index"
    assert s.chat_url == "http://127.0.0.1:9000/"  # a wildcard bind is still reached on loopback


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT has value 'eighty'; expected an integer"),
        ({"RASA_PORT": "70000"}, "RASA_PORT has value 70000; expected an integer from 1 to 65535"),
        ({"SEARCH_TOP_K": "0"}, "SEARCH_TOP_K has value 0; expected an integer from 1 to 50"),
        ({"RASA_TIMEOUT_S": "soon"}, "RASA_TIMEOUT_S has value 'soon'; expected a number of seconds"),
        ({"RASA_TIMEOUT_S": "-1"}, "RASA_TIMEOUT_S has value -1.0; expected a positive number of seconds"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_was_expected(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_the_store_and_upload_limits_are_checked() -> None:
    expected = "SHOP_STORE has value 'shoe_shop'; expected 'online_retail' or 'grocery_store'"
    with pytest.raises(SettingsError, match=expected):
        load_settings({"SHOP_STORE": "shoe_shop"})
    with pytest.raises(SettingsError, match="MAX_UPLOAD_BYTES has value 10; expected an integer from 1024"):
        load_settings({"MAX_UPLOAD_BYTES": "10"})
    s = load_settings({"HOME": "/home/shopper"})
    assert s.cache_dir == Path("/home/shopper/.cache/shopassist") and s.max_upload_pixels == 40_000_000
