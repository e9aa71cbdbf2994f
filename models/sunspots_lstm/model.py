"""LSTM forecaster on square-root-scaled sunspots, with a linear autoregressive path beside it.

Sunspot counts are skewed: the square root makes the cycles near-symmetric (a classic transform for this series).
The linear path starts at the least-squares AR(20) fit, so the LSTM learns what a linear model cannot. Both
transforms are inside the graph: the ONNX model takes and returns raw sunspot numbers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from models.sunspots_lstm.data import WINDOW


def to_root(values: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.clamp(values, min=0.0)) / 10.0


class SunspotLSTM(nn.Module):
    """[N, 20, 1] raw sunspot numbers -> [N, 1] next year's number."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.linear = nn.Linear(WINDOW, 1)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        x = to_root(window)
        out, _ = self.lstm(x)
        root = self.head(out[:, -1]) + self.linear(x[:, :, 0])
        return (root * 10.0).clamp(min=0.0) ** 2

    def init_linear_path(self, x_train: np.ndarray, y_train: np.ndarray) -> None:
        """Least-squares AR(20) on the root scale for the linear path; the LSTM head starts small."""
        features = np.sqrt(np.clip(x_train[:, :, 0], 0, None)) / 10
        target = np.sqrt(np.clip(y_train[:, 0], 0, None)) / 10
        design = np.c_[features, np.ones(len(features))]
        coef = np.linalg.lstsq(design, target, rcond=None)[0]
        with torch.no_grad():
            self.linear.weight[:] = torch.tensor(coef[:-1], dtype=torch.float32)
            self.linear.bias[:] = float(coef[-1])
            self.head.weight.mul_(0.1)
