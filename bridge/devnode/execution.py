"""Executing a transaction on a state overlay: java-tron's contracts, fees and bandwidth.

Shared by the pool (admission against the pending state) and block production (receipts). A
contract that fails validation raises `ValidateError` with java-tron's message; a tx that cannot
pay for its bytes raises `ResourceError`.
"""

from __future__ import annotations

from google.protobuf.message import Message
from tronpy.proto import tron_pb2

from bridge.devnode.blocks import Receipt
from bridge.devnode.config import ChainConfig
from bridge.devnode.state import TRX, AccountRow, StateView
from bridge.devnode.txcodec import unpack_contract
from bridge.tron import protos

MAX_RESULT_SIZE_IN_TX = 64  # java-tron adds this to the serialized size when charging bandwidth
DAY_MS = 24 * 3600 * 1000


class ValidateError(Exception):
    """A contract validation failure, java-tron's ContractValidateException."""


class ResourceError(Exception):
    """Not enough bandwidth nor TRX to pay for it, java-tron's AccountResourceInsufficient."""


def valid_address(raw: bytes) -> bool:
    return len(raw) == 21 and raw[0] == 0x41


class Executor:
    def __init__(self, config: ChainConfig) -> None:
        self.config = config

    def charge_bandwidth(
        self, tx: tron_pb2.Transaction, owner: bytes, creates: bool, view: StateView, ts: int
    ) -> tuple[int, int]:
        """(net_usage, net_fee) of the tx; a tx that creates its recipient pays a flat fee."""
        account = view.account(owner)
        if account is None:
            raise ValidateError("account does not exist")
        size = tx.ByteSize() + MAX_RESULT_SIZE_IN_TX
        if creates:
            fee = self.config.create_account_fee
            if view.balance(owner, TRX) < fee:
                raise ResourceError
            view.add(owner, TRX, -fee)
            return 0, fee
        window = ts // DAY_MS
        used = account.net_used if account.net_window == window else 0
        if used + size <= self.config.free_bandwidth:
            view.put_account(
                owner, AccountRow(account.create_block, account.create_time, window, used + size)
            )
            return size, 0
        fee = size * self.config.fee_per_byte
        if view.balance(owner, TRX) < fee:
            raise ResourceError
        view.add(owner, TRX, -fee)
        return 0, fee

    def execute(
        self,
        tx: tron_pb2.Transaction,
        inner: Message,
        view: StateView,
        block_num: int,
        ts: int,
        head_ts: int,
    ) -> tuple[int, int, int, str | None]:
        """Apply a tx to `view` in block `block_num` made at `ts` on a head made at `head_ts`:
        (fee, net_usage, net_fee, asset_id). Raises on failure."""
        kind = protos.ContractType.Name(tx.raw_data.contract[0].type)
        owner = bytes(inner.owner_address)
        if not valid_address(owner):
            raise ValidateError("Invalid ownerAddress")
        to = bytes(getattr(inner, "to_address", b""))
        creates = kind != "AssetIssueContract" and valid_address(to) and view.account(to) is None
        if view.account(owner) is None:
            raise ValidateError(
                "No owner account!"
                if kind == "TransferAssetContract"
                else "Validate TransferContract error, no OwnerAccount."
                if kind == "TransferContract"
                else "Account not exists"
            )
        net_usage, net_fee = self.charge_bandwidth(tx, owner, creates, view, ts)
        system_fee = self.config.create_account_system_fee if creates else 0
        asset_id = None
        if kind == "TransferContract":
            self._transfer_trx(inner, owner, to, system_fee, view)
        elif kind == "TransferAssetContract":
            self._transfer_asset(inner, owner, to, system_fee, view)
        elif kind == "AssetIssueContract":
            asset_id = self._issue_asset(inner, owner, view, ts, head_ts)
            system_fee = self.config.asset_issue_fee
        if creates:
            view.put_account(to, AccountRow(block_num, ts, 0, 0))
        return net_fee + system_fee, net_usage, net_fee, asset_id

    def _transfer_trx(self, c: Message, owner: bytes, to: bytes, fee: int, view: StateView) -> None:
        if not valid_address(to):
            raise ValidateError("Invalid toAddress!")
        if to == owner:
            raise ValidateError("Cannot transfer TRX to yourself.")
        if c.amount <= 0:
            raise ValidateError("Amount must be greater than 0.")
        if view.balance(owner, TRX) < c.amount + fee:
            raise ValidateError("Validate TransferContract error, balance is not sufficient.")
        view.add(owner, TRX, -(c.amount + fee))
        view.add(to, TRX, c.amount)

    def _transfer_asset(
        self, c: Message, owner: bytes, to: bytes, fee: int, view: StateView
    ) -> None:
        if not valid_address(to):
            raise ValidateError("Invalid toAddress")
        if c.amount <= 0:
            raise ValidateError("Amount must be greater than 0.")
        if to == owner:
            raise ValidateError("Cannot transfer asset to yourself.")
        token = bytes(c.asset_name).decode("utf-8", "replace")
        if view.asset(token) is None:
            raise ValidateError("No asset!")
        held = view.balance(owner, token)
        if held <= 0:
            raise ValidateError("assetBalance must be greater than 0.")
        if held < c.amount:
            raise ValidateError("assetBalance is not sufficient.")
        if view.balance(owner, TRX) < fee:
            raise ValidateError("Validate TransferAssetActuator error, insufficient fee.")
        if fee:
            view.add(owner, TRX, -fee)
        view.add(owner, token, -c.amount)
        view.add(to, token, c.amount)

    def _issue_asset(self, c: Message, owner: bytes, view: StateView, ts: int, head_ts: int) -> str:
        if not 0 < len(c.name) <= 32 or c.name.lower() == b"trx":
            raise ValidateError("Invalid assetName")
        if c.precision < 0 or c.precision > 6:
            raise ValidateError("precision cannot exceed 6")
        if not 0 < len(c.url) <= 256:
            raise ValidateError("Invalid url")
        if len(c.description) > 200:
            raise ValidateError("Invalid description")
        if c.start_time == 0:
            raise ValidateError("Start time should be not empty")
        if c.end_time == 0:
            raise ValidateError("End time should be not empty")
        if c.end_time <= c.start_time:
            raise ValidateError("End time should be greater than start time")
        if c.start_time <= head_ts:
            raise ValidateError("Start time should be greater than HeadBlockTime")
        if c.total_supply <= 0:
            raise ValidateError("TotalSupply must greater than 0!")
        if c.trx_num <= 0:
            raise ValidateError("TrxNum must greater than 0!")
        if c.num <= 0:
            raise ValidateError("Num must greater than 0!")
        frozen = sum(f.frozen_amount for f in c.frozen_supply)
        if frozen > c.total_supply:
            raise ValidateError("Frozen supply cannot exceed total supply")
        if view.asset_of_owner(owner) is not None:
            raise ValidateError("An account can only issue one asset")
        if view.balance(owner, TRX) < self.config.asset_issue_fee:
            raise ValidateError("No enough balance for fee!")
        view.add(owner, TRX, -self.config.asset_issue_fee)
        token_id = view.allocate_asset_id()
        stored = protos.AssetIssueContract()
        stored.CopyFrom(c)
        stored.id = token_id
        view.assets[token_id] = (owner, stored.SerializeToString())
        view.add(owner, token_id, c.total_supply - frozen)
        return token_id

    def validate_contract(
        self, raw: tron_pb2.Transaction.raw, inner: Message, view: StateView, head_ts: int
    ) -> None:
        """What java-tron's create* endpoints check before returning an unsigned tx."""
        kind = protos.ContractType.Name(raw.contract[0].type)
        owner = bytes(inner.owner_address)
        if not valid_address(owner):
            raise ValidateError("Invalid ownerAddress")
        if view.account(owner) is None:
            raise ValidateError(
                "No owner account!" if kind == "TransferAssetContract" else "Account not exists"
            )
        to = bytes(getattr(inner, "to_address", b""))
        fee = 0
        if kind != "AssetIssueContract" and valid_address(to) and view.account(to) is None:
            fee = self.config.create_account_system_fee
        if kind == "TransferContract":
            self._transfer_trx(inner, owner, to, fee, view)
        elif kind == "TransferAssetContract":
            self._transfer_asset(inner, owner, to, fee, view)
        else:
            self._issue_asset(inner, owner, view, head_ts, head_ts)

    def run_in_block(
        self,
        tx: tron_pb2.Transaction,
        txid: str,
        view: StateView,
        num: int,
        ts: int,
        head_ts: int,
        *,
        fail: bool = False,
    ) -> Receipt | None:
        """The tx's receipt in block `num`, its effects merged into `view`; None when it cannot
        pay for its bytes (java-tron leaves it out of the block). `fail`: a fault injected."""
        inner = unpack_contract(tx.raw_data.contract[0])
        owner = bytes(inner.owner_address)
        attempt = view.child()
        try:
            if fail:
                raise ValidateError("devnode: injected execution failure")
            fee, net_usage, net_fee, asset_id = self.execute(tx, inner, attempt, num, ts, head_ts)
        except ResourceError:
            return None  # java-tron leaves it out of the block; it expires unseen
        except ValidateError as exc:
            # The tx still pays for its bytes; its contract has no effect.
            attempt = view.child()
            try:
                net_usage, net_fee = self.charge_bandwidth(tx, owner, False, attempt, ts)
            except (ResourceError, ValidateError):
                return None
            attempt.merge_into_parent()
            return Receipt(txid, num, ts, net_fee, net_usage, net_fee, str(exc), None)
        attempt.merge_into_parent()
        return Receipt(txid, num, ts, fee, net_usage, net_fee, None, asset_id)
