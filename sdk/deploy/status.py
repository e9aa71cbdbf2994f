"""``sdk status``: what the store holds and what the cloud actually serves, read from AWS (not from our records).

For each model: its versions in the store and each alias object (version, canary, when). For the function and the
endpoint: state, last update, and the model version each routed version serves (parsed from its ``MODEL_URI``). When
an alias object and the function disagree, the disagreement is reported as drift rather than hidden.
"""

from __future__ import annotations

from typing import Any

from sdk.artifacts.s3 import S3Store, parse_s3_uri
from sdk.deploy.aws import AwsClients
from sdk.deploy.environments import Environment
from sdk.deploy.lambda_target import MODEL_URI, LambdaTarget
from sdk.deploy.sagemaker_target import SageMakerTarget
from sdk.errors import AiaasError, ModelNotFound


def served_ref(environment: Environment, model_uri: str | None) -> str | None:
    """``name@version`` when ``model_uri`` is a version folder of the environment's store, else the URI itself."""
    if not model_uri:
        return None
    bucket, prefix = parse_s3_uri(environment.model_store_uri)
    base = f"s3://{bucket}/{prefix}"
    parts = model_uri[len(base) :].strip("/").split("/") if model_uri.startswith(base) else []
    return f"{parts[0]}@{parts[1]}" if len(parts) == 2 else model_uri


def collect_status(environment: Environment, clients: AwsClients, name: str | None = None) -> dict[str, Any]:
    """The environment's state as plain data (what ``sdk status --json`` prints)."""
    store = S3Store(environment.model_store_uri, client=clients.s3)
    names = store.names()
    if name is not None and name not in names:
        raise ModelNotFound(
            f"no model named {name!r} in {store.uri}",
            hint=f"models there: {', '.join(names) or 'none'}; deploy one with `sdk deploy ARTIFACT_DIR`",
        )
    models = [
        {"name": n, "versions": store.versions(n), "aliases": _aliases(store.aliases(n))}
        for n in ([name] if name else names)
    ]
    status: dict[str, Any] = {"environment": environment.name, "store": store.uri, "models": models}
    status["function"] = _function(environment, clients) if environment.function_name else None
    status["endpoint"] = _endpoint(environment, clients) if environment.sagemaker_endpoint else None
    status["drift"] = _drift(models, status["function"], status["endpoint"])
    return status


def _aliases(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        alias: {
            "version": record.get("version"),
            "canary": record.get("canary"),
            "updated_at": record.get("updated_at", ""),
            "target": record.get("target"),
            "history": [h.get("version") for h in record.get("history", []) if isinstance(h, dict)],
        }
        for alias, record in sorted(records.items())
    }


def _function(environment: Environment, clients: AwsClients) -> dict[str, Any]:
    assert environment.function_name is not None
    alias = environment.function_alias or "live"
    target = LambdaTarget(clients.lambda_, environment.function_name, alias)
    try:
        state = target.read_state()
    except AiaasError as exc:
        return {"name": environment.function_name, "alias": alias, "error": exc.message}
    routes: dict[str, dict[str, Any]] = {}
    if state.function_version is not None:
        shares = {state.function_version: 1.0 - sum(state.weights.values()), **state.weights}
        for version, share in shares.items():
            uri = target.model_uri_of(version)
            routes[version] = {"weight": round(share, 4), "model_uri": uri, "serves": served_ref(environment, uri)}
    return {
        "name": state.function,
        "alias": alias,
        "alias_exists": state.alias_exists,
        "state": state.state,
        "last_update_status": state.last_update_status,
        "last_modified": state.last_modified,
        "latest_model_uri": state.environment.get(MODEL_URI),
        "image": state.image_uri,
        "routes": routes,
    }


def _endpoint(environment: Environment, clients: AwsClients) -> dict[str, Any]:
    assert environment.sagemaker_endpoint is not None
    target = SageMakerTarget(clients.sagemaker, environment.sagemaker_endpoint)
    try:
        state = target.read_state()
    except AiaasError as exc:
        return {"name": environment.sagemaker_endpoint, "error": exc.message}
    variants = []
    for variant in state.variants:
        model = target.describe_model(str(variant.get("ModelName"))) or {}
        uri = ((model.get("PrimaryContainer") or {}).get("Environment") or {}).get(MODEL_URI)
        variants.append(
            {
                "variant": variant.get("VariantName"),
                "model": variant.get("ModelName"),
                "instance_type": variant.get("InstanceType"),
                "instances": variant.get("InitialInstanceCount"),
                "weight": variant.get("InitialVariantWeight", 1.0),
                "serves": served_ref(environment, uri),
            }
        )
    return {
        "name": state.endpoint,
        "status": state.status,
        "config": state.config_name,
        "last_modified": state.last_modified,
        "failure_reason": state.failure_reason or None,
        "variants": variants,
    }


def _drift(models: list[dict[str, Any]], function: dict[str, Any] | None, endpoint: dict[str, Any] | None) -> list[str]:
    """Sentences for each alias object whose target serves something else than it records."""
    out: list[str] = []
    for model in models:
        for alias, record in model["aliases"].items():
            kind = (record.get("target") or {}).get("kind")
            expected = f"{model['name']}@{record['version']}"
            if kind == "lambda" and function and function.get("alias") == alias and "routes" in function:
                routes: dict[str, dict[str, Any]] = function["routes"]
                primary = next(iter(routes.values()), {}).get("serves")
                if primary != expected:
                    out.append(
                        f"{model['name']}@{alias} records {expected}, but function alias {alias} serves {primary}"
                    )
            if kind == "sagemaker" and endpoint and "variants" in endpoint:
                primary = next((v["serves"] for v in endpoint["variants"] if v["variant"] != "canary"), None)
                if primary != expected:
                    out.append(
                        f"{model['name']}@{alias} records {expected}, but endpoint {endpoint['name']} serves {primary}"
                    )
    return out
