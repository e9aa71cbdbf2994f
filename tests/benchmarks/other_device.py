"""Run PyTorch code as if on a device other than the CPU, on a machine that has only a CPU.

Inside ``OtherDevice()``, a tensor created for device ``"meta"`` (or moved there) is an ``OnDevice``: it reports
``device="meta"`` but holds real CPU data (``cpu_data``), so the code runs with real values (``.item()`` and
data-dependent branches work, unlike on the plain meta device, where BERT's mask code fails). Every operator that mixes
such a tensor with a plain CPU tensor of one or more dimensions is recorded in ``mixed``: that is what CUDA refuses
("Expected all tensors to be on the same device ... cuda:0 and cpu"), e.g. the ``device=cpu`` constants a TorchScript
trace keeps. Zero-dim CPU tensors may mix, as CUDA allows them, and so may the copies between devices.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

DEVICE = torch.device("meta")
CROSS_DEVICE = frozenset({"aten::copy_", "aten::_to_copy", "aten::lift_fresh", "aten::index", "aten::index_put_"})


class OnDevice(torch.Tensor):
    """A tensor that says it lives on ``DEVICE`` and keeps its data in ``cpu_data``, a CPU tensor."""

    cpu_data: torch.Tensor

    @staticmethod
    def __new__(cls, cpu_data: torch.Tensor) -> OnDevice:
        made = torch.Tensor._make_wrapper_subclass(
            cls,
            cpu_data.size(),
            strides=cpu_data.stride(),
            storage_offset=cpu_data.storage_offset(),
            dtype=cpu_data.dtype,
            device=DEVICE,
            requires_grad=cpu_data.requires_grad,
        )
        made.cpu_data = cpu_data
        return made

    __torch_function__ = torch._C._disabled_torch_function_impl  # type: ignore[assignment]

    @classmethod
    def __torch_dispatch__(  # type: ignore[override]
        cls, func: Any, types: Sequence[type], args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        raise RuntimeError(f"{func} on a simulated-device tensor outside OtherDevice()")

    def __repr__(self) -> str:  # type: ignore[override]
        return f"OnDevice({self.cpu_data!r})"


def _wrap(value: Any) -> Any:
    return OnDevice(value) if isinstance(value, torch.Tensor) and not isinstance(value, OnDevice) else value


def _unwrap(value: Any) -> Any:
    return value.cpu_data if isinstance(value, OnDevice) else value


class OtherDevice(TorchDispatchMode):
    """The dispatch mode that runs every operator on the CPU data and records the device-mixing ones."""

    device = DEVICE.type

    def __init__(self) -> None:
        super().__init__()
        self.mixed: list[str] = []

    def __torch_dispatch__(
        self, func: Any, types: Sequence[type], args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = dict(kwargs or {})
        flat, _ = tree_flatten((args, kwargs))
        on_device = any(isinstance(t, OnDevice) for t in flat)
        pinned = [t for t in flat if isinstance(t, torch.Tensor) and not isinstance(t, OnDevice) and t.dim() > 0]
        if on_device and pinned and func._schema.name not in CROSS_DEVICE:
            self.mixed.append(f"{func._schema.name}: a {tuple(pinned[0].shape)} tensor on {pinned[0].device}")
        result_on_device = on_device
        if kwargs.get("device") is not None:  # a factory, or .to(device=...): the result goes where it says
            result_on_device = torch.device(kwargs["device"]).type == DEVICE.type
            kwargs["device"] = torch.device("cpu")
        out = func(*tree_map(_unwrap, args), **tree_map(_unwrap, kwargs))
        if func._schema.is_mutable and args and isinstance(args[0], OnDevice):
            return args[0]  # in place: the caller holds the wrapper, whose data has just changed
        return tree_map(_wrap, out) if result_on_device else out


def run_elsewhere(build: Callable[[str], Any], feeds: Sequence[torch.Tensor]) -> tuple[OtherDevice, tuple[Any, ...]]:
    """Build a module for the other device (``build(device)``), move ``feeds`` there, run it once without grad."""
    mode = OtherDevice()
    # ``module.to(dtype)`` sets ``param.data``, which a wrapper tensor cannot follow: new parameters instead.
    overwrite = torch.__future__.get_overwrite_module_params_on_conversion()
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        with mode, torch.no_grad(), warnings.catch_warnings():
            # load_state_dict sees device "meta" and warns that copying into it does nothing; here the copy is real.
            warnings.filterwarnings("ignore", message=".*copying from a non-meta parameter", category=UserWarning)
            module = build(mode.device)
            result = module(*(f.to(mode.device) for f in feeds))
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(overwrite)
    return mode, tuple(result) if isinstance(result, (tuple, list)) else (result,)
