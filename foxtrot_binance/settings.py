"""BinanceSettings: every knob of the adapter, from the connect dialog, env, .env or secrets.

Priority, highest first: the host's connect dict, environment variables
(``FOXTROT_BINANCE_*``, nested with ``__``), a ``.env`` file, a secrets directory (one file
per field, Docker style), then the defaults. Keys are ``SecretStr`` and every error is
raised as ``InvalidSettingsError`` naming the field, never echoing a value: a trader pasting
a secret into the wrong box must not see it printed back into a log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

ENV_PREFIX = "FOXTROT_BINANCE_"
SECRETS_DIR_ENV = "FOXTROT_BINANCE_SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets")

Server = Literal["live", "testnet", "demo"]

CONNECT_KEYS: dict[str, str] = {
    "API Key": "api_key",
    "Secret": "secret",
    "Server": "server",
    "Base URL": "base_url",
    "Proxy Host": "proxy_host",
    "Proxy Port": "proxy_port",
    "Rate Limit Buffer": "rate_limit_buffer",
    "Reconnect Delay": "reconnect_delay",
    "Max Retry Attempts": "retry.max_attempts",
}
"""The host's connect-dialog keys and the fields they set. "Sandbox" is handled apart."""


class InvalidSettingsError(ValueError):
    """A setting is missing or invalid. The message names the field(s), never a value."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid Binance settings: " + "; ".join(problems))


class RetrySettings(BaseModel):
    """Retries of idempotent REST calls (never of order submission) with exponential backoff."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True, frozen=True)

    max_attempts: int = Field(3, ge=1, le=10, description="attempts per idempotent call, the first included")
    base_delay: float = Field(0.5, gt=0, le=60, description="first backoff delay in seconds (doubles each time)")
    max_delay: float = Field(10.0, gt=0, le=600, description="upper bound of one backoff delay in seconds")

    @model_validator(mode="after")
    def _delays_ordered(self) -> RetrySettings:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be at least base_delay")
        return self


