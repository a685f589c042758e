"""What can go wrong with the database, said as what the caller can know about its request."""

from __future__ import annotations


class DatabaseUnavailable(Exception):
    """The database could not be reached or did not answer in time, and nothing was committed:
    the request can be sent again as it is."""


class CommitOutcomeUnknown(Exception):
    """The connection failed while COMMIT was in flight: the transaction may or may not have
    committed. Only looking it up (by the request's digest, a txid...) can tell."""
