"""`--calibration FILE.npz`: checked against the model's inputs, split into batches, every mismatch named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdk.artifacts import TensorSpec
from sdk.compile.sources import read_calibration_file
from sdk.errors import InvalidInput

INPUTS = (
    TensorSpec(name="ids", dtype="int64", shape=(-1, -1), dim_names=("batch", "sequence")),
    TensorSpec(name="image", dtype="float32", shape=(-1, 1, 8, 8), dim_names=("batch", None, None, None)),
)


def save(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def test_rows_are_split_into_batches_of_the_model_inputs(tmp_path: Path) -> None:
    ids, image = np.zeros((70, 12), np.int64), np.ones((70, 1, 8, 8), np.float32)
    batches = read_calibration_file(save(tmp_path / "c.npz", ids=ids, image=image), INPUTS, batch=32)
    assert [len(b["ids"]) for b in batches] == [32, 32, 6]
    assert all(set(b) == {"ids", "image"} for b in batches)
    np.testing.assert_array_equal(np.concatenate([b["image"] for b in batches]), image)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"ids": np.zeros((4, 3), np.int64)}, r"holds \['ids'\]; the model's inputs are \['ids', 'image'\]"),
        (
            {"ids": np.zeros((4, 3), np.int64), "image": np.zeros((5, 1, 8, 8), np.float32)},
            r"the same number of rows \(> 0\), got \[4, 5\]",
        ),
        (
            {"ids": np.zeros((0, 3), np.int64), "image": np.zeros((0, 1, 8, 8), np.float32)},
            r"the same number of rows \(> 0\), got \[0\]",
        ),
        (
            {"ids": np.zeros((4, 3), np.int32), "image": np.zeros((4, 1, 8, 8), np.float32)},
            "'ids' is int32 rank 2, the model takes int64 rank 2",
        ),
        (
            {"ids": np.zeros((4, 3), np.int64), "image": np.zeros((4, 1, 7, 8), np.float32)},
            r"'image' has shape \(4, 1, 7, 8\), the model takes \(-1, 1, 8, 8\)",
        ),
    ],
    ids=["names", "rows differ", "no rows", "dtype", "fixed dimension"],
)
def test_a_mismatched_file_is_refused_naming_the_problem(
    tmp_path: Path, arrays: dict[str, np.ndarray], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        read_calibration_file(save(tmp_path / "c.npz", **arrays), INPUTS)
