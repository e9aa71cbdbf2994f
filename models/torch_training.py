"""Helpers the PyTorch recipes share: a seeded training loop with a progress bar, and checkpoint files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

CHECKPOINT = "model.pt"


def fit(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    seed: int,
    desc: str,
    progress: bool = True,
) -> nn.Module:
    """Adam with a cosine schedule; seeded batch order and single-threaded kernels, so a seed gives the same weights."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
        xs, ys = torch.from_numpy(x), torch.from_numpy(y)
        generator = torch.Generator().manual_seed(seed)
        bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress)
        for _ in bar:
            model.train()
            order = torch.randperm(len(xs), generator=generator)
            total = 0.0
            for start in range(0, len(xs), batch_size):
                idx = order[start : start + batch_size]
                optimizer.zero_grad()
                loss = loss_fn(model(xs[idx]), ys[idx])
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
            scheduler.step()
            bar.set_postfix(loss=f"{total / len(xs):.4f}")
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return model


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(x))
    return (out[0] if isinstance(out, tuple) else out).numpy()


def save_state(model: nn.Module, folder: Path) -> None:
    torch.save(model.state_dict(), folder / CHECKPOINT)


def load_state(model: nn.Module, folder: Path) -> nn.Module:
    model.load_state_dict(torch.load(folder / CHECKPOINT, weights_only=True))
    return model.eval()
