from btt.ledger.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServiceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVICE_MODE_UNSPECIFIED: _ClassVar[ServiceMode]
    SERVICE_MODE_CHOKED: _ClassVar[ServiceMode]
    SERVICE_MODE_PAID: _ClassVar[ServiceMode]
    SERVICE_MODE_FREE: _ClassVar[ServiceMode]
SERVICE_MODE_UNSPECIFIED: ServiceMode
SERVICE_MODE_CHOKED: ServiceMode
SERVICE_MODE_PAID: ServiceMode
SERVICE_MODE_FREE: ServiceMode

class BidRequest(_message.Message):
    __slots__ = ("payer", "units_per_piece", "peer_endpoint", "info_hash")
    PAYER_FIELD_NUMBER: _ClassVar[int]
    UNITS_PER_PIECE_FIELD_NUMBER: _ClassVar[int]
    PEER_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    INFO_HASH_FIELD_NUMBER: _ClassVar[int]
    payer: str
    units_per_piece: int
    peer_endpoint: str
    info_hash: str
    def __init__(self, payer: _Optional[str] = ..., units_per_piece: _Optional[int] = ..., peer_endpoint: _Optional[str] = ..., info_hash: _Optional[str] = ...) -> None: ...

class ChannelTerms(_message.Message):
    __slots__ = ("min_deposit", "suggested_deposit", "suggested_expiry", "min_expiry", "max_expiry", "credit_pieces")
    MIN_DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    MIN_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    MAX_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    CREDIT_PIECES_FIELD_NUMBER: _ClassVar[int]
    min_deposit: int
    suggested_deposit: int
    suggested_expiry: int
    min_expiry: int
    max_expiry: int
    credit_pieces: int
    def __init__(self, min_deposit: _Optional[int] = ..., suggested_deposit: _Optional[int] = ..., suggested_expiry: _Optional[int] = ..., min_expiry: _Optional[int] = ..., max_expiry: _Optional[int] = ..., credit_pieces: _Optional[int] = ...) -> None: ...

