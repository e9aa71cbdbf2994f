"""The numpy heads and the hand-written ONNX: the logistic regression reaches scikit-learn's optimum for the same
L2, ridge matches its closed form, the folds are stratified, and the head bytes pass onnx.checker and compute in ONNX
Runtime what the numpy head computes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from sdk.adaptation import heads, onnx_writer
from sdk.adaptation.heads import fit_classes, fit_numbers, stratified_folds


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x[:300].astype(np.float32), y[:300]


def test_logistic_regression_reaches_sklearn_optimum_for_the_same_l2(digits) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = digits
    head = fit_classes(x, [str(v) for v in y], folds=3, seed=0, grid=[0.01])
    mean, scale = heads.standardizer(x)
    # sklearn minimizes C * sum(cross-entropy) + |W|^2 / 2: the same optimum as mean(CE) + l2 |W|^2 / 2 when
    # C = 1 / (l2 * n).
    reference = LogisticRegression(C=1 / (0.01 * len(y)), tol=1e-10, max_iter=10_000).fit((x - mean) * scale, y)
    ours = head(x)
    assert np.abs(ours - reference.predict_proba((x - mean) * scale)).max() < 2e-3
    assert head.labels == tuple(str(d) for d in range(10))


def test_cross_validation_prefers_strong_l2_when_features_are_noise() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 50))
    labels = [str(i % 2) for i in range(40)]
    head = fit_classes(x, labels, folds=5, seed=0)
    assert head.l2 >= 1.0  # one of the two strongest: nothing in the features survives cross-validation
    assert abs(head.cv["cv_accuracy"] - 0.5) < 0.25


def test_cross_validation_finds_the_signal_in_a_few_informative_features() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 20))
    classes = np.arange(60) % 3
    x[:, :3] += 3 * np.eye(3)[classes]
    head = fit_classes(x, [str(c) for c in classes], folds=5, seed=0)
    assert head.cv["cv_accuracy"] >= 0.8 and head.l2 < max(heads.CLASS_L2)  # chance: 1/3


def test_ridge_matches_its_closed_form_and_answers_in_the_targets_units() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 4))
    y = 100 + 20 * (x @ np.array([1.0, -2.0, 0.5, 0.0])) + rng.normal(scale=0.1, size=50)
    head = fit_numbers(x, y, folds=5, seed=0, grid=[1e-3])
    z = (x - x.mean(0)) / x.std(0)
    ys = (y - y.mean()) / y.std()
    w = np.linalg.solve(z.T @ z / 50 + 1e-3 * np.eye(4), z.T @ ys / 50)
    assert np.allclose(head(x)[:, 0], (z @ w) * y.std() + y.mean(), atol=1e-3)
    assert head.cv["cv_rmse"] < 1.0


def test_stratified_folds_spread_every_class_evenly() -> None:
    groups = np.array([0] * 10 + [1] * 5 + [2] * 3)
    folds = stratified_folds(groups, 5, seed=0)
    assert sorted(np.bincount(folds).tolist()) == [3, 3, 4, 4, 4]
    for group in (0, 1):
        assert len(set(folds[groups == group].tolist())) == 5
    assert np.array_equal(folds, stratified_folds(groups, 5, seed=0))


@pytest.mark.parametrize("softmax", [True, False], ids=["classes", "numbers"])
def test_head_bytes_pass_the_onnx_checker_and_match_numpy_in_onnxruntime(softmax: bool) -> None:
    rng = np.random.default_rng(3)
    width, outputs = 12, 4 if softmax else 1
    head = heads.Head(
        kind="classes" if softmax else "regression",
        mean=rng.normal(size=width).astype(np.float32),
        scale=rng.uniform(0.1, 2, size=width).astype(np.float32),
        weights=rng.normal(size=(width, outputs)).astype(np.float32),
        bias=rng.normal(size=outputs).astype(np.float32),
    )
    data = onnx_writer.linear_head(
        feature="features",
        output="answer",
        mean=head.mean,
        scale=head.scale,
        weights=head.weights,
        bias=head.bias,
        softmax=softmax,
        metadata={"base": "x@1"},
    )
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert (model.ir_version, model.opset_import[0].version) == (onnx_writer.IR_VERSION, onnx_writer.OPSET)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert (dims[0].dim_param, dims[1].dim_value) == ("batch", width)
    x = rng.normal(size=(7, width)).astype(np.float32)
    (got,) = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"features": x})
    assert got.shape == (7, outputs)
    assert np.abs(got - head(x)).max() < 1e-5
