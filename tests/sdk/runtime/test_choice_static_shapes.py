"""OpenVINO's static-shape copies of hot input shapes (#20 item 5): a shape the dynamic model answered often enough
gets a copy compiled for exactly that shape in the background, which then answers it, as the dynamic model would.
Real OpenVINO on the shipped digits CNN (its batch dimension is dynamic); nothing here times anything."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from sdk import RuntimeConfig
from sdk.errors import InvalidInput
from sdk.runtime import choice

if TYPE_CHECKING:
    from sdk.runtime.openvino_backend import OpenVinoBackend, Specializer

pytestmark = pytest.mark.skipif(not choice.installed("openvino"), reason='needs pip install "aiaas-sdk[openvino]"')


def backend(folder: Path, after: int) -> OpenVinoBackend:
    from sdk.runtime.openvino_backend import OpenVinoBackend

    return OpenVinoBackend((folder / "model.onnx").read_bytes(), RuntimeConfig(warmup_runs=0), specialize_after=after)


def copies(model: OpenVinoBackend) -> Specializer:
    assert model.specializer is not None
    return model.specializer


def images(split, rows: int) -> dict[str, np.ndarray]:
    return {"image": np.ascontiguousarray(split.x_test[:rows])}


def test_a_hot_shape_gets_a_static_copy_that_answers_like_the_dynamic_model(digits_artifact: Path, digits_split):
    from sdk.runtime.openvino_backend import shape_of

    model = backend(digits_artifact, after=3)
    feeds = images(digits_split, 4)
    dynamic = [model.run(feeds) for _ in range(3)]
    copies(model).wait(60)
    assert copies(model).shapes == (shape_of(feeds),)
    assert copies(model).ready(shape_of(feeds)) is not None
    static = model.run(feeds)
    np.testing.assert_allclose(static["logits"], dynamic[0]["logits"], rtol=1e-4, atol=1e-4)
    # Another batch size has no copy: the dynamic model answers it.
    other = images(digits_split, 5)
    assert copies(model).ready(shape_of(other)) is None
    assert model.run(other)["logits"].shape == (5, 10)
    model.close()


def test_a_shape_below_the_threshold_compiles_nothing(digits_artifact: Path, digits_split):
    model = backend(digits_artifact, after=5)
    for _ in range(4):
        model.run(images(digits_split, 3))
    copies(model).wait(60)
    assert copies(model).shapes == ()


def test_static_copies_are_bounded_per_model(digits_artifact: Path, digits_split, monkeypatch):
    from sdk.runtime import openvino_backend

    monkeypatch.setattr(openvino_backend, "MAX_SPECIALIZED", 2)
    model = backend(digits_artifact, after=1)
    for rows in (1, 2, 3, 4):
        model.run(images(digits_split, rows))
    copies(model).wait(60)
    assert len(copies(model).shapes) == 2
    assert model.run(images(digits_split, 4))["logits"].shape == (4, 10)  # the dynamic model still answers it


def test_a_rejected_shape_is_never_counted_or_compiled(digits_artifact: Path, digits_split):
    model = backend(digits_artifact, after=1)
    bad = {"image": np.zeros((2, 1, 5, 5), dtype=np.float32)}
    for _ in range(3):
        with pytest.raises(InvalidInput):
            model.run(bad)
    copies(model).wait(60)
    assert copies(model).shapes == () and copies(model).failures == []


def test_specialization_off_keeps_one_dynamic_model(digits_artifact: Path, digits_split):
    model = backend(digits_artifact, after=0)
    assert model.specializer is None
    assert model.run(images(digits_split, 2))["logits"].shape == (2, 10)


@pytest.mark.parametrize("usage", ["oneshot", "function"])
def test_a_short_lived_process_never_compiles_static_copies(digits_artifact: Path, usage: str):
    from sdk.runtime.openvino_backend import OpenVinoBackend

    config = RuntimeConfig(warmup_runs=0, usage=usage)
    model = OpenVinoBackend((digits_artifact / "model.onnx").read_bytes(), config)
    assert model.specializer is None


def test_a_server_process_compiles_static_copies_by_default(digits_artifact: Path):
    from sdk.runtime.openvino_backend import SPECIALIZE_AFTER, OpenVinoBackend

    model = OpenVinoBackend((digits_artifact / "model.onnx").read_bytes(), RuntimeConfig(usage="server"))
    assert copies(model).after == SPECIALIZE_AFTER
    off = OpenVinoBackend(
        (digits_artifact / "model.onnx").read_bytes(), RuntimeConfig(usage="server", static_shapes=False)
    )
    assert off.specializer is None  # AIAAS_STATIC_SHAPES=0, or a server under a memory budget


def test_the_engine_choice_probe_never_triggers_a_static_compile():
    """A server's first load times each candidate on the probe: a compile started meanwhile would skew that."""
    from sdk.runtime.openvino_backend import SPECIALIZE_AFTER

    probe_calls = 1 + 2 + choice.PROBE_RUNS + 1  # the check run, time_calls' warm-up, its rounds, the load's warm-up
    assert probe_calls < SPECIALIZE_AFTER


def test_closing_during_a_compile_waits_for_it_and_releases_every_copy(digits_artifact: Path, digits_split):
    model = backend(digits_artifact, after=1)
    model.run(images(digits_split, 2))  # starts a compile in the background
    specializer = copies(model)
    model.close()
    assert not any(thread.is_alive() for thread in specializer._threads.values())
    assert specializer.shapes == () and specializer.closed
    with pytest.raises(Exception, match="closed"):
        model.run(images(digits_split, 2))


def test_compiles_and_releases_take_turns(digits_artifact: Path, digits_split):
    """A background compile never runs while another OpenVINO object is made or torn down (a compile that raced a
    release once crashed a whole test run inside OpenVINO)."""
    import threading

    from sdk.runtime import openvino_backend

    model = backend(digits_artifact, after=1)
    with openvino_backend._OV_LOCK:
        model.run(images(digits_split, 3))  # due: its compile starts, and must wait for the lock
        thread = next(iter(copies(model)._threads.values()))
        thread.join(0.5)
        assert thread.is_alive() and copies(model).shapes == ()
    copies(model).wait(60)
    assert len(copies(model).shapes) == 1
    released = threading.Event()
    with openvino_backend._OV_LOCK:
        closer = threading.Thread(target=lambda: (model.close(), released.set()))
        closer.start()
        assert not released.wait(0.3)  # the release waits for the lock too
    closer.join(60)
    assert released.is_set()


def test_a_process_that_exits_while_a_copy_compiles_exits_cleanly(digits_artifact: Path, tmp_path: Path):
    """Without waiting for it, the interpreter killed the compile thread inside OpenVINO and aborted at exit."""
    import subprocess
    import sys

    script = tmp_path / "exit_mid_compile.py"
    script.write_text(
        "import numpy as np\n"
        "from pathlib import Path\n"
        "from sdk import RuntimeConfig\n"
        "from sdk.runtime.openvino_backend import OpenVinoBackend\n"
        f"data = Path({str(digits_artifact / 'model.onnx')!r}).read_bytes()\n"
        "for rows in range(1, 9):\n"
        "    model = OpenVinoBackend(data, RuntimeConfig(warmup_runs=0), specialize_after=1)\n"
        "    model.run({'image': np.zeros((rows, 1, 8, 8), np.float32)})\n"
        "print('done', flush=True)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "done" in done.stdout and "terminate called" not in done.stderr
