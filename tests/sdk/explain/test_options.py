"""ExplainOptions from the wire's parameters (strict, each error naming the key) and the Explanation document's round
trip (strict: ValueError naming the field)."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

from sdk.errors import InvalidInput
from sdk.explain import METHODS, ExplainOptions, Explanation, ItemExplanation


def test_parameters_round_trip_and_carry_only_what_differs_from_the_defaults() -> None:
    options = ExplainOptions(method="kernel_shap", target=7, compare="another sentence", max_evals=128, seed=3)
    params = options.to_parameters()
    assert params == {"method": "kernel_shap", "target": 7, "compare": "another sentence", "max_evals": 128, "seed": 3}
    assert json.loads(json.dumps(params)) == params
    assert ExplainOptions.from_parameters(params) == options
    assert ExplainOptions().to_parameters() == {}
    assert METHODS == ("auto", "occlusion", "kernel_shap", "rise")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"methd": "rise"}, "unknown explain parameter(s) 'methd'"),
        ({"method": "lime"}, "parameter 'method' is 'lime'"),
        ({"max_evals": "256"}, "parameter 'max_evals' must be an integer"),
        ({"max_evals": 2}, "parameter 'max_evals' is 2; the minimum is 3"),
        ({"max_calls": 1}, "parameter 'max_calls' is 1; the minimum is 2"),
        ({"max_calls": True}, "parameter 'max_calls' must be an integer"),
        ({"max_items": 0}, "parameter 'max_items' is 0; the minimum is 1"),
        ({"target": 1.5}, "parameter 'target' must be a class index"),
        ({"target": -1}, "parameter 'target' is -1"),
        ({"compare": 3}, "parameter 'compare' must be a raw input"),
        ({"compare": "  "}, "parameter 'compare' is empty"),
        ({"seed": -1}, "parameter 'seed' must be a non-negative integer"),
        ({"deadline_s": 0}, "parameter 'deadline_s' is 0"),
        ({"deadline_s": "soon"}, "parameter 'deadline_s' must be a number"),
    ],
)
def test_bad_parameters_are_refused_naming_the_key(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ExplainOptions.from_parameters(params)
    assert message in str(caught.value)
    assert caught.value.status == 400


def test_parameters_must_be_an_object() -> None:
    with pytest.raises(InvalidInput, match="must be an object"):
        ExplainOptions.from_parameters(["method"])  # type: ignore[arg-type]


def _explanation() -> Explanation:
    return Explanation(
        model="digits-cnn",
        version="1",
        method="kernel_shap",
        items=[
            ItemExplanation(
                units=["r0c0", "r0c1", "r1c0", "r1c1"],
                unit_kind="pixel",
                attributions=np.array([0.5, -0.25, 0.0, 0.125]),
                grid=(2, 2),
                view=np.array([[0.0, 1.0], [0.5, 0.25]]),
                target={"kind": "class", "index": 7, "label": "7"},
                value=0.93,
                base_value=0.1,
                faithfulness={"deletion_auc": 0.21, "insertion_auc": 0.74},
            ),
            ItemExplanation(
                units=["a", "cat"],
                unit_kind="word",
                attributions=np.array([0.1, 0.2]),
                grid=None,
                view=None,
                target={"kind": "similarity", "to": "self"},
                value=1.0,
                base_value=0.5,
                faithfulness={},
            ),
        ],
        evaluations=512,
        calls=3,
        time_ms=12.5,
        seed=0,
        partial=False,
        ran_on="cloud",
        runtime="onnxruntime 1.32.0 on CPUExecutionProvider (model.onnx, fp32)",
    )


def test_explanation_json_round_trips_through_text() -> None:
    original = _explanation()
    doc = json.loads(json.dumps(original.to_json()))
    assert set(doc) == {
        "method", "evaluations", "calls", "time_ms", "seed", "partial", "ran_on", "runtime", "model", "version", "items"
    }  # fmt: skip
    back = Explanation.from_json(doc)
    assert back.to_json() == original.to_json()
    np.testing.assert_array_equal(back.items[0].attributions, original.items[0].attributions)
    assert back.items[0].grid == (2, 2) and back.items[1].view is None and back.decision is None


def _broken(path: list[Any], value: Any, delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(_explanation().to_json())
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "delete", "field"),
    [
        (["calls"], None, True, "explanation.calls"),
        (["calls"], -1, False, "explanation.calls"),
        (["partial"], "no", False, "explanation.partial"),
        (["ran_on"], "moon", False, "explanation.ran_on"),
        (["items"], {}, False, "explanation.items"),
        (["items", 0, "attributions"], [1.0, 2.0], False, "explanation.items[0].attributions"),
        (["items", 0, "attributions", 1], "x", False, "explanation.items[0].attributions"),
        (["items", 0, "units"], [1, 2, 3, 4], False, "explanation.items[0].units"),
        (["items", 0, "unit_kind"], "token", False, "explanation.items[0].unit_kind"),
        (["items", 0, "grid"], [3, 3], False, "explanation.items[0].grid"),
        (["items", 1, "target"], {"kind": "why"}, False, "explanation.items[1].target.kind"),
        (["items", 1, "value"], float("nan"), False, "explanation.items[1].value"),
        (["items", 0, "faithfulness", "deletion_auc"], "low", False, "explanation.items[0].faithfulness.deletion_auc"),
        (["items", 0, "view"], [[0, "a"]], False, "explanation.items[0].view"),
    ],
)
def test_malformed_explanation_documents_raise_value_error_naming_the_field(
    path: list[Any], value: Any, delete: bool, field: str
) -> None:
    with pytest.raises(ValueError) as caught:
        Explanation.from_json(_broken(path, value, delete))
    assert field in str(caught.value)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="explanation must be an object"):
        Explanation.from_json([])  # type: ignore[arg-type]


def test_compare_bytes_travel_as_text_and_image_bytes_cannot() -> None:
    assert ExplainOptions(compare=b"a sentence").to_parameters() == {"compare": "a sentence"}
    with pytest.raises(InvalidInput, match="parameter 'compare' holds bytes that are not UTF-8 text"):
        ExplainOptions(compare=b"\x89PNG\r\n\x1a\n\xff").to_parameters()
