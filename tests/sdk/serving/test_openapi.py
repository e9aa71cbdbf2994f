"""GET /v2/openapi.json: a valid OpenAPI 3.1 document (checked by openapi-spec-validator), generated from the route
table the service dispatches on: every route of the table is in it and nothing else, each documented path routes to
the handler it names, and the real answers of the server match the schemas it publishes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from sdk.artifacts import builtin_store
from sdk.protocol import jsonio
from sdk.protocol.codec import encode_request
from sdk.serving.config import ServeConfig
from sdk.serving.repository import ModelRepository
from sdk.serving.routes import ROUTES, Matched, route
from sdk.serving.service import Service

SAMPLES = Path(__file__).parents[3] / "models" / "digits_cnn" / "samples"
JSON = {"content-type": "application/json"}
SAMPLE_PARAMS = {"name": "digits-cnn", "version": "1", "file": "index.html"}


def new_service(**settings: Any) -> Service:
    return Service(ModelRepository(builtin_store()), config=ServeConfig(**settings)).start()


def document_of(service: Service) -> dict[str, Any]:
    response = service.handle("GET", "/v2/openapi.json", {}, b"")
    assert response.status == 200 and response.headers["content-type"] == "application/json"
    return json.loads(response.body)


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


@pytest.fixture(scope="module")
def served() -> Iterator[Service]:
    service = new_service()
    yield service
    service.repository.close()


@pytest.fixture(scope="module")
def document(served: Service) -> dict[str, Any]:
    return document_of(served)


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_every_route_of_the_table_is_documented_and_nothing_else(document: dict[str, Any]) -> None:
    assert operations(document) == {(r.method, r.path) for r in ROUTES}


def test_each_documented_path_dispatches_to_the_handler_it_names(document: dict[str, Any]) -> None:
    for method, path in operations(document):
        concrete = path.format(**SAMPLE_PARAMS)
        found = route(method, concrete)
        assert isinstance(found, Matched), (method, path)
        operation = document["paths"][path][method.lower()]
        assert operation["operationId"].startswith(found.handler + "_"), (operation["operationId"], found.handler)
        names = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
        assert names == set(found.params), path


def test_routes_a_setting_turns_off_are_left_out() -> None:
    service = new_service(explain=False, metrics=False, ui=False)
    documented = operations(document_of(service))
    hidden = {"explain", "metrics", "ui_index", "ui_file"}
    assert documented == {(r.method, r.path) for r in ROUTES if r.handler not in hidden}
    service.repository.close()


def test_with_a_token_every_route_but_the_public_ones_declares_bearer_auth() -> None:
    service = new_service(auth_token="s3cret")
    document = document_of(service)  # the document itself is public, as the page is
    assert OpenAPIV31SpecValidator(document).is_valid()
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    for r in ROUTES:
        operation = document["paths"][r.path][r.method.lower()]
        if r.public:
            assert operation["security"] == [] and "401" not in operation["responses"], r.path
        else:
            assert operation["security"] == [{"bearer": []}] and "401" in operation["responses"], r.path
    service.repository.close()


# --- the schemas hold the server's real answers ----------------------------------------------------------------------


def check(document: dict[str, Any], schema: str, body: bytes) -> None:
    validator = OAS31Validator({"$ref": f"#/components/schemas/{schema}", "components": document["components"]})
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(json.loads(body))]
    assert errors == [], (schema, errors)


def test_the_servers_answers_match_the_schemas_it_publishes(served: Service, document: dict[str, Any]) -> None:
    image = np.load(SAMPLES / "digit_7.npy").astype(np.float32)
    infer = encode_request({"image": image}, binary=False)[0]
    png = base64.b64encode((SAMPLES / "digit_7.png").read_bytes()).decode()
    explain: dict[str, Any] = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [png]}]}
    explain["parameters"] = {"method": "occlusion", "max_evals": 128, "seed": 3}
    check(document, "InferRequest", infer)
    check(document, "ExplainRequest", jsonio.dumps(explain))
    answers = {
        "InferResponse": served.handle("POST", "/v2/models/digits-cnn/infer", JSON, infer),
        "ExplainResponse": served.handle("POST", "/v2/models/digits-cnn/explain", JSON, jsonio.dumps(explain)),
        "ModelMetadata": served.handle("GET", "/v2/models/digits-cnn", {}, b""),
        "ModelReady": served.handle("GET", "/v2/models/digits-cnn/versions/1/ready", {}, b""),
        "ModelList": served.handle("GET", "/v2/models", {}, b""),
        "ServerMetadata": served.handle("GET", "/v2", {}, b""),
        "Live": served.handle("GET", "/v2/health/live", {}, b""),
        "Ready": served.handle("GET", "/ping", {}, b""),
    }
    for schema, answer in answers.items():
        assert answer.status == 200, (schema, answer.body)
        check(document, schema, answer.body)
    for bad in (
        served.handle("POST", "/v2/models/nope/infer", JSON, infer),
        served.handle("POST", "/v2/models/digits-cnn/infer", JSON, b"{"),
        served.handle("GET", "/v2/models/digits-cnn/versions/9", {}, b""),
    ):
        assert bad.status in (400, 404)
        check(document, "Error", bad.body)


def test_a_wrong_explain_parameter_breaks_the_request_schema(document: dict[str, Any]) -> None:
    inputs = [{"name": "image", "datatype": "FP32", "shape": [1], "data": [0.0]}]
    with pytest.raises(AssertionError):
        check(document, "ExplainRequest", jsonio.dumps({"inputs": inputs, "parameters": {"nope": 1}}))
    with pytest.raises(AssertionError):
        check(document, "InferRequest", jsonio.dumps({"inputs": []}))
