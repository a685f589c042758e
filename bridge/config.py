"""Bridge settings: flags > environment (BTT_BRIDGE_*) > TOML file, one object per process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bridge.tron.gateway import NILE_ENDPOINT
from core.crypto import SigningKey, is_address

DEFAULT_DB = f"sqlite:///{Path.home() / '.btt' / 'bridge.db'}"
HOT_KEY_ENV = "BTT_BRIDGE_HOT_KEY"


class ConfigError(ValueError):
    """The configuration cannot work (missing key, bad address, unreadable file)."""


class BridgeConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BTT_BRIDGE_", extra="ignore")

    config_file: Path | None = Field(default=None, exclude=True)
    network: Literal["devnode", "nile"] = "devnode"
    node_url: str = "http://127.0.0.1:8090"
    # Secrets come from the environment or a file, never from a command-line value (ps shows it).
    api_key: SecretStr | None = None  # TronGrid API key (Nile)
    api_key_file: Path | None = None
    ledger: str = "127.0.0.1:50051"
    ledger_ca_cert: Path | None = None  # TLS to the ledger: the CA that signed its certificate
    ledger_client_cert: Path | None = None  # ...and this bridge's certificate, where asked (mTLS)
    ledger_client_key: Path | None = None
    treasury_token: SecretStr | None = None
    treasury_token_file: Path | None = None
    db: str = DEFAULT_DB
    token_id: str = ""
    hot_key_file: Path | None = None
    hot_key: SecretStr | None = None  # hex; prefer hot_key_file
    bridge_address: str = ""  # needed when the hot key is not at hand (deposit command)
    start_block: int | None = None  # first block to scan; default: 0 on a devnode, else solid head
    scan_batch: int = 1000
    poll_interval: float = 1.0
    tx_lifetime_ms: int = 60_000
    max_withdrawal: int = 0  # base units per withdrawal; 0 = no limit
    daily_limit: int = 0  # base units per UTC day; 0 = no limit
    node_timeout: float = 10.0
    lease_seconds: int = 30  # the ledger's bridge lease; a crashed bridge's successor waits this

    @field_validator("token_id")
    @classmethod
    def _token(cls, value: str) -> str:
        if value and (not value.isdigit() or not 1_000_000 <= int(value) <= 9_999_999):
            raise ValueError(f"not a TRC-10 token id: {value!r}")
        return value

    @field_validator("lease_seconds")
    @classmethod
    def _lease(cls, value: int) -> int:
        if not 1 <= value <= 3600:
            raise ValueError("must be 1..3600 seconds")
        return value

    @field_validator("max_withdrawal", "daily_limit", "scan_batch", "tx_lifetime_ms")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must not be negative")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        init_kwargs: dict[str, Any] = getattr(init_settings, "init_kwargs", {})
        path = init_kwargs.get("config_file") or os.environ.get("BTT_BRIDGE_CONFIG_FILE")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path:
            if not Path(path).is_file():
                raise ConfigError(f"config file not found: {path}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
        return tuple(sources)

    # derived values

    @property
    def endpoint(self) -> str:
        if self.network == "nile" and self.node_url == "http://127.0.0.1:8090":
            return NILE_ENDPOINT
        return self.node_url

    def scan_start(self) -> int | None:
        """Where a fresh database starts scanning: the setting, else block 0 on a devnode, else
        None (the solid head)."""
        if self.start_block is None and self.network == "devnode":
            return 0
        return self.start_block

    def require_token(self) -> str:
        if not self.token_id:
            raise ConfigError("token id is not set (--token-id or BTT_BRIDGE_TOKEN_ID)")
        return self.token_id

    def load_hot_key(self) -> SigningKey:
        """The bridge's signing key, from a file (hex) or BTT_BRIDGE_HOT_KEY. Never printed."""
        if self.hot_key_file is not None:
            try:
                text = self.hot_key_file.read_text()
            except OSError as exc:
                raise ConfigError(f"cannot read hot key file {self.hot_key_file}") from exc
        elif self.hot_key is not None:
            text = self.hot_key.get_secret_value()
        else:
            raise ConfigError(f"no hot key: set --hot-key-file or {HOT_KEY_ENV}")
        try:
            return SigningKey.from_hex(text)
        except ValueError:
            raise ConfigError("hot key is not a 64-hex-character secp256k1 key") from None

    def address(self) -> str:
        """The bridge's TRON address: configured, else the hot key's (when one is configured).
        Only the bridge's operator has the hot key; a depositor names the address."""
        if self.bridge_address:
            if not is_address(self.bridge_address):
                raise ConfigError(f"not a TRON address: {self.bridge_address!r}")
            return self.bridge_address
        if self.hot_key_file is None and self.hot_key is None:
            raise ConfigError(
                "the bridge's TRON address is not set: --bridge-address "
                "(or BTT_BRIDGE_BRIDGE_ADDRESS)"
            )
        return self.load_hot_key().address

    def treasury_secret(self) -> str:
        return _secret(
            self.treasury_token,
            self.treasury_token_file,
            "treasury token is not set (BTT_BRIDGE_TREASURY_TOKEN or --treasury-token-file)",
        )

    def api_key_secret(self) -> str | None:
        if self.api_key is None and self.api_key_file is None:
            return None
        return _secret(self.api_key, self.api_key_file, "")

    def ledger_client_pair(self) -> tuple[Path, Path] | None:
        """This bridge's TLS client certificate and key, when both are set (with a CA)."""
        cert, key = self.ledger_client_cert, self.ledger_client_key
        if (cert is None) != (key is None):
            raise ConfigError("give both --ledger-client-cert and --ledger-client-key")
        if cert is None or key is None:
            return None
        if self.ledger_ca_cert is None:
            raise ConfigError("a client certificate needs --ledger-ca-cert too")
        return cert, key


def _secret(value: SecretStr | None, path: Path | None, missing: str) -> str:
    if value is not None:
        return value.get_secret_value()
    if path is None:
        raise ConfigError(missing)
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if not text:
        raise ConfigError(f"{path} is empty")
    return text


def load_config(**flags: Any) -> BridgeConfig:
    """Flags given as None are left to the environment and the file."""
    try:
        return BridgeConfig(**{k: v for k, v in flags.items() if v is not None})
    except ConfigError:
        raise
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(_first_error(exc)) from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"invalid setting {where}: {first.get('msg')}"
    return str(exc)
