"""A pre-norm Transformer encoder over the 8 rows of a digit, written out so the exported graph is plain
MatMul/Softmax (exports with the TorchScript exporter and runs on every ONNX runtime)."""

from __future__ import annotations

import torch
from torch import nn

ROWS, WIDTH = 8, 8


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        weights = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(n, t, d)
        x = x + self.drop(self.proj(attended))
        return x + self.drop(self.ffn(self.norm2(x)))


class DigitsTransformer(nn.Module):
    """[N, 8, 8] rows of pixels in [0, 1] -> (logits, probabilities) [N, 10]."""

    def __init__(self, dim: int = 64, heads: int = 4, hidden: int = 128, layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Linear(WIDTH, dim)
        self.position = nn.Parameter(torch.zeros(1, ROWS, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads, hidden, dropout) for _ in range(layers)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)
        nn.init.normal_(self.position, std=0.02)

    def forward(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.blocks(self.embed(rows) + self.position)
        logits = self.head(self.norm(x).mean(dim=1))
        return logits, torch.softmax(logits, dim=-1)
