"""The installed `btt` command: the SDK's CLI plus the commands that run servers (the local
stack, the tracker)."""

from __future__ import annotations

from client_sdk import cli
from devnet.command import register as register_demo
from devnet.command import register_devnet
from tracker.command import register as register_tracker


def main() -> None:
    register_demo(cli.app)
    register_devnet(cli.app)
    register_tracker(cli.app)
    cli.main()


if __name__ == "__main__":
    main()
