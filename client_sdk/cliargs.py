"""How `btt` reads its command line before click does: global options accepted after the
subcommand too, and `--config FILE` (TOML) turned into click's defaults, so that flags win over
BTT_* environment variables, which win over the file.

Pure functions over the click command tree; `clikit.OneLineErrors` calls them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CONFIG_ENV = "BTT_CONFIG_FILE"
# Global options that make no sense in a file: the file's own name, a secret, one-shot actions.
NOT_IN_FILE = {"config", "password", "version", "help"}


class ConfigFileError(Exception):
    """The config file is missing, not TOML, or names a setting `btt` does not have."""


def _options(cmd: Any) -> dict[str, Any]:
    """Every spelling of every option of `cmd` (--json, --no-bid ...) -> the parameter."""
    found: dict[str, Any] = {}
    for p in getattr(cmd, "params", []):
        for opt in [*p.opts, *(p.secondary_opts or [])]:
            if opt.startswith("-"):
                found[opt] = p
    return found


def _width(param: Any, token: str) -> int:
    """How many tokens the option at `token` takes: itself, and its value unless a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False) or "=" in token:
        return 1
    return 2


def _name(token: str) -> str:
    """`--ledger=x` -> `--ledger`."""
    return token.split("=", 1)[0] if token.startswith("--") else token


def hoist_globals(group: Any, args: Sequence[str]) -> list[str]:
    """Move the group's own options found after the subcommand to the front, unless the
    subcommand has an option of the same name (`download --timeout` stays its own)."""
    args = list(args)
    globals_ = {k: v for k, v in _options(group).items() if k != "--help"}
    i = 0
    while i < len(args) and _name(args[i]) in globals_:
        i += _width(globals_[_name(args[i])], args[i])
    front, path = args[:i], []
    cmd = group
    while i < len(args) and hasattr(cmd, "commands") and args[i] in cmd.commands:
        cmd = cmd.commands[args[i]]
        path.append(args[i])
        i += 1
    if cmd is group:
        return args
    own = _options(cmd)
    rest: list[str] = []
    while i < len(args):
        token = args[i]
        name = _name(token)
        if token == "--":
            rest += args[i:]
            break
        if token.startswith("-") and name in own:
            n = _width(own[name], token)
            rest += args[i : i + n]
        elif token.startswith("-") and name in globals_:
            n = _width(globals_[name], token)
            front += args[i : i + n]
        else:
            n = 1
            rest.append(token)
        i += n
    return front + path + rest


def config_path(front: Sequence[str], environ: Mapping[str, str] = os.environ) -> Path | None:
    """`--config FILE` among the leading (global) options, else $BTT_CONFIG_FILE."""
    for i, token in enumerate(front):
        if token == "--config" and i + 1 < len(front):
            return Path(front[i + 1]).expanduser()
        if token.startswith("--config="):
            return Path(token.split("=", 1)[1]).expanduser()
    value = environ.get(CONFIG_ENV)
    return Path(value).expanduser() if value else None


def read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigFileError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"config file {path} is not valid TOML: {exc}") from None


def default_map(cmd: Any, table: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """A TOML table -> click's default_map for `cmd`: keys are option names without dashes
    (`ca_cert` or `ca-cert`); a sub-table configures a subcommand (`[download]`,
    `[channel.open]`). An unknown key is an error, so a typo never leaves a default in force."""
    by_key = {}
    for p in getattr(cmd, "params", []):
        longs = [o for o in p.opts if o.startswith("--")]
        if longs and p.name not in NOT_IN_FILE:
            by_key[longs[0][2:].replace("-", "_")] = p.name
    commands = getattr(cmd, "commands", {})
    result: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        name = raw_key.replace("_", "-")
        if isinstance(value, dict) and name in commands:
            result[name] = default_map(commands[name], value, f"{where}{name}.")
        elif key in by_key:
            result[by_key[key]] = value
        else:
            label = f"in [{where.rstrip('.')}]" if where else "at the top level"
            hint = " (use password_file)" if key == "password" else ""
            raise ConfigFileError(f"unknown setting {raw_key!r} {label}{hint}")
    return result
