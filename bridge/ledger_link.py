"""Why the ledger cannot be reached, in one line an operator can act on.

gRPC reports every failed connection the same way ("failed to connect to all addresses",
"Socket closed"), whether the ledger is down, speaks TLS to a plaintext client, speaks plaintext
to a TLS client, shows a certificate the configured CA did not sign, or wants a client
certificate. When a call finds the ledger unavailable, one TLS handshake of our own tells
these apart.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

PROBE_TIMEOUT = 3.0
NO_ANSWER = "does not answer (down, overloaded or not a ledger)"


@dataclass(frozen=True, slots=True)
class LedgerLink:
    """How this bridge reaches the ledger: HOST:PORT, the CA (TLS) and its client certificate."""

    target: str
    ca_cert: Path | None = None
    client_cert: tuple[Path, Path] | None = None

    @property
    def tls(self) -> bool:
        return self.ca_cert is not None


def split_target(target: str) -> tuple[str, int] | None:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        return None
    return host.strip("[]"), int(port)


def explain_unavailable(link: LedgerLink, timeout: float = PROBE_TIMEOUT) -> str:
    """One sentence: why a call to the ledger at `link.target` found it unavailable."""
    where = f"the ledger at {link.target}"
    address = split_target(link.target)
    if address is None:
        return f"ledger address {link.target!r} is not HOST:PORT"
    host, port = address
    speaks = _speaks_tls(host, port, timeout)
    if speaks is None:
        return f"{where} is unreachable (nothing answers there)"
    if speaks and not link.tls:
        return (
            f"{where} speaks TLS but this bridge connects in plaintext: give the CA of its "
            "certificate with --ledger-ca-cert (BTT_BRIDGE_LEDGER_CA_CERT)"
        )
    if not speaks and link.tls:
        return (
            f"{where} speaks plaintext but this bridge expects TLS (--ledger-ca-cert is set): "
            "drop --ledger-ca-cert or serve the ledger with TLS"
        )
    if link.tls:
        problem = _tls_problem(host, port, link, timeout)
        if problem:
            return f"{where}: {problem}"
    return f"{where} {NO_ANSWER}"


def _speaks_tls(host: str, port: int, timeout: float) -> bool | None:
    """True: a TLS server; False: something that answers but not with TLS; None: no answer."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None
    try:
        with context.wrap_socket(sock, server_hostname=host):
            return True
    except ssl.SSLError as exc:
        # A TLS server that turns us away still answers with a TLS alert.
        return "ALERT" in (exc.reason or "").upper()
    except OSError:  # closed or reset without a TLS answer: a plaintext server
        return False
    finally:
        sock.close()


def _tls_problem(host: str, port: int, link: LedgerLink, timeout: float) -> str:
    """What a handshake with the configured CA (and client certificate) runs into, or ""."""
    assert link.ca_cert is not None
    context = ssl.create_default_context(cafile=str(link.ca_cert))
    context.set_alpn_protocols(["h2"])
    if link.client_cert is not None:
        cert, key = link.client_cert
        context.load_cert_chain(str(cert), str(key))
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            tls.settimeout(0.5)
            # TLS 1.3: a missing client certificate is refused after the handshake, with an
            # alert or (gRPC) by closing at once where an HTTP/2 server would send its preface.
            with contextlib.suppress(TimeoutError, ssl.SSLWantReadError):
                if tls.recv(1) == b"":
                    return _refused_client(link)
    except ssl.SSLCertVerificationError as exc:
        return (
            f"its certificate does not verify against {link.ca_cert} "
            f"({exc.verify_message or exc.reason}); check --ledger-ca-cert and the host name"
        )
    except ssl.SSLError as exc:
        if "CERTIFICATE_REQUIRED" in (exc.reason or "").upper() or (
            "HANDSHAKE_FAILURE" in (exc.reason or "").upper() and link.client_cert is None
        ):
            return (
                "it asks for a client certificate: give --ledger-client-cert and "
                "--ledger-client-key"
            )
        return f"TLS handshake failed ({exc.reason or exc})"
    except OSError:
        return ""
    return ""


def _refused_client(link: LedgerLink) -> str:
    if link.client_cert is None:
        return "it asks for a client certificate: give --ledger-client-cert and --ledger-client-key"
    return (
        f"it refuses the client certificate {link.client_cert[0]} (signed by a CA the ledger's "
        "--treasury-client-ca does not name?)"
    )
