"""SigV4 signing: the AWS test suite's known signature, and botocore's own signer on a real request shape."""

from __future__ import annotations

import datetime as real_datetime
import logging

import httpx
import pytest

botocore = pytest.importorskip("botocore")

from botocore.credentials import Credentials  # noqa: E402

from sdk.client.auth import SigV4  # noqa: E402


class _FixedSession:
    def __init__(self, creds: Credentials) -> None:
        self._creds = creds

    def get_credentials(self) -> Credentials:
        return self._creds


@pytest.fixture
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real_datetime.datetime(2015, 8, 30, 12, 36, 0))


def test_matches_the_aws_sigv4_test_suite_get_vanilla(frozen_time) -> None:
    # aws-sig-v4-test-suite/get-vanilla: the published signature for this exact request.
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    signer = SigV4("service", "us-east-1", session=_FixedSession(creds))
    headers = signer.sign("GET", "https://example.amazonaws.com/", b"", {"host": "example.amazonaws.com"})
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_httpx_requests_are_signed_as_botocore_signs_them(frozen_time) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    creds = Credentials("AKIDEXAMPLE", "secret-key-for-test", "session-token")
    auth = SigV4("lambda", "eu-west-1", session=_FixedSession(creds))
    url = "https://abc123.lambda-url.eu-west-1.on.aws/v2/models/digits-cnn/infer"
    body = b'{"inputs": []}'
    request = httpx.Request("POST", url, content=body, headers={"content-type": "application/json"})
    signed = next(auth.auth_flow(request))

    expected = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"host": "abc123.lambda-url.eu-west-1.on.aws", "content-type": "application/json"},
    )
    SigV4Auth(creds, "lambda", "eu-west-1").add_auth(expected)
    assert signed.headers["authorization"] == expected.headers["Authorization"]
    assert signed.headers["x-amz-security-token"] == "session-token"
    assert "/eu-west-1/lambda/aws4_request" in signed.headers["authorization"]


def test_credentials_never_reach_logs_or_errors(frozen_time, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    creds = Credentials("AKIDEXAMPLE", "very-secret-key", "very-secret-token")
    auth = SigV4("lambda", "eu-west-1", session=_FixedSession(creds))
    request = httpx.Request("POST", "https://x.lambda-url.eu-west-1.on.aws/", content=b"{}")
    next(auth.auth_flow(request))
    assert "very-secret" not in caplog.text and "very-secret" not in repr(auth)


def test_missing_credentials_are_a_typed_error() -> None:
    from sdk.errors import Unauthorized

    with pytest.raises(Unauthorized, match="no AWS credentials"):
        SigV4("lambda", "eu-west-1", session=_FixedSession(None)).sign("GET", "https://x/", b"", {"host": "x"})
