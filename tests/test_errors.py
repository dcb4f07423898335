from __future__ import annotations

import facepay
from facepay import errors


def test_every_error_derives_from_the_base() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, facepay.FacePayError), name


def test_sealed_data_error_is_opaque() -> None:
    assert str(errors.SealedDataError()) == "sealed data could not be opened"


def test_backend_errors_carry_status_and_request_id() -> None:
    err = errors.RateLimitedError("slow down", retry_after=3.0, request_id="req_1")
    assert (err.status, err.retry_after, err.request_id) == (429, 3.0, "req_1")
    assert isinstance(err, errors.RequestRejectedError)
