"""A client that leaves while its reply is being sent (its deadline passed, it cancelled) is not a
server fault: gRPC core's ERROR traceback for it becomes a quiet DEBUG line; other gRPC errors
keep their level and traceback."""

from __future__ import annotations

import logging

import pytest
from grpc._cython import cygrpc

from core.rpc import RequestInterceptor

GRPC_LOG = logging.getLogger("grpc._cython.cygrpc")
CLIENT_LEFT = "ExecuteBatchError raised in core by servicer method [%s]"  # grpc's own words


def _log_as_grpc_core_does(exc: BaseException, message: str, *args: object) -> None:
    try:
        raise exc
    except type(exc):
        GRPC_LOG.exception(message, *args)


def test_a_reply_the_client_left_is_one_quiet_line(caplog: pytest.LogCaptureFixture) -> None:
    RequestInterceptor()  # every server's interceptor installs the filter
    caplog.set_level(logging.INFO)
    failed = cygrpc.ExecuteBatchError('Failed "execute_batch"')
    method = "/btt.ledger.v1.Treasury/ListWithdrawals"
    _log_as_grpc_core_does(failed, CLIENT_LEFT, method)
    assert caplog.records == []  # DEBUG, below the level in force
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    _log_as_grpc_core_does(failed, CLIENT_LEFT, method)
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG and record.exc_info is None
    assert record.getMessage() == f"reply not delivered: the client left ({method})"


def test_other_grpc_errors_still_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    RequestInterceptor()
    caplog.set_level(logging.INFO)
    _log_as_grpc_core_does(ValueError("boom"), "Unexpected [%s] raised by servicer method", "x")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
