"""Our typed gateway to a TRON node (Nile, mainnet or the local devnode), built on tronpy."""

from bridge.tron.errors import (
    BandwidthRejected,
    ContractRejected,
    NodeBusy,
    NodeRejected,
    NodeUnavailable,
    SignatureRejected,
    TaposRejected,
    TransactionExpired,
    TransactionTooBig,
    TronError,
)
from bridge.tron.gateway import MAINNET_ENDPOINT, NILE_ENDPOINT, TronGateway
from bridge.tron.types import (
    BroadcastResult,
    ChainHead,
    SignedTx,
    TokenId,
    TokenTransfer,
    TxStatus,
    UnsignedTx,
)

__all__ = [
    "MAINNET_ENDPOINT",
    "NILE_ENDPOINT",
    "BandwidthRejected",
    "BroadcastResult",
    "ChainHead",
    "ContractRejected",
    "NodeBusy",
    "NodeRejected",
    "NodeUnavailable",
    "SignatureRejected",
    "SignedTx",
    "TaposRejected",
    "TokenId",
    "TokenTransfer",
    "TransactionExpired",
    "TransactionTooBig",
    "TronError",
    "TronGateway",
    "TxStatus",
    "UnsignedTx",
]
