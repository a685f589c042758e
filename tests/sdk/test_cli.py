"""`btt` through typer's CliRunner against a real ledger (and a real payee for channels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from client_sdk.cli import app
from client_sdk.clikit import format_btt, parse_amount
from client_sdk.wallet import Wallet
from core.crypto import SigningKey
from core.status import ChannelStatus
from tests.ledger_harness import LedgerHarness
from tests.sdk.conftest import INFO_HASH, threaded_payee

PASSWORD = "correct horse battery staple"


@pytest.fixture
def env(ledger: LedgerHarness, tmp_path: Path) -> dict[str, str]:
    return {
        "BTT_LEDGER": ledger.target,
        "BTT_HOME": str(tmp_path / "home"),
        "BTT_PASSWORD": PASSWORD,
    }


def btt(env: dict[str, str], *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=input)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def jbtt(env: dict[str, str], *args: str) -> dict:  # type: ignore[type-arg]
    code, out, err = btt(env, "--json", *args)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_amount_parsing_is_exact() -> None:
    assert parse_amount("1.5") == 1_500_000
    assert parse_amount("1500000u") == 1_500_000
    assert parse_amount("0.000001") == 1
    assert parse_amount("1_000") == 1_000_000_000
    assert parse_amount("0.1") + parse_amount("0.2") == parse_amount("0.3")
    assert format_btt(1_500_000) == "1.5 BTT" and format_btt(2_000_000) == "2 BTT"
    for bad in ("1.0000001", "-1", "1e3", "abc", "1.5u", "", "0"):
        with pytest.raises(ValueError if False else Exception, match="amount"):
            parse_amount(bad)


def test_wallet_balance_transfer_events(ledger: LedgerHarness, env: dict[str, str]) -> None:
    created = jbtt(env, "wallet", "new")
    address = created["address"]
    assert jbtt(env, "wallet", "show")["address"] == address
    ledger.fund(address, 10_000_000)
    assert jbtt(env, "balance")["balance"] == 10_000_000

    bob = SigningKey.generate().address
    sent = jbtt(env, "transfer", bob, "1.5", "--memo", "thanks")
    assert sent["amount"] == 1_500_000 and sent["balance"] == 8_500_000
    code, out, _ = btt(env, "transfer", bob, "500000u")  # human output
    assert code == 0 and "0.5 BTT" in out and "8 BTT" in out
    assert jbtt(env, "balance", bob)["balance"] == 2_000_000
    assert jbtt(env, "balance")["nonce"] == 2

    w = jbtt(env, "withdraw", SigningKey.generate().address, "2")
    assert w["status"] == "pending" and w["amount"] == 2_000_000
    assert jbtt(env, "balance")["balance"] == 6_000_000

    code, out, err = btt(env, "--json", "events", "--account", address, "--limit", "4")
    assert code == 0, err
    kinds = [json.loads(line)["kind"] for line in out.splitlines()]
    assert kinds == ["credit", "transfer", "transfer", "withdrawal_requested"]
    first = json.loads(out.splitlines()[0])["event_id"]
    code, out, _ = btt(env, "--json", "events", "--after", str(first), "--limit", "1")
    assert code == 0 and json.loads(out)["kind"] == "transfer"


def test_wallet_import_and_wrong_password(env: dict[str, str], tmp_path: Path) -> None:
    key = SigningKey.generate()
    imported = jbtt(env, "wallet", "import", "--key", key.secret_bytes().hex())
    assert imported["address"] == key.address
    code, out, err = btt({**env, "BTT_PASSWORD": "nope"}, "wallet", "show")
    assert code == 1 and out == ""
    assert err.startswith("error: wrong password") and err.count("\n") == 1
    code, _, err = btt({**env, "BTT_PASSWORD": "nope"}, "balance")
    assert code == 1 and err.startswith("error: wrong password")
    # Asked for when not in the environment.
    no_pw = {k: v for k, v in env.items() if k != "BTT_PASSWORD"}
    code, out, _ = btt(no_pw, "--json", "wallet", "show", input=PASSWORD + "\n")
    assert code == 0 and key.address in out
    code, _, err = btt(env, "wallet", "import", "--key", key.secret_bytes().hex())
    assert code == 1 and err.startswith("error: a wallet already exists")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("transfer", "TXYZ", "1"), "error: invalid recipient"),
        (("transfer", "{bob}", "1.2345678"), "error: invalid amount"),
        (("transfer", "{bob}", "-3"), "error: No such option: -3"),  # click's usage error
        (("transfer", "{bob}"), "error: Missing argument 'amount'"),
        (("transfer", "{bob}", "0"), "error: amount must be greater than zero"),
        (("transfer", "{bob}", "50"), "error: INSUFFICIENT_FUNDS"),
        (("withdraw", "{bob}", "lots"), "error: invalid amount"),
        (("channel", "pay", "zz", "1"), "error: invalid channel id"),
        (("channel", "refund", "00" * 32), "error: no local record"),
        (("channel", "list", "--status", "odd"), "error: invalid status"),
    ],
)
def test_bad_input_is_one_clear_line(
    ledger: LedgerHarness, env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    Wallet.create(Path(env["BTT_HOME"]) / "wallet.json", PASSWORD, scrypt_n=2**4)
    bob = SigningKey.generate().address
    code, out, err = btt(env, *(a.format(bob=bob) for a in args))
    assert code == (2 if "-3" in args or len(args) == 2 else 1) and out == ""
    assert err.startswith(message), err
    assert err.count("\n") == 1


def test_unreachable_ledger_is_a_clear_error(env: dict[str, str]) -> None:
    Wallet.create(Path(env["BTT_HOME"]) / "wallet.json", PASSWORD, scrypt_n=2**4)
    code, _, err = btt({**env, "BTT_LEDGER": "127.0.0.1:1", "BTT_TIMEOUT": "0.5"}, "balance")
    assert code == 1 and err.startswith("error: ledger unavailable")


def test_channel_open_pay_list_close(
    ledger: LedgerHarness, env: dict[str, str], tmp_path: Path
) -> None:
    address = jbtt(env, "wallet", "new")["address"]
    ledger.fund(address, 20_000_000)
    with threaded_payee(ledger, tmp_path / "payee.db") as (node, target):
        opened = jbtt(
            env,
            "channel",
            "open",
            target,
            "--info-hash",
            INFO_HASH,
            "--bid",
            "1000u",
            "--deposit",
            "3",
        )
        cid = opened["channel_id"]
        assert opened["deposit"] == 3_000_000 and opened["rate"] == 1000
        assert jbtt(env, "balance")["balance"] == 17_000_000
        for expected in (1, 2):
            paid = jbtt(env, "channel", "pay", cid, "0.25")
            assert paid["nonce"] == expected and paid["cumulative"] == 250_000 * expected
        code, _, err = btt(env, "channel", "pay", cid, "5")
        assert code == 1 and err.startswith("error: cumulative 5500000 exceeds deposit")
        listed = jbtt(env, "channel", "list", "--status", "open")["channels"]
        assert [c["channel_id"] for c in listed] == [cid]
        code, out, _ = btt(env, "channel", "list")
        assert code == 0 and cid[:16] in out and "payer" in out
        closed = jbtt(env, "channel", "close", cid)
        assert closed["status"] == "settled"
        assert (closed["paid_to_payee"], closed["refunded_to_payer"]) == (500_000, 2_500_000)
        assert node.book.channels[bytes.fromhex(cid)].record.status is ChannelStatus.SETTLED
    assert jbtt(env, "balance")["balance"] == 19_500_000
    code, _, err = btt(env, "channel", "pay", cid, "1")
    assert code == 1 and err.startswith("error: channel is settled")
