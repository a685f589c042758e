from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChannelStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_STATUS_UNSPECIFIED: _ClassVar[ChannelStatus]
    CHANNEL_STATUS_OPEN: _ClassVar[ChannelStatus]
    CHANNEL_STATUS_CLOSING: _ClassVar[ChannelStatus]
    CHANNEL_STATUS_SETTLED: _ClassVar[ChannelStatus]

class SettleReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SETTLE_REASON_UNSPECIFIED: _ClassVar[SettleReason]
    SETTLE_REASON_PAYEE_CLOSE: _ClassVar[SettleReason]
    SETTLE_REASON_COOPERATIVE: _ClassVar[SettleReason]
    SETTLE_REASON_REFUND: _ClassVar[SettleReason]
    SETTLE_REASON_CHALLENGE_EXPIRED: _ClassVar[SettleReason]
    SETTLE_REASON_SWEPT: _ClassVar[SettleReason]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_CHANNEL_OPENED: _ClassVar[EventKind]
    EVENT_KIND_CHANNEL_UPDATED: _ClassVar[EventKind]
    EVENT_KIND_CHANNEL_CLOSING: _ClassVar[EventKind]
    EVENT_KIND_CHANNEL_SETTLED: _ClassVar[EventKind]
    EVENT_KIND_CHANNEL_TOPPED_UP: _ClassVar[EventKind]
    EVENT_KIND_TRANSFER: _ClassVar[EventKind]
    EVENT_KIND_CREDIT: _ClassVar[EventKind]
    EVENT_KIND_WITHDRAWAL_REQUESTED: _ClassVar[EventKind]
    EVENT_KIND_WITHDRAWAL_PAID: _ClassVar[EventKind]
    EVENT_KIND_WITHDRAWAL_FAILED: _ClassVar[EventKind]
    EVENT_KIND_FAUCET_GRANT: _ClassVar[EventKind]
CHANNEL_STATUS_UNSPECIFIED: ChannelStatus
CHANNEL_STATUS_OPEN: ChannelStatus
CHANNEL_STATUS_CLOSING: ChannelStatus
CHANNEL_STATUS_SETTLED: ChannelStatus
SETTLE_REASON_UNSPECIFIED: SettleReason
SETTLE_REASON_PAYEE_CLOSE: SettleReason
SETTLE_REASON_COOPERATIVE: SettleReason
SETTLE_REASON_REFUND: SettleReason
SETTLE_REASON_CHALLENGE_EXPIRED: SettleReason
SETTLE_REASON_SWEPT: SettleReason
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_CHANNEL_OPENED: EventKind
EVENT_KIND_CHANNEL_UPDATED: EventKind
EVENT_KIND_CHANNEL_CLOSING: EventKind
EVENT_KIND_CHANNEL_SETTLED: EventKind
EVENT_KIND_CHANNEL_TOPPED_UP: EventKind
EVENT_KIND_TRANSFER: EventKind
EVENT_KIND_CREDIT: EventKind
EVENT_KIND_WITHDRAWAL_REQUESTED: EventKind
EVENT_KIND_WITHDRAWAL_PAID: EventKind
EVENT_KIND_WITHDRAWAL_FAILED: EventKind
EVENT_KIND_FAUCET_GRANT: EventKind

