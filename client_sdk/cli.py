"""`btt`: the wallet, ledger and payment-channel command line.

Human output by default, `--json` for scripts. Every option can come from the environment:
BTT_LEDGER, BTT_WALLET, BTT_PASSWORD (else a prompt), BTT_HOME (default ~/.btt), BTT_CA_CERT.
A bad argument or a refusal prints one line, `error: ...`, and exits 1.

Other modules add commands (seed, download, demo, ...) by registering on `app`:
    from client_sdk.cli import app, state
    @app.command()
    def seed(ctx: typer.Context, ...) -> None: ...
or `app.add_typer(sub_app, name="seed")`. `main()` imports the modules in `EXTENSIONS` (when
installed) and entry points of the group "btt.cli" before running, so they need no edit here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import json
import os
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.channel import (
    ChannelError,
    PayeeClient,
    PayerChannel,
    PayerStore,
) if False else (None, None, None, None)  # placeholder replaced below
