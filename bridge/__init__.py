"""The TRON bridge: deposit watcher, withdrawal worker, reconciliation and the `btt-bridge` CLI.

Entry points for programs: `bridge.runner.BridgeRunner`, `bridge.config.load_config`,
`bridge.binding.sign_binding`, and the demo helpers in `bridge.devtools`.
"""
