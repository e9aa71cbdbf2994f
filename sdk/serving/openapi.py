"""``GET /v2/openapi.json``: an OpenAPI 3.1 description of every route, generated from the route table
(``routes.ROUTES``) the service dispatches on, so the document and the server cannot drift apart.

Each route gives its path, method, summary, the schema of its request body and of its 200 answer (``SCHEMAS``, JSON
Schema 2020-12 as OpenAPI 3.1 takes it) and its error statuses, each answered with the one error body. A route a
setting turns off (explanations, metrics, the page) is left out; with a bearer token set, every route but the
public ones declares it. Every GET route answers HEAD too (RFC 9110), which the document does not repeat.
"""

from __future__ import annotations

import dataclasses
import http
from typing import Any

from sdk._version import __version__
from sdk.explain import METHODS, ExplainOptions
from sdk.protocol.datatypes import BYTES, OIP_TO_NUMPY
from sdk.serving.config import ServeConfig
from sdk.serving.routes import ROUTES, Route

_OBJECT: dict[str, Any] = {"type": "object"}
_STRING: dict[str, Any] = {"type": "string"}
_STRINGS: dict[str, Any] = {"type": "array", "items": _STRING}
_SHAPE: dict[str, Any] = {"type": "array", "items": {"type": "integer"}}
_TENSOR: dict[str, Any] = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": _SHAPE,
        "datatype": {"enum": sorted({*OIP_TO_NUMPY, BYTES})},
        "parameters": _OBJECT,
        "data": {"type": "array", "description": "row-major, flat or nested; absent with binary_data_size"},
    },
}
_TENSOR_META = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {"name": {"type": "string"}, "datatype": {"type": "string"}, "shape": _SHAPE},
}
_EXPLAIN_TYPES: dict[str, Any] = {
    "method": {"enum": list(METHODS)},
    "target": {"type": ["integer", "string", "null"], "description": "a class index or label (classifiers)"},
    "compare": {"type": ["string", "null"], "description": "a second text: explain the similarity to it"},
    "deadline_s": {"type": ["number", "null"], "description": "at most the server's own deadline"},
}


def _explain_parameters() -> dict[str, Any]:
    properties = {
        field.name: _EXPLAIN_TYPES.get(field.name, {"type": "integer", "minimum": 0})
        for field in dataclasses.fields(ExplainOptions)
    }
    properties["binary_data_output"] = {"type": "boolean"}
    return {"type": "object", "properties": properties, "additionalProperties": False}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "code": {"type": "string", "description": "sdk.errors code"}},
    },
    "Tensor": _TENSOR,
    "InferRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": _OBJECT,
            "inputs": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Tensor"}},
            "outputs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "binary_data": {"type": "boolean"},
                                "classification": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "description": "the classification extension: this many top classes, as "
                                    "'<value>:<index>[:<label>]' BYTES strings, instead of the tensor",
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "InferResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": _OBJECT,
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Tensor"}},
        },
    },
    "ExplainRequest": {
        "allOf": [{"$ref": "#/components/schemas/InferRequest"}],
        "properties": {"parameters": _explain_parameters()},
    },
    "ExplainResponse": {
        "type": "object",
        "required": ["model_name", "model_version", "explanation"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "explanation": {
                "type": "object",
                "required": ["method", "items", "evaluations", "calls", "partial"],
                "properties": {
                    "method": {"type": "string"},
                    "evaluations": {"type": "integer"},
                    "calls": {"type": "integer"},
                    "time_ms": {"type": "number"},
                    "seed": {"type": "integer"},
                    "partial": {"type": "boolean"},
                    "ran_on": {"type": "string"},
                    "items": {"type": "array", "items": _OBJECT},
                },
            },
        },
    },
    "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "ModelReady": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "extensions": _STRINGS},
    },
    "ModelMetadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": _STRINGS,
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _TENSOR_META},
            "outputs": {"type": "array", "items": _TENSOR_META},
            "parameters": _OBJECT,
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["models"],
        "properties": {
            "models": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "versions": _STRINGS,
                        "inputs": {"type": "array", "items": _TENSOR_META},
                        "outputs": {"type": "array", "items": _TENSOR_META},
                        "privacy_floor": {"type": "string"},
                        "signature": {
                            "type": "object",
                            "properties": {
                                "status": {"enum": ["verified", "signed", "unsigned", "unknown"]},
                                "key_id": {"type": ["string", "null"]},
                            },
                        },
                        "raw_input": {"enum": ["text", "image", "series", None]},
                        "runs": {
                            "type": "object",
                            "description": "the artifact file that answers, its precision and engine, and why it "
                            "was chosen when there were several",
                            "properties": {
                                k: {"type": "string"} for k in ("artifact", "precision", "runtime", "chosen")
                            },
                        },
                        "explain": {"type": "boolean"},
                        "error": {"$ref": "#/components/schemas/Error"},
                    },
                },
            }
        },
    },
}


def served(route: Route, config: ServeConfig) -> bool:
    """Whether ``config`` leaves ``route`` on (a route turned off answers 404 and is not described)."""
    off = {"explain": not config.explain, "metrics": not config.metrics, "ui_index": not config.ui}
    off["ui_file"] = off["ui_index"]
    return not off.get(route.handler, False)


def document(config: ServeConfig) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes ``config`` serves."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        if served(route, config):
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, config)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "aiaas inference server",
            "version": __version__,
            "description": "The Open Inference Protocol v2 (KServe), its binary tensor extension and the explain "
            "extension, SageMaker's container contract, Prometheus metrics and the page. Every GET route answers "
            "HEAD too. Errors are {error, code} JSON with the status of their class.",
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
    if config.auth_token is not None:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return doc


def _operation(route: Route, config: ServeConfig) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{route.handler}_{route.method.lower()}" + ("_version" if "{version}" in route.path else ""),
        "summary": route.summary,
        "responses": {"200": _answer(route)},
    }
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("name", "version", "file")
        if "{" + name + "}" in route.path
    ]
    if route.body is not None:
        parameters.append(
            {
                "name": "Inference-Header-Content-Length",
                "in": "header",
                "required": False,
                "schema": {"type": "integer", "minimum": 0},
                "description": "with a binary body: the length of its JSON header",
            }
        )
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        schema = {"$ref": f"#/components/schemas/{route.body}"}
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/octet-stream": {
                    "schema": {
                        "type": "string",
                        "contentMediaType": "application/octet-stream",
                        "description": "binary tensor extension: the JSON header (Inference-Header-Content-Length "
                        "bytes), then the tensors' bytes",
                    }
                },
            },
        }
    protected = not route.public and config.auth_token is not None
    if route.handler == "metrics" and not config.metrics_auth:
        protected = False
    statuses = sorted({*route.errors, *((401,) if protected else ())})
    for status in statuses:
        operation["responses"][str(status)] = {
            "description": http.HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation["security"] = [{"bearer": []}] if protected else []
    return operation


def _answer(route: Route) -> dict[str, Any]:
    if route.answer in SCHEMAS:
        return {
            "description": "OK",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.answer}"}}},
        }
    return {"description": "OK", "content": {route.answer: {"schema": {"type": "string"}}}}
