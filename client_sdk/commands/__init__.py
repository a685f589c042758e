"""The `btt` command groups, one module each; `client_sdk.cli` assembles them."""
