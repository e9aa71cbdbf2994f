"""Model metadata and the model list say which artifact file answers, at which precision, on which engine (#20: what
runs by default is shown, not guessed)."""

from __future__ import annotations

import json

from sdk.serving.service import Service


def _get(service: Service, path: str) -> dict:
    response = service.handle("GET", path, {}, b"")
    assert response.status == 200, response.body
    return json.loads(response.body)


def test_model_metadata_names_the_artifact_precision_and_engine_that_answer(service: Service) -> None:
    parameters = _get(service, "/v2/models/digits-cnn")["parameters"]
    model = service.repository.get("digits-cnn")
    assert parameters["artifact"] == model.info.artifact == "model.onnx"
    assert parameters["precision"] == model.info.precision == "fp32"
    assert parameters["runtime"] == f"{model.info.runtime} {model.info.runtime_version}"
    assert parameters["privacy_floor"] == model.manifest.privacy_floor  # the fields a client reads are unchanged


def test_the_model_list_shows_what_runs_for_each_model(service: Service) -> None:
    listed = {m["name"]: m for m in _get(service, "/v2/models")["models"] if "error" not in m}
    runs = listed["digits-cnn"]["runs"]
    assert runs["artifact"] == "model.onnx" and runs["precision"] == "fp32"
    assert runs["runtime"].startswith(service.repository.get("digits-cnn").info.runtime)
