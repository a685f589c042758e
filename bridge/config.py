"""Bridge settings: flags > environment (BTT_BRIDGE_*) > TOML file, one object per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bridge.tron.gateway import NILE_ENDPOINT
from core.crypto import SigningKey, is_address
from core.keystore import Wallet, WalletError, looks_like_keystore
from core.settings import ConfigError, SettingsTable

DEFAULT_DB = f"sqlite:///{Path.home() / '.btt' / 'bridge.db'}"
ENV_PREFIX = "BTT_BRIDGE_"
HOT_KEY_ENV = "BTT_BRIDGE_HOT_KEY"
# Secret values never come from a flag (`ps` shows flags): their *_file settings do.
SECRET_VALUES = frozenset({"api_key", "treasury_token", "hot_key", "hot_key_password"})


class BridgeConfig(BaseSettings):
    """Every setting of `btt-bridge`. Each is a TOML key of the --config file, an environment
    variable BTT_BRIDGE_<NAME> and (secret values excepted) a flag --<name>; a flag wins over
    the environment, which wins over the file. `settings_reference()` documents them all."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    config_file: Path | None = Field(
        default=None, exclude=True, description="TOML file of settings (any below, by its TOML key)"
    )
    network: Literal["devnode", "nile"] = Field(
        default="devnode", description="TRON network: devnode (local) or nile (testnet)"
    )
    node_url: str = Field(
        default="http://127.0.0.1:8090",
        description="TRON HTTP API URL (nile: TronGrid's unless set)",
    )
    api_key: SecretStr | None = Field(
        default=None, description="TronGrid API key (secret: environment or file only)"
    )
    api_key_file: Path | None = Field(default=None, description="file holding the TronGrid key")
    ledger: str = Field(default="127.0.0.1:50051", description="ledger gRPC HOST:PORT")
    ledger_treasury: str = Field(
        default="",
        description="the ledger's Treasury HOST:PORT when it is served apart (btt-ledger "
        "--treasury-listen); default: --ledger",
    )
    ledger_ca_cert: Path | None = Field(
        default=None, description="TLS to the ledger: the CA that signed its certificate"
    )
    ledger_client_cert: Path | None = Field(
        default=None, description="TLS client certificate, for a ledger that asks for one"
    )
    ledger_client_key: Path | None = Field(
        default=None, description="the key of --ledger-client-cert"
    )
    treasury_token: SecretStr | None = Field(
        default=None, description="the ledger's Treasury token (secret: environment or file only)"
    )
    treasury_token_file: Path | None = Field(
        default=None, description="file holding the Treasury token"
    )
    db: str = Field(
        default=DEFAULT_DB, description="bridge state database URL (SQLite or PostgreSQL)"
    )
    token_id: str = Field(default="", description="TRC-10 token id of BTT (7 digits)")
    hot_key_file: Path | None = Field(
        default=None, description="file holding the bridge's hot key (64 hex characters)"
    )
    hot_key: SecretStr | None = Field(
        default=None, description="the hot key, hex (secret: environment or file only)"
    )
    hot_key_password: SecretStr | None = Field(
        default=None,
        description="password of --hot-key-file when it is a wallet keystore (secret: "
        "environment or file only)",
    )
    hot_key_password_file: Path | None = Field(
        default=None, description="file holding the password of a keystore --hot-key-file"
    )
    bridge_address: str = Field(
        default="", description="the bridge's TRON address, for commands run without its key"
    )
    start_block: int | None = Field(
        default=None,
        description="first block a fresh database scans (default: 0 on a devnode, else the "
        "solid head)",
    )
    scan_batch: int = Field(default=1000, description="blocks read per scan request")
    poll_interval: float = Field(default=1.0, description="seconds between passes")
    tx_lifetime_ms: int = Field(
        default=60_000, description="payout tx lifetime before a replacement (ms)"
    )
    max_withdrawal: int = Field(
        default=0, description="base units per withdrawal, larger ones fail (0 = no limit)"
    )
    daily_limit: int = Field(
        default=0, description="base units paid per UTC day, more waits (0 = no limit)"
    )
    node_timeout: float = Field(default=10.0, description="seconds per TRON node request")
    lease_seconds: int = Field(
        default=30,
        description="the ledger's one-active-bridge lease; a crashed bridge's successor waits "
        "this long",
    )

    @field_validator("poll_interval", "node_timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be more than 0 seconds")
        return value

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
        return TABLE.sources(settings_cls, init_settings, env_settings)

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
        """The bridge's signing key, from a file (hex, or a wallet keystore opened with
        BTT_BRIDGE_HOT_KEY_PASSWORD or --hot-key-password-file) or BTT_BRIDGE_HOT_KEY. Never
        printed."""
        if self.hot_key_file is not None:
            try:
                text = self.hot_key_file.read_text()
            except OSError as exc:
                raise ConfigError(f"cannot read hot key file {self.hot_key_file}") from exc
            if looks_like_keystore(text):
                password = _secret(
                    self.hot_key_password,
                    self.hot_key_password_file,
                    f"{self.hot_key_file} is a wallet keystore: set its password in "
                    "BTT_BRIDGE_HOT_KEY_PASSWORD",
                )
                return open_keystore(self.hot_key_file, password)
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

    def treasury_target(self) -> str:
        """Where the Treasury is served: its own port, else beside the Ledger service."""
        return self.ledger_treasury or self.ledger

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


def open_keystore(path: Path, password: str) -> SigningKey:
    try:
        return Wallet.load(path, password).signing_key
    except WalletError as exc:
        raise ConfigError(str(exc)) from None


TABLE = SettingsTable(BridgeConfig, ENV_PREFIX, SECRET_VALUES)
flag_of = TABLE.flag_of
describe = TABLE.describe
settings_reference = TABLE.reference  # docs/bridge.md carries it, checked by a test


def settings_in_force(config: BridgeConfig, flags: dict[str, Any]) -> list[dict[str, Any]]:
    """Each setting's value and where it came from (flag, env, file, default)."""
    return TABLE.in_force(config, flags)


def load_config(**flags: Any) -> BridgeConfig:
    """Flags given as None are left to the environment and the file."""
    config: BridgeConfig = TABLE.load(**flags)
    return config