class Signed(_message.Message):
    __slots__ = ("payload", "signature")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    signature: bytes
    def __init__(self, payload: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class TransferPayload(_message.Message):
    __slots__ = ("from_account", "to_account", "amount", "nonce", "memo", "request_id")
    FROM_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TO_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    from_account: str
    to_account: str
    amount: int
    nonce: int
    memo: str
    request_id: bytes
    def __init__(self, from_account: _Optional[str] = ..., to_account: _Optional[str] = ..., amount: _Optional[int] = ..., nonce: _Optional[int] = ..., memo: _Optional[str] = ..., request_id: _Optional[bytes] = ...) -> None: ...

class OpenChannelPayload(_message.Message):
    __slots__ = ("payer", "payee", "deposit", "expiry", "salt", "channel_id")
    PAYER_FIELD_NUMBER: _ClassVar[int]
    PAYEE_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    payer: str
    payee: str
    deposit: int
    expiry: int
    salt: int
    channel_id: bytes
    def __init__(self, payer: _Optional[str] = ..., payee: _Optional[str] = ..., deposit: _Optional[int] = ..., expiry: _Optional[int] = ..., salt: _Optional[int] = ..., channel_id: _Optional[bytes] = ...) -> None: ...

class RefundPayload(_message.Message):
    __slots__ = ("channel_id", "expiry", "version")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    expiry: int
    version: int
    def __init__(self, channel_id: _Optional[bytes] = ..., expiry: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class ChannelStatePayload(_message.Message):
    __slots__ = ("channel_id", "nonce", "cumulative")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    nonce: int
    cumulative: int
    def __init__(self, channel_id: _Optional[bytes] = ..., nonce: _Optional[int] = ..., cumulative: _Optional[int] = ...) -> None: ...

class CloseChannelPayload(_message.Message):
    __slots__ = ("channel_id", "nonce", "cumulative")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    nonce: int
    cumulative: int
    def __init__(self, channel_id: _Optional[bytes] = ..., nonce: _Optional[int] = ..., cumulative: _Optional[int] = ...) -> None: ...

class CooperativeClosePayload(_message.Message):
    __slots__ = ("channel_id", "cumulative")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    cumulative: int
    def __init__(self, channel_id: _Optional[bytes] = ..., cumulative: _Optional[int] = ...) -> None: ...

class RequestClosePayload(_message.Message):
    __slots__ = ("channel_id",)
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    def __init__(self, channel_id: _Optional[bytes] = ...) -> None: ...

class ClaimRefundPayload(_message.Message):
    __slots__ = ("channel_id",)
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    def __init__(self, channel_id: _Optional[bytes] = ...) -> None: ...

class TopUpPayload(_message.Message):
    __slots__ = ("channel_id", "additional_deposit", "new_expiry", "sequence")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    NEW_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    additional_deposit: int
    new_expiry: int
    sequence: int
    def __init__(self, channel_id: _Optional[bytes] = ..., additional_deposit: _Optional[int] = ..., new_expiry: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class WithdrawalPayload(_message.Message):
    __slots__ = ("account", "tron_address", "amount", "nonce", "request_id")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TRON_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    account: str
    tron_address: str
    amount: int
    nonce: int
    request_id: bytes
    def __init__(self, account: _Optional[str] = ..., tron_address: _Optional[str] = ..., amount: _Optional[int] = ..., nonce: _Optional[int] = ..., request_id: _Optional[bytes] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("id", "balance", "nonce")
    ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    balance: int
    nonce: int
    def __init__(self, id: _Optional[str] = ..., balance: _Optional[int] = ..., nonce: _Optional[int] = ...) -> None: ...

class Channel(_message.Message):
    __slots__ = ("channel_id", "payer", "payee", "deposit", "expiry", "status", "best_nonce", "best_cumulative", "close_deadline", "paid_to_payee", "refunded_to_payer", "settle_reason", "topup_sequence", "opened_at", "settled_at", "best_state_signature")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    PAYER_FIELD_NUMBER: _ClassVar[int]
    PAYEE_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BEST_NONCE_FIELD_NUMBER: _ClassVar[int]
    BEST_CUMULATIVE_FIELD_NUMBER: _ClassVar[int]
    CLOSE_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PAID_TO_PAYEE_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_TO_PAYER_FIELD_NUMBER: _ClassVar[int]
    SETTLE_REASON_FIELD_NUMBER: _ClassVar[int]
    TOPUP_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    SETTLED_AT_FIELD_NUMBER: _ClassVar[int]
    BEST_STATE_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    payer: str
    payee: str
    deposit: int
    expiry: int
    status: ChannelStatus
    best_nonce: int
    best_cumulative: int
    close_deadline: int
    paid_to_payee: int
    refunded_to_payer: int
    settle_reason: SettleReason
    topup_sequence: int
    opened_at: int
    settled_at: int
    best_state_signature: bytes
    def __init__(self, channel_id: _Optional[bytes] = ..., payer: _Optional[str] = ..., payee: _Optional[str] = ..., deposit: _Optional[int] = ..., expiry: _Optional[int] = ..., status: _Optional[_Union[ChannelStatus, str]] = ..., best_nonce: _Optional[int] = ..., best_cumulative: _Optional[int] = ..., close_deadline: _Optional[int] = ..., paid_to_payee: _Optional[int] = ..., refunded_to_payer: _Optional[int] = ..., settle_reason: _Optional[_Union[SettleReason, str]] = ..., topup_sequence: _Optional[int] = ..., opened_at: _Optional[int] = ..., settled_at: _Optional[int] = ..., best_state_signature: _Optional[bytes] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("ledger_id", "version", "now", "challenge_window_seconds", "max_amount", "last_event_id")
    LEDGER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ledger_id: str
    version: str
    now: int
    challenge_window_seconds: int
    max_amount: int
    last_event_id: int
    def __init__(self, ledger_id: _Optional[str] = ..., version: _Optional[str] = ..., now: _Optional[int] = ..., challenge_window_seconds: _Optional[int] = ..., max_amount: _Optional[int] = ..., last_event_id: _Optional[int] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: str
    def __init__(self, account: _Optional[str] = ...) -> None: ...

class TransferRequest(_message.Message):
    __slots__ = ("transfer",)
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    transfer: Signed
    def __init__(self, transfer: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class TransferResponse(_message.Message):
    __slots__ = ("from_account", "entry_id")
    FROM_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    from_account: Account
    entry_id: int
    def __init__(self, from_account: _Optional[_Union[Account, _Mapping]] = ..., entry_id: _Optional[int] = ...) -> None: ...

class OpenChannelRequest(_message.Message):
    __slots__ = ("commitment", "refund")
    COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    commitment: Signed
    refund: Signed
    def __init__(self, commitment: _Optional[_Union[Signed, _Mapping]] = ..., refund: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class ChannelResponse(_message.Message):
    __slots__ = ("channel",)
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    def __init__(self, channel: _Optional[_Union[Channel, _Mapping]] = ...) -> None: ...

class SubmitStateRequest(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: Signed
    def __init__(self, state: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class CloseChannelRequest(_message.Message):
    __slots__ = ("state", "close")
    STATE_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    state: Signed
    close: Signed
    def __init__(self, state: _Optional[_Union[Signed, _Mapping]] = ..., close: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class CooperativeCloseRequest(_message.Message):
    __slots__ = ("payer_close", "payee_close")
    PAYER_CLOSE_FIELD_NUMBER: _ClassVar[int]
    PAYEE_CLOSE_FIELD_NUMBER: _ClassVar[int]
    payer_close: Signed
    payee_close: Signed
    def __init__(self, payer_close: _Optional[_Union[Signed, _Mapping]] = ..., payee_close: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class RequestCloseRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: Signed
    def __init__(self, request: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class ClaimRefundRequest(_message.Message):
    __slots__ = ("claim", "refund")
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    claim: Signed
    refund: Signed
    def __init__(self, claim: _Optional[_Union[Signed, _Mapping]] = ..., refund: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class TopUpRequest(_message.Message):
    __slots__ = ("topup", "refund")
    TOPUP_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    topup: Signed
    refund: Signed
    def __init__(self, topup: _Optional[_Union[Signed, _Mapping]] = ..., refund: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class GetChannelRequest(_message.Message):
    __slots__ = ("channel_id",)
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    channel_id: bytes
    def __init__(self, channel_id: _Optional[bytes] = ...) -> None: ...

class ListChannelsRequest(_message.Message):
    __slots__ = ("party", "status", "limit", "after_channel_id")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    party: str
    status: ChannelStatus
    limit: int
    after_channel_id: bytes
    def __init__(self, party: _Optional[str] = ..., status: _Optional[_Union[ChannelStatus, str]] = ..., limit: _Optional[int] = ..., after_channel_id: _Optional[bytes] = ...) -> None: ...

class ListChannelsResponse(_message.Message):
    __slots__ = ("channels",)
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[Channel]
    def __init__(self, channels: _Optional[_Iterable[_Union[Channel, _Mapping]]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("account", "after_event_id", "only_new")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AFTER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ONLY_NEW_FIELD_NUMBER: _ClassVar[int]
    account: str
    after_event_id: int
    only_new: bool
    def __init__(self, account: _Optional[str] = ..., after_event_id: _Optional[int] = ..., only_new: _Optional[bool] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event_id", "at", "accounts", "channel_id", "amount", "channel", "reference", "kind")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    at: int
    accounts: _containers.RepeatedScalarFieldContainer[str]
    channel_id: bytes
    amount: int
    channel: Channel
    reference: str
    kind: EventKind
    def __init__(self, event_id: _Optional[int] = ..., at: _Optional[int] = ..., accounts: _Optional[_Iterable[str]] = ..., channel_id: _Optional[bytes] = ..., amount: _Optional[int] = ..., channel: _Optional[_Union[Channel, _Mapping]] = ..., reference: _Optional[str] = ..., kind: _Optional[_Union[EventKind, str]] = ...) -> None: ...

class AuditRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuditResponse(_message.Message):
    __slots__ = ("account_balances", "channel_escrow", "pending_withdrawals", "deposits_credited", "withdrawals_paid", "balanced", "journal_entries", "journal_imbalance")
    ACCOUNT_BALANCES_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ESCROW_FIELD_NUMBER: _ClassVar[int]
    PENDING_WITHDRAWALS_FIELD_NUMBER: _ClassVar[int]
    DEPOSITS_CREDITED_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWALS_PAID_FIELD_NUMBER: _ClassVar[int]
    BALANCED_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_IMBALANCE_FIELD_NUMBER: _ClassVar[int]
    account_balances: int
    channel_escrow: int
    pending_withdrawals: int
    deposits_credited: int
    withdrawals_paid: int
    balanced: bool
    journal_entries: int
    journal_imbalance: int
    def __init__(self, account_balances: _Optional[int] = ..., channel_escrow: _Optional[int] = ..., pending_withdrawals: _Optional[int] = ..., deposits_credited: _Optional[int] = ..., withdrawals_paid: _Optional[int] = ..., balanced: _Optional[bool] = ..., journal_entries: _Optional[int] = ..., journal_imbalance: _Optional[int] = ...) -> None: ...

class RequestWithdrawalRequest(_message.Message):
    __slots__ = ("withdrawal",)
    WITHDRAWAL_FIELD_NUMBER: _ClassVar[int]
    withdrawal: Signed
    def __init__(self, withdrawal: _Optional[_Union[Signed, _Mapping]] = ...) -> None: ...

class Withdrawal(_message.Message):
    __slots__ = ("withdrawal_id", "account", "tron_address", "amount", "status", "txid", "requested_at", "failure_reason")
    WITHDRAWAL_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TRON_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    withdrawal_id: int
    account: str
    tron_address: str
    amount: int
    status: str
    txid: str
    requested_at: int
    failure_reason: str
    def __init__(self, withdrawal_id: _Optional[int] = ..., account: _Optional[str] = ..., tron_address: _Optional[str] = ..., amount: _Optional[int] = ..., status: _Optional[str] = ..., txid: _Optional[str] = ..., requested_at: _Optional[int] = ..., failure_reason: _Optional[str] = ...) -> None: ...

class WithdrawalResponse(_message.Message):
    __slots__ = ("withdrawal",)
    WITHDRAWAL_FIELD_NUMBER: _ClassVar[int]
    withdrawal: Withdrawal
    def __init__(self, withdrawal: _Optional[_Union[Withdrawal, _Mapping]] = ...) -> None: ...

class ListAccountWithdrawalsRequest(_message.Message):
    __slots__ = ("account", "status", "limit", "after_id")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    account: str
    status: str
    limit: int
    after_id: int
    def __init__(self, account: _Optional[str] = ..., status: _Optional[str] = ..., limit: _Optional[int] = ..., after_id: _Optional[int] = ...) -> None: ...

class BatchOperation(_message.Message):
    __slots__ = ("transfer", "submit_state", "close")
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_STATE_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    transfer: TransferRequest
    submit_state: SubmitStateRequest
    close: CloseChannelRequest
    def __init__(self, transfer: _Optional[_Union[TransferRequest, _Mapping]] = ..., submit_state: _Optional[_Union[SubmitStateRequest, _Mapping]] = ..., close: _Optional[_Union[CloseChannelRequest, _Mapping]] = ...) -> None: ...

class SubmitBatchRequest(_message.Message):
    __slots__ = ("operations",)
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[BatchOperation]
    def __init__(self, operations: _Optional[_Iterable[_Union[BatchOperation, _Mapping]]] = ...) -> None: ...

class OperationError(_message.Message):
    __slots__ = ("code", "reason", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    reason: str
    message: str
    def __init__(self, code: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class BatchResult(_message.Message):
    __slots__ = ("transfer", "channel", "error")
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    transfer: TransferResponse
    channel: ChannelResponse
    error: OperationError
    def __init__(self, transfer: _Optional[_Union[TransferResponse, _Mapping]] = ..., channel: _Optional[_Union[ChannelResponse, _Mapping]] = ..., error: _Optional[_Union[OperationError, _Mapping]] = ...) -> None: ...

class SubmitBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchResult, _Mapping]]] = ...) -> None: ...

class FaucetChallengeRequest(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: str
    def __init__(self, account: _Optional[str] = ...) -> None: ...

class FaucetChallenge(_message.Message):
    __slots__ = ("challenge", "difficulty_bits", "expires_at", "amount")
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    DIFFICULTY_BITS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    challenge: bytes
    difficulty_bits: int
    expires_at: int
    amount: int
    def __init__(self, challenge: _Optional[bytes] = ..., difficulty_bits: _Optional[int] = ..., expires_at: _Optional[int] = ..., amount: _Optional[int] = ...) -> None: ...

class ClaimFaucetRequest(_message.Message):
    __slots__ = ("account", "challenge", "solution")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    SOLUTION_FIELD_NUMBER: _ClassVar[int]
    account: str
    challenge: bytes
    solution: int
    def __init__(self, account: _Optional[str] = ..., challenge: _Optional[bytes] = ..., solution: _Optional[int] = ...) -> None: ...

class ClaimFaucetResponse(_message.Message):
    __slots__ = ("account", "amount", "granted_at")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    amount: int
    granted_at: int
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., amount: _Optional[int] = ..., granted_at: _Optional[int] = ...) -> None: ...

class CreditDepositRequest(_message.Message):
    __slots__ = ("txid", "contract_index", "account", "amount", "tron_from")
    TXID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_INDEX_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TRON_FROM_FIELD_NUMBER: _ClassVar[int]
    txid: str
    contract_index: int
    account: str
    amount: int
    tron_from: str
    def __init__(self, txid: _Optional[str] = ..., contract_index: _Optional[int] = ..., account: _Optional[str] = ..., amount: _Optional[int] = ..., tron_from: _Optional[str] = ...) -> None: ...

class CreditDepositResponse(_message.Message):
    __slots__ = ("newly_credited", "account")
    NEWLY_CREDITED_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    newly_credited: bool
    account: Account
    def __init__(self, newly_credited: _Optional[bool] = ..., account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class ListWithdrawalsRequest(_message.Message):
    __slots__ = ("status", "limit", "after_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    status: str
    limit: int
    after_id: int
    def __init__(self, status: _Optional[str] = ..., limit: _Optional[int] = ..., after_id: _Optional[int] = ...) -> None: ...

class ListWithdrawalsResponse(_message.Message):
    __slots__ = ("withdrawals",)
    WITHDRAWALS_FIELD_NUMBER: _ClassVar[int]
    withdrawals: _containers.RepeatedCompositeFieldContainer[Withdrawal]
    def __init__(self, withdrawals: _Optional[_Iterable[_Union[Withdrawal, _Mapping]]] = ...) -> None: ...

class MarkWithdrawalPaidRequest(_message.Message):
    __slots__ = ("withdrawal_id", "txid")
    WITHDRAWAL_ID_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    withdrawal_id: int
    txid: str
    def __init__(self, withdrawal_id: _Optional[int] = ..., txid: _Optional[str] = ...) -> None: ...

class MarkWithdrawalFailedRequest(_message.Message):
    __slots__ = ("withdrawal_id", "reason")
    WITHDRAWAL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    withdrawal_id: int
    reason: str
    def __init__(self, withdrawal_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class AcquireLeaseRequest(_message.Message):
    __slots__ = ("holder", "ttl_seconds")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    holder: str
    ttl_seconds: int
    def __init__(self, holder: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class ReleaseLeaseRequest(_message.Message):
    __slots__ = ("holder",)
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    holder: str
    def __init__(self, holder: _Optional[str] = ...) -> None: ...

class LeaseResponse(_message.Message):
    __slots__ = ("granted", "holder", "expires_at")
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    holder: str
    expires_at: int
    def __init__(self, granted: _Optional[bool] = ..., holder: _Optional[str] = ..., expires_at: _Optional[int] = ...) -> None: ...

class PayoutTx(_message.Message):
    __slots__ = ("txid", "seq", "expiration_ms", "signed_tx", "recorded_at")
    TXID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNED_TX_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    txid: str
    seq: int
    expiration_ms: int
    signed_tx: bytes
    recorded_at: int
    def __init__(self, txid: _Optional[str] = ..., seq: _Optional[int] = ..., expiration_ms: _Optional[int] = ..., signed_tx: _Optional[bytes] = ..., recorded_at: _Optional[int] = ...) -> None: ...

class Payout(_message.Message):
    __slots__ = ("withdrawal", "txs")
    WITHDRAWAL_FIELD_NUMBER: _ClassVar[int]
    TXS_FIELD_NUMBER: _ClassVar[int]
    withdrawal: Withdrawal
    txs: _containers.RepeatedCompositeFieldContainer[PayoutTx]
    def __init__(self, withdrawal: _Optional[_Union[Withdrawal, _Mapping]] = ..., txs: _Optional[_Iterable[_Union[PayoutTx, _Mapping]]] = ...) -> None: ...

class RecordPayoutTxRequest(_message.Message):
    __slots__ = ("withdrawal_id", "holder", "replaces_txid", "txid", "expiration_ms", "signed_tx")
    WITHDRAWAL_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    REPLACES_TXID_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNED_TX_FIELD_NUMBER: _ClassVar[int]
    withdrawal_id: int
    holder: str
    replaces_txid: str
    txid: str
    expiration_ms: int
    signed_tx: bytes
    def __init__(self, withdrawal_id: _Optional[int] = ..., holder: _Optional[str] = ..., replaces_txid: _Optional[str] = ..., txid: _Optional[str] = ..., expiration_ms: _Optional[int] = ..., signed_tx: _Optional[bytes] = ...) -> None: ...

class PayoutResponse(_message.Message):
    __slots__ = ("payout",)
    PAYOUT_FIELD_NUMBER: _ClassVar[int]
    payout: Payout
    def __init__(self, payout: _Optional[_Union[Payout, _Mapping]] = ...) -> None: ...

class ListPayoutsResponse(_message.Message):
    __slots__ = ("payouts",)
    PAYOUTS_FIELD_NUMBER: _ClassVar[int]
    payouts: _containers.RepeatedCompositeFieldContainer[Payout]
    def __init__(self, payouts: _Optional[_Iterable[_Union[Payout, _Mapping]]] = ...) -> None: ...
