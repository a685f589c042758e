"""The installed `btt` command: the SDK's CLI plus the commands that run a local stack."""

from __future__ import annotations

from client_sdk import cli
from devnet.command import register as register_demo


def main() -> None:
    register_demo(cli.app)
    cli.main()


if __name__ == "__main__":
    main()
