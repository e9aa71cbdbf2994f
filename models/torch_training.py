"""Helpers the PyTorch recipes share: a seeded training loop with a progress bar, and checkpoint files."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

CHECKPOINT = "model.pt"


@contextlib.contextmanager
def epoch_bar(desc: str, epochs: int, *, enabled: bool = True) -> Iterator[Callable[[float], None]]:
    """A bar over training epochs on stderr (rich's, which typer brings); call what it yields with each epoch's loss."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("epochs, loss {task.fields[loss]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), disable=not enabled) as bar:
        task = bar.add_task(desc, total=epochs, loss="-")
        yield lambda loss: bar.update(task, advance=1, loss=f"{loss:.4f}")


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
        with epoch_bar(desc, epochs, enabled=progress) as epoch_done:
            for _ in range(epochs):
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
                epoch_done(total / len(xs))
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