class BinanceSettings(BaseSettings):
    """Configuration of one Binance adapter instance. See README's configuration reference."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
        frozen=True,
        validate_default=True,
    )

    api_key: SecretStr | None = Field(None, description="Binance API key; without keys only public data and history work")
    secret: SecretStr | None = Field(
        None, description="HMAC secret, or a PEM private key (Ed25519 or RSA) registered with the API key"
    )
    server: Server = Field("live", description="live, testnet (spot testnet) or demo (Binance demo trading)")
    base_url: str | None = Field(
        None,
        description="one http(s) URL for every REST and websocket endpoint (the simulator, a proxy); overrides server",
    )
    proxy_host: str | None = Field(None, description="HTTP proxy host for REST and websockets")
    proxy_port: int | None = Field(None, ge=1, le=65535, description="HTTP proxy port")
    recv_window: int = Field(5000, ge=1, le=60000, description="signed-request validity window in ms (Binance max 60000)")
    retry: RetrySettings = Field(default_factory=RetrySettings, description="retry policy of idempotent REST calls")
    rate_limit_buffer: float = Field(
        0.2, ge=0, le=0.9, description="share of the per-minute request weight kept in reserve before slowing down"
    )
    reconnect_delay: float = Field(1.0, gt=0, le=300, description="first websocket reconnect delay in s (backoff + jitter)")
    stale_after: float = Field(30.0, gt=0, le=3600, description="reconnect a stream silent for this many seconds")
    leverage: int | None = Field(
        None, ge=1, le=125, description="USDⓈ-M: leverage set on each symbol before its first order through the adapter"
    )
    margin_type: Literal["isolated", "cross"] | None = Field(
        None, description="USDⓈ-M: margin type set on each symbol before its first order through the adapter"
    )
    position_mode: Literal["one-way", "hedge"] | None = Field(
        None, description="USDⓈ-M: position mode applied at connect (none keeps the account's)"
    )
    history_cache_dir: Path | None = Field(
        None, description="directory of the sqlite bar cache (default: $XDG_CACHE_HOME/foxtrot-binance or ~/.cache/foxtrot-binance)"
    )
    history_cache: bool = Field(True, description="keep downloaded bars in the local cache; false downloads every time")
    history_timeout: float = Field(120.0, gt=0, le=3600, description="seconds query_history may take before it gives up")

    # -- validation (messages must never contain the value) ---------------------------
    @field_validator("api_key")
    @classmethod
    def _api_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw == "":
            return None
        if any(ch.isspace() for ch in raw) or not raw.isascii() or not raw.isprintable():
            raise ValueError("must be printable ASCII without spaces or line breaks (check for a paste error)")
        if len(raw) > 256:
            raise ValueError("is longer than 256 characters")
        return value

    @field_validator("secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        if raw == "":
            return None
        if "-----BEGIN" in raw:
            if "PRIVATE KEY-----" not in raw or "-----END" not in raw:
                raise ValueError("looks like a PEM key but is not a complete PEM private key")
            if "\n" not in raw and "\\n" in raw:  # one line with escaped breaks, as env vars and CI stores carry it
                raw = raw.replace("\\n", "\n")
            _check_pem_loads(raw)
            return SecretStr(raw)
        if any(ch.isspace() for ch in raw) or not raw.isascii() or not raw.isprintable():
            raise ValueError("must be an HMAC secret (printable ASCII, no spaces) or a PEM private key")
        return SecretStr(raw)

    @field_validator("history_cache_dir")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        """``~/bars`` from .env or the environment (no shell expands it there) means the home directory."""
        return value.expanduser() if value is not None else None

    @field_validator("base_url")
    @classmethod
    def _base_url_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
            raise ValueError("must be an http:// or https:// URL such as http://127.0.0.1:8080")
        return value

    @field_validator("proxy_host")
    @classmethod
    def _proxy_host_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        value = value.strip()
        if any(ch.isspace() for ch in value) or "/" in value.split("://", 1)[-1]:
            raise ValueError("must be a host name or address, optionally with http:// in front")
        return value

    @model_validator(mode="after")
    def _complete(self) -> BinanceSettings:
        if (self.api_key is None) != (self.secret is None):
            missing = "secret" if self.secret is None else "api_key"
            raise ValueError(f"{missing} is required when {'api_key' if missing == 'secret' else 'secret'} is set")
        if self.proxy_host is not None and self.proxy_port is None:
            raise ValueError("proxy_port is required when proxy_host is set")
        return self

    # -- derived ----------------------------------------------------------------------
    @property
    def has_credentials(self) -> bool:
        return self.api_key is not None

    @property
    def proxy_url(self) -> str | None:
        if self.proxy_host is None:
            return None
        host = self.proxy_host if "://" in self.proxy_host else f"http://{self.proxy_host}"
        return f"{host}:{self.proxy_port}"

    # -- construction -----------------------------------------------------------------
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        *,
        env_file: str | Path | None = ".env",
        secrets_dir: str | Path | None = None,
    ) -> BinanceSettings:
        """Build settings from field-name ``overrides`` on top of env, .env and secrets.

        ``secrets_dir`` defaults to $FOXTROT_BINANCE_SECRETS_DIR, else /run/secrets when it
        exists. Raises InvalidSettingsError.
        """
        if secrets_dir is None:
            configured = os.environ.get(SECRETS_DIR_ENV)
            if configured:
                secrets_dir = configured
            elif DEFAULT_SECRETS_DIR.is_dir():
                secrets_dir = DEFAULT_SECRETS_DIR
        try:
            return cls(_env_file=env_file, _secrets_dir=secrets_dir, **dict(overrides or {}))
        except ValidationError as exc:
            raise InvalidSettingsError(_describe_errors(exc)) from None
        except SettingsError as exc:
            raise InvalidSettingsError([_describe_source_error(exc)]) from None
        except UnicodeDecodeError as exc:  # its repr holds the file's bytes: never chain or quote it
            raise InvalidSettingsError([
                f"a settings file is not UTF-8 text (byte {exc.start}): check the .env file {env_file} "
                f"and the secrets directory {secrets_dir or '(none)'}"
            ]) from None
        except OSError as exc:
            raise InvalidSettingsError([f"cannot read the settings file {exc.filename}: {exc.strerror}"]) from None

    @classmethod
    def from_setting(
        cls,
        setting: Mapping[str, Any] | None = None,
        *,
        env_file: str | Path | None = ".env",
        secrets_dir: str | Path | None = None,
    ) -> BinanceSettings:
        """Settings from the host's connect dict (dialog keys or field names) over env and files.

        Empty values ("" or None, as the dialog's defaults are) mean "not given here", so
        keys configured in the environment are not blanked by an untouched dialog.
        ``"Sandbox": True`` selects the testnet; False leaves the server as configured
        elsewhere, so an untouched checkbox never switches a demo setup to live.
        """
        return cls.load(connect_overrides(setting or {}), env_file=env_file, secrets_dir=secrets_dir)


def connect_overrides(setting: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a connect dict into nested field overrides, dropping empty values."""
    fields = set(BinanceSettings.model_fields)
    overrides: dict[str, Any] = {}
    sandbox = False
    for key, value in setting.items():
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        if key == "Sandbox":
            sandbox = _truthy(value)
            continue
        path = CONNECT_KEYS.get(key, key if key in fields else None)
        if path is None:
            continue  # unknown keys are ignored, as extra="ignore" does for env
        if path == "proxy_port" and value in (0, "0"):
            continue
        head, _, tail = path.partition(".")
        if tail:
            overrides.setdefault(head, {})[tail] = value
        else:
            overrides[head] = value
    if sandbox:  # after the loop: the outcome must not depend on the order of the keys
        server = overrides.get("server")
        if server is not None and str(server).strip().lower() != "testnet":
            raise InvalidSettingsError(
                [f'connect keys "Sandbox" and "Server" disagree: Sandbox selects the testnet, Server says {server!r}; '
                 "set only one of them"]
            ) from None  # no context to carry, and the same shape as every settings error
        overrides["server"] = "testnet"
    return overrides


def _check_pem_loads(pem: str) -> None:
    """A PEM secret that does not load would only fail at the first signed request, where it
    looks like a network problem; refuse it here, naming the field (never the value)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise ValueError("is an encrypted PEM private key; give the key without a passphrase") from None
    except Exception:  # noqa: BLE001 - cryptography raises ValueError and others for malformed input
        raise ValueError("is a PEM private key that cannot be read (check for a paste error)") from None


def field_env_name(loc: tuple[Any, ...]) -> str:
    """``("retry", "max_attempts")`` -> ``FOXTROT_BINANCE_RETRY__MAX_ATTEMPTS``."""
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _describe_errors(exc: ValidationError) -> list[str]:
    dialog_names = {v: k for k, v in CONNECT_KEYS.items()}
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(part for part in error["loc"] if part != "__root__")
        msg = error["msg"].removeprefix("Value error, ")
        if not loc:
            problems.append(msg)
            continue
        path = ".".join(str(p) for p in loc)
        label = f"{path} ({field_env_name(loc)}"
        if path in dialog_names:
            label += f', connect key "{dialog_names[path]}"'
        problems.append(f"{label}): {msg}")
    return problems


def _describe_source_error(exc: SettingsError) -> str:
    # pydantic-settings names the field and the source, e.g. 'error parsing value for field
    # "retry" from source "EnvSettingsSource"'; the value itself is not part of the text.
    return str(exc).split("\n", 1)[0]
