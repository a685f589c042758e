"""Getting BTT onto a ledger account: the promotional faucet and deposits from the wallet."""
