"""The scale-test recipe: MiniLM's architecture at >= 2.3 GB, seeded and reproducible (checked at a tiny size: the
shape arithmetic that sizes the full model is checked against a real module)."""

from __future__ import annotations

import pytest

from models.scale_test.model import FULL, TINY, Shape, build, weights_sha256


def test_the_full_shape_holds_at_least_2_3_gb_of_fp32_weights_in_wider_and_more_layers_than_minilm() -> None:
    assert 4 * FULL.parameters() >= 2.3e9
    assert FULL.layers > 6 and FULL.hidden > 384 and FULL.hidden % FULL.heads == 0


@pytest.mark.parametrize("shape", [TINY, Shape(layers=3, hidden=96, heads=3, vocab=500)])
def test_the_parameter_count_that_sizes_the_model_matches_the_built_module(shape: Shape) -> None:
    model = build(shape)
    assert sum(t.numel() for t in model.state_dict().values()) == shape.parameters()


def test_the_weights_are_reproducible_from_the_seed_and_change_with_it() -> None:
    first, again, other = build(TINY, 0), build(TINY, 0), build(TINY, 1)
    assert weights_sha256(first) == weights_sha256(again) != weights_sha256(other)
    positions = dict(first.named_buffers())["bert.embeddings.position_ids"]
    assert positions[0, :5].tolist() == [0, 1, 2, 3, 4]  # buffers are filled, not left as meta garbage
