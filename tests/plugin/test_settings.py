"""BinanceSettings from every source, in the documented priority, and every bad-input path."""

from __future__ import annotations

import pytest

from foxtrot_binance import BinanceSettings, InvalidSettingsError
from foxtrot_binance.binance import BinanceSpotAdapter
from foxtrot_hooks.testing import RecordingEngine

pytestmark = pytest.mark.usefixtures("clean_binance_env")

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n"  # a test-only Ed25519 key (private bytes 0..31)
    "-----END PRIVATE KEY-----"
)


def test_defaults_without_any_source():
    s = BinanceSettings.load(env_file=None)
    assert (s.api_key, s.secret, s.server, s.base_url, s.recv_window) == (None, None, "live", None, 5000)
    assert (s.retry.max_attempts, s.retry.base_delay, s.retry.max_delay) == (3, 0.5, 10.0)
    assert (s.rate_limit_buffer, s.reconnect_delay, s.stale_after) == (0.2, 1.0, 30.0)
    assert not s.has_credentials and s.proxy_url is None


def test_environment_with_nested_retry(monkeypatch):
    monkeypatch.setenv("FOXTROT_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("FOXTROT_BINANCE_SECRET", SECRET)
    monkeypatch.setenv("FOXTROT_BINANCE_SERVER", "demo")
    monkeypatch.setenv("FOXTROT_BINANCE_RETRY__MAX_ATTEMPTS", "7")
    monkeypatch.setenv("FOXTROT_BINANCE_RETRY__MAX_DELAY", "30")
    monkeypatch.setenv("FOXTROT_BINANCE_BASE_URL", "http://127.0.0.1:9000/")
    s = BinanceSettings.load(env_file=None)
    assert s.api_key.get_secret_value() == KEY and s.secret.get_secret_value() == SECRET
    assert s.server == "demo" and s.base_url == "http://127.0.0.1:9000"
    assert (s.retry.max_attempts, s.retry.base_delay, s.retry.max_delay) == (7, 0.5, 30.0)


def test_dotenv_file(tmp_path):
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        f"FOXTROT_BINANCE_API_KEY={KEY}\nFOXTROT_BINANCE_SECRET={SECRET}\nFOXTROT_BINANCE_STALE_AFTER=12\n"
        "UNRELATED_SECRET=do-not-care\n"
    )
    s = BinanceSettings.load(env_file=env_file)
    assert s.has_credentials and s.stale_after == 12


def test_dot_env_in_the_working_directory_is_read_by_default(tmp_path):
    (tmp_path / ".env").write_text("FOXTROT_BINANCE_RECV_WINDOW=9000\n")
    assert BinanceSettings.from_setting({}).recv_window == 9000


def test_secrets_directory(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "FOXTROT_BINANCE_API_KEY").write_text(KEY)
    (secrets / "FOXTROT_BINANCE_SECRET").write_text(PEM)
    monkeypatch.setenv("FOXTROT_BINANCE_SECRETS_DIR", str(secrets))
    s = BinanceSettings.load(env_file=None)
    assert s.api_key.get_secret_value() == KEY and "PRIVATE KEY" in s.secret.get_secret_value()


