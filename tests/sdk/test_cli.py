"""`btt` through typer's CliRunner against a real ledger (and a real payee for channels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from client_sdk.cli import app
from client_sdk.clikit import CliError, format_btt, format_duration, parse_amount, resolve_prefix
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
    code, _, err = btt({**env, "BTT_PASSWORD": "nope"}, "transfer", key.address, "1")
    assert code == 1 and err.startswith("error: wrong password")
    # A read needs no key: the keystore holds the address in clear.
    code, out, _ = btt({**env, "BTT_PASSWORD": "nope"}, "balance")
    assert code == 0 and key.address in out
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
        for expected, given in ((1, cid), (2, cid[:16])):  # the id or a prefix as listed
            paid = jbtt(env, "channel", "pay", given, "0.25")
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


def test_id_prefixes_resolve_to_one_or_fail_in_one_line() -> None:
    known = ["abcd01", "abcd02", "ef0000"]
    assert resolve_prefix("ef", known, "channel id") == "ef0000"
    assert resolve_prefix("0xABCD01", known, "channel id") == "abcd01"
    with pytest.raises(CliError, match="prefix abcd is ambiguous: 2 match"):
        resolve_prefix("abcd", known, "channel id")
    with pytest.raises(CliError, match="no channel id starting with 12 here"):
        resolve_prefix("12", known, "channel id", " here")
    with pytest.raises(CliError, match="invalid channel id 'xy'"):
        resolve_prefix("xy", known, "channel id")
    assert format_duration(3 * 86400 + 5 * 3600 + 7) == "3d 5h"
    assert format_duration(125) == "2m 5s" and format_duration(0) == "0s"


def test_global_options_move_before_the_subcommand_unless_its_own() -> None:
    import typer

    from client_sdk.cliargs import hoist_globals
    from client_sdk.torrent.commands import register

    register(app)
    group = typer.main.get_command(app)
    assert hoist_globals(group, ["balance", "--json", "--ledger", "h:1"]) == [
        "--json",
        "--ledger",
        "h:1",
        "balance",
    ]
    assert hoist_globals(group, ["channel", "list", "--home=/x", "--status", "open"]) == [
        "--home=/x",
        "channel",
        "list",
        "--status",
        "open",
    ]
    # download has its own --timeout; the value of --memo is not an option.
    assert hoist_globals(group, ["download", "a.torrent", "--timeout", "5", "--json"]) == [
        "--json",
        "download",
        "a.torrent",
        "--timeout",
        "5",
    ]
    assert hoist_globals(group, ["transfer", "T", "1", "--memo", "--json"])[-2:] == [
        "--memo",
        "--json",
    ]
    assert hoist_globals(group, ["events", "--", "--json"]) == ["events", "--", "--json"]


def test_configuration_doc_names_every_global_option_and_its_sample_loads() -> None:
    import re
    import tomllib

    import typer

    from client_sdk.cli import register_commands
    from client_sdk.cliargs import default_map

    register_commands()
    group = typer.main.get_command(app)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = doc.split("\n## btt\n", 1)[1].split("\n## ", 1)[0]
    flags = {o for p in group.params for o in p.opts if o.startswith("--")} - {"--help"}
    assert flags - {"--version"} <= set(re.findall(r"`(--[a-z-]+)`", section))
    sample = re.search(r"```toml\n(.*?)```", section, re.S)
    assert sample is not None
    loaded = default_map(group, tomllib.loads(sample.group(1)))
    assert loaded["ledger"] == "ledger.example:50051" and loaded["download"]["budget"] == "5"


def test_refused_open_names_the_missing_endpoint(
    ledger: LedgerHarness, env: dict[str, str], tmp_path: Path
) -> None:
    address = jbtt(env, "wallet", "new")["address"]
    ledger.fund(address, 20_000_000)
    with threaded_payee(ledger, tmp_path / "payee.db") as (node, target):
        assert node.server is not None
        node.server.servicer.rates.reserve = 10**6  # type: ignore[attr-defined]
        args = ("channel", "open", target, "--info-hash", INFO_HASH, "--bid", "1000u")
        code, _, err = btt(env, *args)
        assert code == 1 and err.count("\n") == 1
        assert err.startswith("error: bid not accepted: BID_TOO_LOW; no --peer was given")
        code, _, err = btt(env, *args, "--peer", "127.0.0.1:6881")
        assert code == 1 and err == "error: bid not accepted: BID_TOO_LOW\n"
