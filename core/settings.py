"""What the programs' settings have in common: a flag wins over the environment, which wins over
the TOML file named by --config; each setting's flag and variable; the table that documents them;
where each value in force came from; and a refused value as one line that names the setting."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource


class ConfigError(ValueError):
    """The configuration cannot work; the message says which setting and why."""


def parse_address(value: str, *, allow_zero: bool = False) -> tuple[str, int]:
    """HOST:PORT with a port of 1..65535 (0 = any free port, where allowed)."""
    host, sep, port = value.rpartition(":")
    low = 0 if allow_zero else 1
    if not sep or not host or not port.isdigit() or not low <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT with a port of {low}..65535, got {value!r}")
    return host, int(port)


@dataclass(frozen=True)
class SettingsTable:
    """One program's settings model seen from outside: its names on the command line, in the
    environment and in the documentation."""

    model: type[BaseSettings]
    env_prefix: str
    # Secret values never come from a flag (`ps` shows flags): their *_file settings do.
    secrets: frozenset[str]
    # Environment names outside the PREFIX<NAME> rule.
    env_names: Mapping[str, str] = field(default_factory=dict)
    # Whether a refused value's message names its flag too.
    flag_in_errors: bool = False

    def env_of(self, name: str) -> str:
        return self.env_names.get(name) or self.env_prefix + name.upper()

    def flag_of(self, name: str) -> str | None:
        """The command-line flag of a setting; None for secret values (environment or file)."""
        if name in self.secrets:
            return None
        return "--config" if name == "config_file" else "--" + name.replace("_", "-")

    def describe(self, name: str) -> str:
        return self.model.model_fields[name].description or ""

    def config_path(self, given: object = None) -> str | None:
        """The --config file: given as a flag, else from the environment."""
        return str(given) if given else os.environ.get(self.env_of("config_file"))

    def sources(
        self,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        *more: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """For the model's settings_customise_sources: flags, then `more` (the environment),
        then the --config file, which must exist when named."""
        init_kwargs: dict[str, Any] = getattr(init_settings, "init_kwargs", {})
        path = self.config_path(init_kwargs.get("config_file"))
        found: list[PydanticBaseSettingsSource] = [init_settings, *more]
        if path:
            if not Path(path).is_file():
                raise ConfigError(f"config file not found: {path}")
            found.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
        return tuple(found)

    def load(self, **flags: Any) -> Any:
        """The settings in force; flags given as None are left to the environment and the file."""
        path = self.config_path(flags.get("config_file"))
        try:
            return self.model(**{k: v for k, v in flags.items() if v is not None})
        except ConfigError:
            raise
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ConfigError(self._first_error(exc, path)) from None

    def reference(self) -> str:
        """Every setting as a Markdown table, for the program's documentation."""
        rows = ["| TOML key | flag | environment | default | meaning |", "|---|---|---|---|---|"]
        for name, info in self.model.model_fields.items():
            default = info.default
            shown = "" if default in (None, "") else str(default).replace(str(Path.home()), "~")
            flag = f"`{self.flag_of(name)}`" if self.flag_of(name) else "none (secret)"
            key = "" if name == "config_file" else f"`{name}`"
            rows.append(
                f"| {key} | {flag} | `{self.env_of(name)}` | {shown and f'`{shown}`'} "
                f"| {info.description} |"
            )
        return "\n".join(rows) + "\n"

    def in_force(
        self, settings: BaseSettings, flags: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Each setting's value and where it came from (flag, env, file, default); a secret value
        shows only whether it is set."""
        path = self.config_path(getattr(settings, "config_file", None))
        in_file = set(tomllib.loads(Path(path).read_text())) if path else set()
        rows = []
        for name in self.model.model_fields:
            value = getattr(settings, name)
            if name in self.secrets:
                value = "(set)" if value is not None else None
            elif isinstance(value, Path):
                value = str(value)
            if flags is not None and flags.get(name) is not None:
                source = f"flag {self.flag_of(name)}"
            elif self.env_of(name) in os.environ:
                source = f"env {self.env_of(name)}"
            elif name in in_file:
                source = "file"
            elif name == "config_file" and path:
                source = "flag --config"
            else:
                source = "default"
            rows.append({"setting": name, "value": value, "source": source})
        return rows

    def _first_error(self, exc: ValueError, path: object) -> str:
        errors = getattr(exc, "errors", None)
        if not callable(errors):
            return str(exc)
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        if first.get("type") == "extra_forbidden":
            return f"unknown setting {where!r} in config file {path}"
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        if not where:  # a rule over several settings says which itself
            return message
        known = self.flag_in_errors and where in self.model.model_fields
        flag = self.flag_of(where) if known else None
        return f"invalid setting {where}{f' ({flag})' if flag else ''}: {message}"