def test_priority_dict_over_env_over_dotenv_over_secrets(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in {"RECV_WINDOW": "1001", "STALE_AFTER": "11", "RECONNECT_DELAY": "2", "RATE_LIMIT_BUFFER": "0.5"}.items():
        (secrets / f"FOXTROT_BINANCE_{name}").write_text(value)
    env_file = tmp_path / ".env"
    env_file.write_text("FOXTROT_BINANCE_STALE_AFTER=22\nFOXTROT_BINANCE_RECONNECT_DELAY=3\nFOXTROT_BINANCE_RATE_LIMIT_BUFFER=0.6\n")
    monkeypatch.setenv("FOXTROT_BINANCE_RECONNECT_DELAY", "4")
    monkeypatch.setenv("FOXTROT_BINANCE_RATE_LIMIT_BUFFER", "0.7")
    s = BinanceSettings.from_setting({"Rate Limit Buffer": 0.8}, env_file=env_file, secrets_dir=secrets)
    assert (s.recv_window, s.stale_after, s.reconnect_delay, s.rate_limit_buffer) == (1001, 22, 4, 0.8)


def test_connect_dict_aliases_and_field_names():
    s = BinanceSettings.from_setting(
        {
            "API Key": KEY, "Secret": SECRET, "Sandbox": True, "Proxy Host": "proxy.local",
            "Proxy Port": 3128, "Rate Limit Buffer": 0.3, "Reconnect Delay": 2.5,
            "Max Retry Attempts": 5, "stale_after": 9, "Something Else": "ignored",
        },
        env_file=None,
    )
    assert s.server == "testnet" and s.proxy_url == "http://proxy.local:3128"
    assert (s.rate_limit_buffer, s.reconnect_delay, s.retry.max_attempts, s.stale_after) == (0.3, 2.5, 5, 9)


def test_dialog_defaults_do_not_blank_env_keys_or_force_live(monkeypatch):
    monkeypatch.setenv("FOXTROT_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("FOXTROT_BINANCE_SECRET", SECRET)
    monkeypatch.setenv("FOXTROT_BINANCE_SERVER", "demo")
    s = BinanceSettings.from_setting(BinanceSpotAdapter.get_default_setting(), env_file=None)
    assert s.has_credentials and s.server == "demo" and s.proxy_url is None


def test_nested_retry_merges_dict_over_env(monkeypatch):
    monkeypatch.setenv("FOXTROT_BINANCE_RETRY__BASE_DELAY", "2")
    s = BinanceSettings.from_setting({"Max Retry Attempts": 4}, env_file=None)
    assert (s.retry.max_attempts, s.retry.base_delay) == (4, 2.0)


BAD_INPUTS = [
    ({"Proxy Port": 70000}, "proxy_port (FOXTROT_BINANCE_PROXY_PORT, connect key \"Proxy Port\")"),
    ({"Proxy Host": "proxy.local"}, "proxy_port is required"),
    ({"Max Retry Attempts": "many"}, "retry.max_attempts (FOXTROT_BINANCE_RETRY__MAX_ATTEMPTS"),
    ({"Max Retry Attempts": 0}, "retry.max_attempts"),
    ({"Server": "production"}, "server (FOXTROT_BINANCE_SERVER"),
    ({"Base URL": "ftp://x"}, "base_url"),
    ({"Rate Limit Buffer": 2}, "rate_limit_buffer"),
    ({"Reconnect Delay": -1}, "reconnect_delay"),
    ({"recv_window": 70000}, "recv_window"),
    ({"API Key": KEY}, "secret is required"),
    ({"Secret": SECRET}, "api_key is required"),
    ({"API Key": KEY + " \n", "Secret": SECRET}, "api_key (FOXTROT_BINANCE_API_KEY"),
    ({"API Key": KEY, "Secret": SECRET[:20] + " " + SECRET[20:]}, "secret (FOXTROT_BINANCE_SECRET"),
    ({"API Key": KEY, "Secret": "-----BEGIN PRIVATE KEY-----\n" + SECRET}, "not a complete PEM private key"),
    ({"API Key": KEY, "Secret": f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----"},
     "PEM private key that cannot be read"),
    ({"Sandbox": True, "Server": "live"}, '"Sandbox" and "Server" disagree'),
]


def test_a_pem_secret_with_escaped_line_breaks_is_the_same_key():
    """Env vars and CI secret stores often carry a PEM on one line with literal ``\\n``."""
    escaped = PEM.replace("\n", "\\n")
    assert "\n" not in escaped
    s = BinanceSettings.from_setting({"API Key": KEY, "Secret": escaped}, env_file=None)
    assert s.secret is not None and s.secret.get_secret_value() == PEM


def test_unreadable_settings_files_are_settings_errors_without_their_content(tmp_path):
    env_file = tmp_path / "latin1.env"
    env_file.write_bytes(f"# clé\nFOXTROT_BINANCE_API_KEY={KEY}\nFOXTROT_BINANCE_SECRET={SECRET}\n".encode("latin-1"))
    with pytest.raises(InvalidSettingsError) as excinfo:
        BinanceSettings.load(env_file=env_file)
    text = str(excinfo.value) + repr(excinfo.value)
    assert "not UTF-8" in text and str(env_file) in text
    assert KEY not in text and SECRET not in text
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__


def test_a_tilde_in_the_cache_directory_means_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert BinanceSettings.from_setting({"history_cache_dir": "~/bars"}, env_file=None).history_cache_dir == tmp_path / "bars"


@pytest.mark.parametrize(("setting", "expected"), BAD_INPUTS)
def test_bad_input_names_the_field_and_never_the_secret(setting, expected):
    with pytest.raises(InvalidSettingsError) as excinfo:
        BinanceSettings.from_setting(setting, env_file=None)
    text = str(excinfo.value) + repr(excinfo.value) + repr(excinfo.value.problems)
    assert expected in text
    for secret in (KEY, SECRET, SECRET[:20], SECRET[20:]):
        assert secret not in text
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__


def test_bad_secret_from_env_is_not_echoed(monkeypatch):
    monkeypatch.setenv("FOXTROT_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("FOXTROT_BINANCE_SECRET", "bad secret with spaces " + SECRET)
    with pytest.raises(InvalidSettingsError) as excinfo:
        BinanceSettings.load(env_file=None)
    assert "FOXTROT_BINANCE_SECRET" in str(excinfo.value) and SECRET not in str(excinfo.value)


def test_malformed_nested_json_in_env_names_the_field(monkeypatch):
    monkeypatch.setenv("FOXTROT_BINANCE_RETRY", "{not json " + SECRET)
    with pytest.raises(InvalidSettingsError) as excinfo:
        BinanceSettings.load(env_file=None)
    assert "retry" in str(excinfo.value) and SECRET not in str(excinfo.value)


def test_secrets_are_masked_in_repr_str_and_dumps():
    s = BinanceSettings.from_setting({"API Key": KEY, "Secret": PEM}, env_file=None)
    for text in (repr(s), str(s), repr(s.model_dump()), s.model_dump_json()):
        assert KEY not in text and "MC4CAQAw" not in text


def test_connect_with_a_bad_setting_fails_with_the_field_name():
    adapter = BinanceSpotAdapter(RecordingEngine(), "BINANCE")
    with pytest.raises(InvalidSettingsError, match="proxy_port"):
        adapter.connect({"Proxy Port": "abc"})
