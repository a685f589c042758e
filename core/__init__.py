"""The shared kernel of BTT Channels: what the ledger, the bridge and the SDK all speak.

Keys and signatures, the signing digest and envelopes, amounts and ids, rejection reasons as
wire codes, statuses, the clock and the database engine helper. It imports nothing from
`ledger`, `bridge` or `client_sdk` (tests/unit/test_layering.py keeps it so).
"""
