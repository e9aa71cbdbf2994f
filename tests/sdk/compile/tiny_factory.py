"""A PyTorch module factory for `sdk compile PATH.py:FUNCTION` tests (tiny MLP, fixed seed)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def make() -> tuple[nn.Module, dict[str, np.ndarray]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    inputs = {"features": np.random.default_rng(0).normal(size=(32, 6)).astype(np.float32)}
    return model, inputs


def make_module_only() -> nn.Module:
    return make()[0]
