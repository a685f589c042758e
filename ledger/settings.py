"""Ledger settings: flags > environment (BTT_LEDGER_*) > TOML file, one object per process.

The shape follows `bridge.config`: one pydantic settings object, every setting documented by its
description, `settings_reference()` renders the table that docs/configuration.md carries.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from core.database import DEFAULT_TIMEOUT
from core.keepalive import Keepalive
from core.ratelimit import RateLimit
from core.settings import ConfigError, SettingsTable, parse_address
from core.types import Amount
from ledger.faucet import FaucetConfigError, FaucetPolicy

DEFAULT_DB = f"sqlite:///{Path.home() / '.btt' / 'ledger.db'}"
ENV_PREFIX = "BTT_LEDGER_"
# Secret values never come from a flag (`ps` shows flags): their *_file settings do.
SECRET_VALUES = frozenset({"treasury_token"})
# Environment names outside the BTT_LEDGER_<NAME> rule: older, or shared by every program.
ENV_NAMES = {"ledger_id": "BTT_LEDGER_ID", "log_level": "BTT_LOG_LEVEL"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_KEEPALIVE = Keepalive()  # the defaults


class LedgerSettings(BaseSettings):
    """Every setting of `btt-ledger`. Each is a TOML key of the --config file, an environment
    variable BTT_LEDGER_<NAME> and (secret values excepted) a flag --<name>; a flag wins over
    the environment, which wins over the file."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    config_file: Path | None = Field(
        default=None, exclude=True, description="TOML file of settings (any below, by its TOML key)"
    )
    db: str = Field(
        default=DEFAULT_DB, description="database URL: sqlite:///PATH or postgresql://..."
    )
    listen: str = Field(
        default="127.0.0.1:50051", description="HOST:PORT of the gRPC service (port 0: any free)"
    )
    ledger_id: str | None = Field(
        default=None, description="the ledger's id, pinned in the database on first start"
    )
    tls_cert: Path | None = Field(default=None, description="TLS certificate chain (PEM)")
    tls_key: Path | None = Field(default=None, description="the key of --tls-cert (PEM)")
    treasury_token: SecretStr | None = Field(
        default=None,
        description="bearer token that enables the Treasury service (secret: environment or "
        "file only)",
    )
    treasury_token_file: Path | None = Field(
        default=None, description="file holding the Treasury token"
    )
    treasury_listen: str | None = Field(
        default=None,
        description="HOST:PORT serving the Treasury apart from the user service (which then "
        "has no Treasury)",
    )
    treasury_client_ca: Path | None = Field(
        default=None,
        description="CA whose client certificates the Treasury port requires (mTLS; needs "
        "--treasury-listen and TLS)",
    )
    metrics: str | None = Field(default=None, description="HOST:PORT of the Prometheus endpoint")
    challenge_window: int = Field(
        default=3600, description="seconds a closing channel waits for a newer state"
    )
    migrate: bool = Field(
        default=False, description="upgrade the schema on start (always done for SQLite)"
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    db_workers: int = Field(default=8, description="concurrent database transactions")
    db_timeout: float = Field(
        default=DEFAULT_TIMEOUT,
        description="seconds one database transaction may take (a client's shorter deadline wins)",
    )
    processes: int = Field(
        default=1,
        description="server processes sharing the port, supervised (restarted with backoff)",
    )
    faucet_pool: str | None = Field(
        default=None,
        description="turns the promotional faucet on: the account grants are paid from",
    )
    faucet_amount: int = Field(default=10_000_000, description="faucet: base units per grant")
    faucet_difficulty: int = Field(default=22, description="faucet: proof-of-work bits")
    faucet_challenge_ttl: int = Field(default=600, description="faucet: challenge lifetime, s")
    faucet_per_address: int = Field(
        default=3, description="faucet: grants per client address per window"
    )
    faucet_window: int = Field(default=86_400, description="faucet: the window, seconds")
    rate_limit: float = Field(
        default=0.0, description="requests a second per client address (0: off)"
    )
    rate_burst: int = Field(
        default=0, description="requests a client address may send at once (0: two seconds' worth)"
    )
    keepalive_time: float = Field(
        default=_KEEPALIVE.time, description="seconds before pinging a quiet peer"
    )
    keepalive_timeout: float = Field(
        default=_KEEPALIVE.timeout, description="seconds a ping may go unanswered"
    )
    idle_timeout: float = Field(
        default=_KEEPALIVE.idle,
        description="seconds without a call before a connection is closed (0: never)",
    )
    min_ping_interval: float = Field(
        default=_KEEPALIVE.min_ping_interval,
        description="seconds a client must leave between pings when no data flows",
    )
    max_ping_strikes: int = Field(
        default=_KEEPALIVE.max_ping_strikes,
        description="too-frequent pings tolerated before the connection is cut (0: no limit)",
    )
    permit_pings_without_calls: bool = Field(
        default=_KEEPALIVE.permit_without_calls,
        description="accept client pings on connections without calls",
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_address(value, allow_zero=True)
        return value

    @field_validator("metrics", "treasury_listen")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"not a log level: {value!r} ({', '.join(LOG_LEVELS)})")
        return value.upper()

    @field_validator("db_workers", "processes")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("db_timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be more than 0 seconds")
        return value

    @field_validator("challenge_window")
    @classmethod
    def _window(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1 second")
        return value

    @model_validator(mode="after")
    def _together(self) -> LedgerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.treasury_client_ca is not None:
            if self.treasury_listen is None:
                raise ValueError(
                    "--treasury-client-ca needs --treasury-listen (client certificates are "
                    "asked on the Treasury's own port, so user clients need none)"
                )
            if self.tls_cert is None:
                raise ValueError("--treasury-client-ca needs --tls-cert and --tls-key")
        if self.processes > 1 and self.listen.endswith(":0"):
            raise ValueError("--processes needs a fixed port")
        if self.processes > 1 and self.treasury_listen and self.treasury_listen.endswith(":0"):
            raise ValueError("--processes needs a fixed --treasury-listen port")
        self.rate()  # their own errors name what cannot work
        self.keepalive()
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return TABLE.sources(settings_cls, init_settings, env_settings, _RenamedEnv(settings_cls))

    # derived values

    def treasury_secret(self) -> str | None:
        """The Treasury token, or None (Treasury off)."""
        if self.treasury_token is not None:
            return self.treasury_token.get_secret_value()
        if self.treasury_token_file is None:
            return None
        try:
            text = self.treasury_token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {self.treasury_token_file}: {exc.strerror}") from None
        if not text:
            raise ConfigError(f"{self.treasury_token_file} is empty")
        return text

    def faucet(self) -> FaucetPolicy | None:
        if not self.faucet_pool:
            return None
        try:
            return FaucetPolicy(
                pool=self.faucet_pool,
                amount=Amount(self.faucet_amount),
                difficulty_bits=self.faucet_difficulty,
                challenge_ttl=self.faucet_challenge_ttl,
                per_address=self.faucet_per_address,
                window=self.faucet_window,
            )
        except FaucetConfigError as exc:
            raise ConfigError(str(exc)) from None

    def rate(self) -> RateLimit:
        """The per-client request rate limit (rate 0: off)."""
        twice = 2 * self.rate_limit
        burst = self.rate_burst or (max(1, math.ceil(twice)) if math.isfinite(twice) else 1)
        return RateLimit(rate=self.rate_limit, burst=burst)

    def keepalive(self) -> Keepalive:
        return Keepalive(
            time=self.keepalive_time,
            timeout=self.keepalive_timeout,
            idle=self.idle_timeout,
            permit_without_calls=self.permit_pings_without_calls,
            min_ping_interval=self.min_ping_interval,
            max_ping_strikes=self.max_ping_strikes,
        )

    def check_files(self) -> None:
        """Every file named exists (a typo is an error at start, not at the first client)."""
        for name in ("tls_cert", "tls_key", "treasury_client_ca", "treasury_token_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{flag_of(name)}: file not found: {path}")


class _RenamedEnv(PydanticBaseSettingsSource):
    """Settings whose environment variable is not BTT_LEDGER_<NAME> (ENV_NAMES)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        env = ENV_NAMES.get(field_name)
        return (os.environ.get(env) if env else None), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: os.environ[env] for name, env in ENV_NAMES.items() if env in os.environ}


TABLE = SettingsTable(
    LedgerSettings, ENV_PREFIX, SECRET_VALUES, env_names=ENV_NAMES, flag_in_errors=True
)
env_of = TABLE.env_of
flag_of = TABLE.flag_of
describe = TABLE.describe
settings_reference = TABLE.reference  # docs/configuration.md carries it, checked by a test
settings_in_force = TABLE.in_force


def load_settings(**flags: Any) -> LedgerSettings:
    """Flags given as None are left to the environment and the file."""
    settings: LedgerSettings = TABLE.load(**flags)
    return settings
