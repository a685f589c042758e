"""The payee's gRPC service (bid, refund signing, payment stream) and the payer's client of it."""

from client_sdk.p2p.client import PayeeClient, PaymentStream
from client_sdk.p2p.service import PayeeServer, PayeeServicer, Rates, ReserveRates

__all__ = ["PayeeClient", "PayeeServer", "PayeeServicer", "PaymentStream", "Rates", "ReserveRates"]
