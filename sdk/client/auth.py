"""Request signing for the cloud route: SigV4 (Lambda function URLs with AWS_IAM auth, SageMaker runtime) or a
bearer token. Credentials come from botocore's chain and are never logged or put in an exception message."""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import httpx

from sdk.errors import ConfigError, Unauthorized
from sdk.extras import require

# Headers that take part in the signature; anything a proxy may rewrite stays out of it.
_SIGNED = ("host", "content-type", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")


class _DropDebug(logging.Filter):
    """botocore.auth logs the canonical request, security token included, at DEBUG: never let that out."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_botocore_auth_log = logging.getLogger("botocore.auth")
if not any(isinstance(f, _DropDebug) for f in _botocore_auth_log.filters):
    _botocore_auth_log.addFilter(_DropDebug())


class SigV4(httpx.Auth):
    """Signs each request with AWS Signature Version 4, using botocore's own signer."""

    requires_request_body = True

    def __init__(self, service: str, region: str, *, session: Any = None) -> None:
        botocore_session = require("botocore.session", purpose="signing requests to AWS (SigV4)")
        if not region:
            raise ConfigError("SigV4 signing needs a region", hint="set AWS_REGION or pass region=...")
        self.service = service
        self.region = region
        self._session = session or botocore_session.get_session()

    def _credentials(self) -> Any:
        credentials = self._session.get_credentials()
        if credentials is None:
            raise Unauthorized(
                "no AWS credentials found for SigV4 signing",
                hint="configure credentials (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
            )
        return credentials.get_frozen_credentials()

    def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        """The headers to add to a request so that AWS accepts it."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        signed = {k: v for k, v in headers.items() if k.lower() in _SIGNED}
        request = AWSRequest(method=method, url=url, data=body, headers=signed)
        SigV4Auth(self._credentials(), self.service, self.region).add_auth(request)
        return {k: v for k, v in request.headers.items() if k.lower() not in {h.lower() for h in signed}}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = {"host": request.url.netloc.decode("ascii"), **dict(request.headers)}
        request.headers.update(self.sign(request.method, str(request.url), request.content, headers))
        yield request


class Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._value = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._value
        yield request

    def __repr__(self) -> str:
        return "Bearer(***)"