class BidResponse(_message.Message):
    __slots__ = ("accepted", "rate", "payee", "terms", "piece_size", "ledger_id", "reason")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    PAYEE_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    PIECE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    rate: int
    payee: str
    terms: ChannelTerms
    piece_size: int
    ledger_id: str
    reason: str
    def __init__(self, accepted: _Optional[bool] = ..., rate: _Optional[int] = ..., payee: _Optional[str] = ..., terms: _Optional[_Union[ChannelTerms, _Mapping]] = ..., piece_size: _Optional[int] = ..., ledger_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SignRefundRequest(_message.Message):
    __slots__ = ("channel_id", "payer", "deposit", "expiry", "salt", "info_hash")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    PAYER_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    INFO_HASH_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    payer: str
    deposit: int
    expiry: int
    salt: int
    info_hash: str
    def __init__(self, channel_id: _Optional[bytes] = ..., payer: _Optional[str] = ..., deposit: _Optional[int] = ..., expiry: _Optional[int] = ..., salt: _Optional[int] = ..., info_hash: _Optional[str] = ...) -> None: ...

class SignRefundResponse(_message.Message):
    __slots__ = ("refund",)
    REFUND_FIELD_NUMBER: _ClassVar[int]
    refund: _ledger_pb2.Signed
    def __init__(self, refund: _Optional[_Union[_ledger_pb2.Signed, _Mapping]] = ...) -> None: ...

class ChannelOpenedRequest(_message.Message):
    __slots__ = ("channel_id", "info_hash", "peer_endpoint")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    INFO_HASH_FIELD_NUMBER: _ClassVar[int]
    PEER_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    info_hash: str
    peer_endpoint: str
    def __init__(self, channel_id: _Optional[bytes] = ..., info_hash: _Optional[str] = ..., peer_endpoint: _Optional[str] = ...) -> None: ...

class ChannelOpenedResponse(_message.Message):
    __slots__ = ("ready", "rate", "best_nonce", "best_cumulative", "reason", "best_signature")
    READY_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    BEST_NONCE_FIELD_NUMBER: _ClassVar[int]
    BEST_CUMULATIVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BEST_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ready: bool
    rate: int
    best_nonce: int
    best_cumulative: int
    reason: str
    best_signature: bytes
    def __init__(self, ready: _Optional[bool] = ..., rate: _Optional[int] = ..., best_nonce: _Optional[int] = ..., best_cumulative: _Optional[int] = ..., reason: _Optional[str] = ..., best_signature: _Optional[bytes] = ...) -> None: ...

class PaymentUpdate(_message.Message):
    __slots__ = ("channel_id", "nonce", "cumulative", "signature")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    nonce: int
    cumulative: int
    signature: bytes
    def __init__(self, channel_id: _Optional[bytes] = ..., nonce: _Optional[int] = ..., cumulative: _Optional[int] = ..., signature: _Optional[bytes] = ...) -> None: ...

class PaymentUpdates(_message.Message):
    __slots__ = ("updates",)
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[PaymentUpdate]
    def __init__(self, updates: _Optional[_Iterable[_Union[PaymentUpdate, _Mapping]]] = ...) -> None: ...

class PaymentReceipt(_message.Message):
    __slots__ = ("channel_id", "nonce", "accepted", "best_nonce", "best_cumulative", "reason", "message", "owed")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    BEST_NONCE_FIELD_NUMBER: _ClassVar[int]
    BEST_CUMULATIVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OWED_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    nonce: int
    accepted: bool
    best_nonce: int
    best_cumulative: int
    reason: str
    message: str
    owed: int
    def __init__(self, channel_id: _Optional[bytes] = ..., nonce: _Optional[int] = ..., accepted: _Optional[bool] = ..., best_nonce: _Optional[int] = ..., best_cumulative: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., owed: _Optional[int] = ...) -> None: ...

class PaymentReceipts(_message.Message):
    __slots__ = ("receipts",)
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[PaymentReceipt]
    def __init__(self, receipts: _Optional[_Iterable[_Union[PaymentReceipt, _Mapping]]] = ...) -> None: ...

class SignTopUpRefundRequest(_message.Message):
    __slots__ = ("channel_id", "new_expiry", "sequence")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    new_expiry: int
    sequence: int
    def __init__(self, channel_id: _Optional[bytes] = ..., new_expiry: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class SignTopUpRefundResponse(_message.Message):
    __slots__ = ("refund",)
    REFUND_FIELD_NUMBER: _ClassVar[int]
    refund: _ledger_pb2.Signed
    def __init__(self, refund: _Optional[_Union[_ledger_pb2.Signed, _Mapping]] = ...) -> None: ...

class CooperativeCloseRequest(_message.Message):
    __slots__ = ("payer_close",)
    PAYER_CLOSE_FIELD_NUMBER: _ClassVar[int]
    payer_close: _ledger_pb2.Signed
    def __init__(self, payer_close: _Optional[_Union[_ledger_pb2.Signed, _Mapping]] = ...) -> None: ...

class CooperativeCloseResponse(_message.Message):
    __slots__ = ("payee_close", "channel")
    PAYEE_CLOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    payee_close: _ledger_pb2.Signed
    channel: _ledger_pb2.Channel
    def __init__(self, payee_close: _Optional[_Union[_ledger_pb2.Signed, _Mapping]] = ..., channel: _Optional[_Union[_ledger_pb2.Channel, _Mapping]] = ...) -> None: ...

class ReservePriceRequest(_message.Message):
    __slots__ = ("info_hash",)
    INFO_HASH_FIELD_NUMBER: _ClassVar[int]
    info_hash: str
    def __init__(self, info_hash: _Optional[str] = ...) -> None: ...

class ReservePriceResponse(_message.Message):
    __slots__ = ("info_hash", "reserve_price", "challenge_nonce", "challenge_piece", "challenge_chunk", "chunk_size", "paid_slots", "rate")
    INFO_HASH_FIELD_NUMBER: _ClassVar[int]
    RESERVE_PRICE_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_NONCE_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_PIECE_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_CHUNK_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAID_SLOTS_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    info_hash: str
    reserve_price: int
    challenge_nonce: int
    challenge_piece: int
    challenge_chunk: int
    chunk_size: int
    paid_slots: int
    rate: int
    def __init__(self, info_hash: _Optional[str] = ..., reserve_price: _Optional[int] = ..., challenge_nonce: _Optional[int] = ..., challenge_piece: _Optional[int] = ..., challenge_chunk: _Optional[int] = ..., chunk_size: _Optional[int] = ..., paid_slots: _Optional[int] = ..., rate: _Optional[int] = ...) -> None: ...

class ProvePossessionRequest(_message.Message):
    __slots__ = ("info_hash", "challenge_nonce", "piece", "chunk", "chunk_sha256")
    INFO_HASH_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_NONCE_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SHA256_FIELD_NUMBER: _ClassVar[int]
    info_hash: str
    challenge_nonce: int
    piece: int
    chunk: int
    chunk_sha256: bytes
    def __init__(self, info_hash: _Optional[str] = ..., challenge_nonce: _Optional[int] = ..., piece: _Optional[int] = ..., chunk: _Optional[int] = ..., chunk_sha256: _Optional[bytes] = ...) -> None: ...

class ProvePossessionResponse(_message.Message):
    __slots__ = ("accepted", "reason", "message", "announcement")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCEMENT_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    reason: str
    message: str
    announcement: ReservePriceResponse
    def __init__(self, accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., announcement: _Optional[_Union[ReservePriceResponse, _Mapping]] = ...) -> None: ...

class FailedPieceReport(_message.Message):
    __slots__ = ("payer", "info_hash", "piece", "bytes")
    PAYER_FIELD_NUMBER: _ClassVar[int]
    INFO_HASH_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    payer: str
    info_hash: str
    piece: int
    bytes: int
    def __init__(self, payer: _Optional[str] = ..., info_hash: _Optional[str] = ..., piece: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class FailedPieceAck(_message.Message):
    __slots__ = ("forgiven", "forgiven_total")
    FORGIVEN_FIELD_NUMBER: _ClassVar[int]
    FORGIVEN_TOTAL_FIELD_NUMBER: _ClassVar[int]
    forgiven: int
    forgiven_total: int
    def __init__(self, forgiven: _Optional[int] = ..., forgiven_total: _Optional[int] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("payer", "info_hash")
    PAYER_FIELD_NUMBER: _ClassVar[int]
    INFO_HASH_FIELD_NUMBER: _ClassVar[int]
    payer: str
    info_hash: str
    def __init__(self, payer: _Optional[str] = ..., info_hash: _Optional[str] = ...) -> None: ...

class ServiceUpdate(_message.Message):
    __slots__ = ("info_hash", "mode", "rate", "credited", "window", "credit_limit", "reason", "sequence")
    INFO_HASH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    CREDITED_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    info_hash: str
    mode: ServiceMode
    rate: int
    credited: int
    window: int
    credit_limit: int
    reason: str
    sequence: int
    def __init__(self, info_hash: _Optional[str] = ..., mode: _Optional[_Union[ServiceMode, str]] = ..., rate: _Optional[int] = ..., credited: _Optional[int] = ..., window: _Optional[int] = ..., credit_limit: _Optional[int] = ..., reason: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...
