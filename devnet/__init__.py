"""A whole BTT Channels stack on one machine: ledger, local TRON node, bridge and paid swarm.

It composes all three programs, so it lives beside them rather than inside the SDK.
"""
