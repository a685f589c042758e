"""aiohttp server speaking the java-tron HTTP API subset, plus `/devnode/*` admin endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from tronpy.keys import to_base58check_address, to_raw_address
from tronpy.proto import tron_pb2

from bridge.devnode.chain import BroadcastRefused, Chain, ChainConfig, ValidateError
from bridge.devnode.params import BadRequest, Params, _address, _int, _token_id, _visible
from bridge.devnode.render import account_json, asset_json, block_json, receipt_json, tx_json
from bridge.devnode.state import TRX
from bridge.devnode.txcodec import (
    CodecError,
    message_from_json,
    transaction_from_json,
    transaction_to_json,
    txid_of,
    unpack_contract,
)
from bridge.tron import protos

log = logging.getLogger(__name__)
Handler = Callable[[Params], dict[str, Any]]
BLOCK_LIMIT = 100  # java-tron's cap on getblockbylimitnext ranges
DEFAULT_TX_LIFETIME_MS = 60_000


def _bind(fn: Callable[[Params, bool], dict[str, Any]], solid: bool) -> Handler:
    def handler(params: Params) -> dict[str, Any]:
        return fn(params, solid)

    return handler


class Api:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def routes(self) -> dict[str, Handler]:
        c = self
        read: dict[str, Callable[[Params, bool], dict[str, Any]]] = {
            "getaccount": c.get_account,
            "getnowblock": c.get_now_block,
            "getblockbynum": c.get_block_by_num,
            "getblockbyid": c.get_block_by_id,
            "getblockbylimitnext": c.get_block_by_limit_next,
            "getblockbylatestnum": c.get_block_by_latest_num,
            "gettransactionbyid": c.get_transaction_by_id,
            "gettransactioninfobyid": c.get_transaction_info_by_id,
            "getassetissuebyid": c.get_asset_issue_by_id,
            "getassetissuelist": c.get_asset_issue_list,
            "getnodeinfo": lambda p, _s: c.get_node_info(p),
        }
        routes: dict[str, Handler] = {}
        for name, fn in read.items():
            routes[f"/wallet/{name}"] = _bind(fn, solid=False)
            routes[f"/walletsolidity/{name}"] = _bind(fn, solid=True)
        routes.update(
            {
                "/wallet/getsignweight": c.get_sign_weight,
                "/wallet/broadcasttransaction": c.broadcast_transaction,
                "/wallet/broadcasthex": c.broadcast_hex,
                "/wallet/transferasset": c.transfer_asset,
                "/wallet/createtransaction": c.create_transaction,
                "/wallet/createassetissue": c.create_asset_issue,
                "/wallet/gettransactionfrompending": c.get_transaction_from_pending,
                "/wallet/getaccountnet": c.get_account_net,
                "/wallet/getchainparameters": c.get_chain_parameters,
                "/devnode/fund": c.admin_fund,
                "/devnode/issue": c.admin_issue,
                "/devnode/produce": c.admin_produce,
                "/devnode/faults": c.admin_faults,
                "/devnode/status": c.admin_status,
            }
        )
        return routes

    # reads

    def get_node_info(self, params: Params) -> dict[str, Any]:
        chain = self.chain
        head, solid = chain.head_num(), chain.solid_num()
        return {
            "beginSyncNum": head,
            "block": f"Num:{head},ID:{chain.block_id(head).hex()}",
            "solidityBlock": f"Num:{solid},ID:{chain.block_id(solid).hex()}",
            "currentConnectCount": 0,
            "activeConnectCount": 0,
            "passiveConnectCount": 0,
            "totalFlow": 0,
            "peerInfoList": [],
            "configNodeInfo": {"codeVersion": "devnode", "p2pVersion": "devnode"},
            "machineInfo": {},
            "cheatWitnessInfoMap": {},
        }

    def _limit(self, solid: bool) -> int | None:
        return self.chain.solid_num() if solid else None

    def get_account(self, params: Params, solid: bool) -> dict[str, Any]:
        raw = _address(params, "address")
        account = self.chain.account(raw, solid=solid)
        return account_json(raw, account, _visible(params)) if account else {}

    def get_now_block(self, params: Params, solid: bool) -> dict[str, Any]:
        num = self.chain.solid_num() if solid else self.chain.head_num()
        block = self.chain.get_block(num)
        return block_json(block, _visible(params)) if block else {}

    def get_block_by_num(self, params: Params, solid: bool) -> dict[str, Any]:
        block = self.chain.get_block(_int(params, "num"), self._limit(solid))
        return block_json(block, _visible(params)) if block else {}

    def get_block_by_id(self, params: Params, solid: bool) -> dict[str, Any]:
        value = params.get("value")
        try:
            block_id = bytes.fromhex(str(value))
        except ValueError as exc:
            raise BadRequest("value must be a hex block id") from exc
        num = self.chain.block_num_of_id(block_id)
        block = None if num is None else self.chain.get_block(num, self._limit(solid))
        return block_json(block, _visible(params)) if block else {}

    def get_block_by_limit_next(self, params: Params, solid: bool) -> dict[str, Any]:
        start, end = _int(params, "startNum"), _int(params, "endNum")
        if start < 0 or end <= start or end - start > BLOCK_LIMIT:
            return {}
        limit = self._limit(solid)
        blocks = []
        for num in range(start, end):
            block = self.chain.get_block(num, limit)
            if block is None:
                break
            blocks.append(block_json(block, _visible(params)))
        return {"block": blocks} if blocks else {}

    def get_block_by_latest_num(self, params: Params, solid: bool) -> dict[str, Any]:
        count = _int(params, "num")
        top = self.chain.solid_num() if solid else self.chain.head_num()
        if count <= 0 or count > BLOCK_LIMIT:
            return {}
        return self.get_block_by_limit_next(
            {**params, "startNum": max(0, top - count + 1), "endNum": top + 1}, solid
        )

    def _txid_param(self, params: Params) -> str:
        value = params.get("value")
        if not isinstance(value, str) or len(value) != 64:
            raise BadRequest("value must be a 64-character transaction id")
        return value.lower()

    def get_transaction_by_id(self, params: Params, solid: bool) -> dict[str, Any]:
        found = self.chain.get_transaction(self._txid_param(params), self._limit(solid))
        return tx_json(found[0], found[1], _visible(params)) if found else {}

    def get_transaction_info_by_id(self, params: Params, solid: bool) -> dict[str, Any]:
        found = self.chain.get_transaction(self._txid_param(params), self._limit(solid))
        return receipt_json(found[1]) if found else {}

    def get_transaction_from_pending(self, params: Params) -> dict[str, Any]:
        tx = self.chain.pending_transaction(self._txid_param(params))
        return transaction_to_json(tx, _visible(params)) if tx else {}

    def get_asset_issue_by_id(self, params: Params, solid: bool) -> dict[str, Any]:
        asset = self.chain.asset(str(params.get("value", "")), solid=solid)
        return asset_json(asset, _visible(params)) if asset else {}

    def get_asset_issue_list(self, params: Params, solid: bool) -> dict[str, Any]:
        return {"assetIssue": [asset_json(a, _visible(params)) for a in self.chain.assets()]}

    def get_account_net(self, params: Params) -> dict[str, Any]:
        raw = _address(params, "address")
        account = self.chain.account(raw)
        if account is None:
            return {}
        out: dict[str, Any] = {"freeNetLimit": self.chain.config.free_bandwidth}
        if account["net_used"]:
            out["freeNetUsed"] = account["net_used"]
        return out

    def get_chain_parameters(self, params: Params) -> dict[str, Any]:
        cfg = self.chain.config
        pairs = [
            ("getCreateAccountFee", cfg.create_account_fee),
            ("getTransactionFee", cfg.fee_per_byte),
            ("getAssetIssueFee", cfg.asset_issue_fee),
            ("getCreateNewAccountFeeInSystemContract", cfg.create_account_system_fee),
            ("getFreeNetLimit", cfg.free_bandwidth),
        ]
        return {"chainParameter": [{"key": k, "value": v} for k, v in pairs]}

    # transactions

    def _parse_tx(self, params: Params) -> tron_pb2.Transaction:
        try:
            return transaction_from_json(params)
        except CodecError as exc:
            raise BadRequest(str(exc)) from exc

    def get_sign_weight(self, params: Params) -> dict[str, Any]:
        tx = self._parse_tx(params)
        visible = _visible(params)
        txid = txid_of(tx.raw_data)
        out: dict[str, Any] = {}
        owner = b""
        try:
            owner = bytes(_inner(tx).owner_address)
        except CodecError as exc:
            raise BadRequest(str(exc)) from exc
        if self.chain.account_exists(owner):
            key = {
                "address": owner.hex() if not visible else to_base58check_address(owner),
                "weight": 1,
            }
            out["permission"] = {"permission_name": "owner", "threshold": 1, "keys": [key]}
            out["result"] = {"code": "NOT_ENOUGH_PERMISSION"}
        else:
            out["result"] = {"code": "PERMISSION_ERROR", "message": "Account does not exist!"}
        out["transaction"] = {
            "result": {"result": True},
            "txid": txid,
            "transaction": transaction_to_json(tx, visible),
        }
        return out

    def _broadcast(self, tx: tron_pb2.Transaction) -> dict[str, Any]:
        txid = txid_of(tx.raw_data)
        try:
            self.chain.broadcast(tx)
        except BroadcastRefused as exc:
            return {"code": exc.code, "txid": txid, "message": exc.message.encode().hex()}
        return {"result": True, "txid": txid}

    def broadcast_transaction(self, params: Params) -> dict[str, Any]:
        return self._broadcast(self._parse_tx(params))

    def broadcast_hex(self, params: Params) -> dict[str, Any]:
        tx = tron_pb2.Transaction()
        try:
            tx.ParseFromString(bytes.fromhex(str(params.get("transaction", ""))))
        except (ValueError, DecodeError) as exc:
            raise BadRequest("transaction must be the hex of a Transaction protobuf") from exc
        out = self._broadcast(tx)
        out["transaction"] = json.dumps(transaction_to_json(tx, False))
        return out

    def _unsigned(self, params: Params, kind: str, inner: Any) -> dict[str, Any]:
        chain = self.chain
        ref_num = chain.solid_num()
        ref_id = chain.block_id(ref_num)
        raw = tron_pb2.Transaction.raw(
            ref_block_bytes=ref_num.to_bytes(8, "big")[6:8],
            ref_block_hash=ref_id[8:16],
            expiration=chain.head_timestamp() + DEFAULT_TX_LIFETIME_MS,
            timestamp=int(time.time() * 1000),
        )
        if params.get("extra_data"):
            raw.data = str(params["extra_data"]).encode()
        raw.contract.add(
            type=getattr(protos.ContractType, kind),
            parameter=any_pb2.Any(type_url=protos.type_url(kind), value=inner.SerializeToString()),
        )
        try:
            chain.validate_contract(raw)
        except ValidateError as exc:
            raise BadRequest(
                f"class org.tron.core.exceptions.ContractValidateException : {exc}"
            ) from exc
        return transaction_to_json(tron_pb2.Transaction(raw_data=raw), _visible(params))

    def transfer_asset(self, params: Params) -> dict[str, Any]:
        visible = _visible(params)
        inner = tron_pb2.TransferAssetContract(
            asset_name=_token_id(params, "asset_name", visible).encode(),
            owner_address=_address(params, "owner_address"),
            to_address=_address(params, "to_address"),
            amount=_int(params, "amount"),
        )
        return self._unsigned(params, "TransferAssetContract", inner)

    def create_transaction(self, params: Params) -> dict[str, Any]:
        inner = tron_pb2.TransferContract(
            owner_address=_address(params, "owner_address"),
            to_address=_address(params, "to_address"),
            amount=_int(params, "amount"),
        )
        return self._unsigned(params, "TransferContract", inner)

    def create_asset_issue(self, params: Params) -> dict[str, Any]:
        fields = {
            k: v
            for k, v in params.items()
            if k in protos.AssetIssueContract.DESCRIPTOR.fields_by_name and k != "id"
        }
        try:
            inner = message_from_json(protos.AssetIssueContract, fields, _visible(params))
        except CodecError as exc:
            raise BadRequest(str(exc)) from exc
        return self._unsigned(params, "AssetIssueContract", inner)

    # admin

    def admin_fund(self, params: Params) -> dict[str, Any]:
        raw = _address(params, "address")
        token = str(params["token_id"]) if params.get("token_id") else TRX
        try:
            block = self.chain.fund(raw, _int(params, "amount"), token)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        return {"result": True, "blockNumber": block.num}

    def admin_issue(self, params: Params) -> dict[str, Any]:
        raw = _address(params, "owner_address")
        try:
            token_id = self.chain.issue(
                raw,
                str(params.get("name", "BTT")),
                _int(params, "total_supply"),
                _int(params, "precision", 6),
            )
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        return {"result": True, "token_id": token_id}

    def admin_produce(self, params: Params) -> dict[str, Any]:
        count = _int(params, "count", 1)
        if not 0 < count <= 10_000:
            raise BadRequest("count must be between 1 and 10000")
        for _ in range(count):
            self.chain.produce_block()
        return {"result": True, "head": self.chain.head_num()}

    def admin_faults(self, params: Params) -> dict[str, Any]:
        f = self.chain.faults
        if params.get("clear"):
            f.drop_next = f.delay_ms = f.dup_next = 0
            f.dup_include = False
            f.fail_txids.clear()
        for key in ("drop_next", "delay_ms", "dup_next"):
            if key in params:
                value = _int(params, key)
                if value < 0:
                    raise BadRequest(f"{key} must not be negative")
                setattr(f, key, value)
        if "dup_include" in params:
            f.dup_include = bool(params["dup_include"])
        for txid in params.get("fail_txids", []) or []:
            f.fail_txids.add(str(txid).lower())
        return {"result": True, **self.admin_status({})["faults"]}

    def admin_status(self, params: Params) -> dict[str, Any]:
        chain, f = self.chain, self.chain.faults
        return {
            "head": chain.head_num(),
            "head_timestamp": chain.head_timestamp(),
            "solid": chain.solid_num(),
            "solid_depth": chain.config.solid_depth,
            "pool": chain.pool_size(),
            "faults": {
                "drop_next": f.drop_next,
                "delay_ms": f.delay_ms,
                "dup_next": f.dup_next,
                "dup_include": f.dup_include,
                "fail_txids": sorted(f.fail_txids),
            },
        }


def _inner(tx: tron_pb2.Transaction) -> Any:
    if len(tx.raw_data.contract) != 1:
        raise CodecError("raw_data.contract must hold exactly one contract")
    return unpack_contract(tx.raw_data.contract[0])


async def _params(request: web.Request) -> Params:
    params: Params = dict(request.query)
    if request.can_read_body:
        text = await request.text()
        if text.strip():
            try:
                body = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BadRequest(f"request body is not JSON: {exc.msg}") from exc
            if not isinstance(body, dict):
                raise BadRequest("request body must be a JSON object")
            params.update(body)
    return params


def build_app(chain: Chain) -> web.Application:
    routes = Api(chain).routes()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        handler = routes.get(request.path.rstrip("/"))
        if handler is None:
            raise web.HTTPNotFound(text=f"no such endpoint: {request.path}")
        if chain.faults.delay_ms:
            await asyncio.sleep(chain.faults.delay_ms / 1000)
        try:
            params = await _params(request)
            result = handler(params)
        except ConnectionError:  # the client left mid-request: nobody to answer, nothing wrong
            log.debug("client left during %s", request.path)
            return web.Response(status=499)
        except BadRequest as exc:
            result = {"Error": str(exc)}
        except Exception as exc:  # java-tron answers internal errors as {"Error": ...} too
            log.exception("devnode handler failed for %s", request.path)
            result = {"Error": f"{type(exc).__name__} : {exc}"}
        return web.json_response(result)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


class DevNode:
    """A devnode bound to 127.0.0.1, run on the caller's asyncio loop."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        block_interval: float = 3.0,
        solid_depth: int = 19,
        config: ChainConfig | None = None,
    ) -> None:
        if block_interval < 0:
            raise ValueError("block interval must not be negative")
        if solid_depth < 0:
            raise ValueError("solid depth must not be negative")
        base = config or ChainConfig()
        self.chain = Chain(
            Path(data_dir),
            ChainConfig(**{**_config_dict(base), "solid_depth": solid_depth}),
        )
        self._host, self._port = host, port
        self._interval = block_interval
        self._runner: web.AppRunner | None = None
        self._timer: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(build_app(self.chain), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])  # the real port when asked for port 0
        if self._interval > 0:
            self._timer = asyncio.create_task(self._produce_forever())

    async def _produce_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._interval)
            await loop.run_in_executor(None, self.chain.produce_block)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        if self._runner is not None:
            await self._runner.cleanup()
        self.chain.close()

    # Python API, safe to call from any thread

    def fund(self, address: str, amount: int, token_id: str | int | None = None) -> int:
        raw = bytes(to_raw_address(address))
        return self.chain.fund(raw, amount, str(token_id) if token_id else TRX).num

    def issue_token(self, owner: str, name: str, total_supply: int, precision: int = 6) -> str:
        return self.chain.issue(bytes(to_raw_address(owner)), name, total_supply, precision)

    def produce_blocks(self, count: int = 1) -> int:
        for _ in range(count):
            self.chain.produce_block()
        return self.chain.head_num()

    def set_faults(
        self,
        *,
        drop_next: int | None = None,
        delay_ms: int | None = None,
        dup_next: int | None = None,
        dup_include: bool | None = None,
        fail_txid: str | None = None,
    ) -> None:
        f = self.chain.faults
        if drop_next is not None:
            f.drop_next = drop_next
        if delay_ms is not None:
            f.delay_ms = delay_ms
        if dup_next is not None:
            f.dup_next = dup_next
        if dup_include is not None:
            f.dup_include = dup_include
        if fail_txid is not None:
            f.fail_txids.add(fail_txid.lower())

    def status(self) -> dict[str, Any]:
        return Api(self.chain).admin_status({})


def _config_dict(config: ChainConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in ChainConfig.__dataclass_fields__}


@contextlib.contextmanager
def running_devnode(
    data_dir: Path,
    *,
    block_interval: float = 0.1,
    solid_depth: int = 2,
    config: ChainConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[DevNode]:
    """A devnode serving from a background thread for the duration of the block."""
    loop = asyncio.new_event_loop()
    node = DevNode(
        data_dir,
        host=host,
        port=port,
        block_interval=block_interval,
        solid_depth=solid_depth,
        config=config,
    )
    thread = threading.Thread(target=loop.run_forever, name="devnode", daemon=True)
    thread.start()

    def call(coro: Awaitable[None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)  # type: ignore[arg-type]

    call(node.start())
    try:
        yield node
    finally:
        try:
            call(node.stop())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
