"""The OpenVINO backend (optional: ``pip install "aiaas-sdk[openvino]"``): one compiled model per loaded artifact.

It runs the statically quantized int8 artifact (Q/DQ ONNX from NNCF) that OpenVINO turns into int8 kernels. Measured
(FACTS.md, AMD Zen 4 with avx512_vnni): MiniLM 1x128 in 6.3 ms vs 10.3 ms for ONNX Runtime's dynamic int8. On a CPU
without VNNI (AVX2 only) the same artifact ran ~2x slower than ONNX Runtime's: which backend serves a model is chosen
by measurement on the device (``sdk.runtime.choice``), never assumed.

OpenVINO compiles a model at load (MiniLM int8 here: ~0.35-1 s). With a ``cache_dir`` (``RuntimeConfig.compile_cache``,
one folder per artifact, engine version and CPU under the cache home) it keeps the compiled model there (its
``CACHE_DIR`` property) and the next start imports it instead (~0.08 s). OpenVINO keys the blobs by the model it was
given (read from the verified bytes) and its compile settings, and drops a blob that does not match.

Hot input shapes get a static-shape copy (``Specializer``): once one exact shape has been seen ``SPECIALIZE_AFTER``
times, a copy of the model reshaped to it is compiled in a background thread (never blocking a request) and runs
that shape from then on; other shapes keep the dynamic model. OpenVINO picks better kernels for static shapes:
MiniLM int8 ran 1x128 ~13-19% and real 13-24 token sentences ~1.6x faster here (benchmarks/int8_ceiling.py). Each
copy holds its own compiled weights (~75 MB for MiniLM int8, 3x its file), so there are at most two, and only in a
long-lived process (``usage`` server): a oneshot call never gets that far, and a function's memory is its price.
The copies go into the same compiled-model cache, so the next start imports them instead of compiling.

OpenVINO's objects are made and torn down one at a time (``_OV_LOCK``): one ``Core`` per process (OpenVINO's own
advice), every compile under the lock, and a compiled model released under it too. A background compile that raced
the release of another compiled model crashed a whole test run once (a segfault inside ``compile_model``, CI at
270f25a). The compile thread is not a daemon and ``close`` waits for it, so an exiting process never kills a thread
that is inside OpenVINO (which aborted the interpreter at exit).
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sdk.errors import ArtifactError, InvalidInput, RuntimeFault
from sdk.extras import require
from sdk.runtime.backend import first_line
from sdk.runtime.config import RuntimeConfig

_OV_LOCK = threading.RLock()  # OpenVINO compiles and releases, one at a time (reentrant: a release may run in a GC)
_CORE: list[Any] = []  # the process's one ov.Core, made on first use

SPECIALIZE_AFTER = 32  # calls of one shape before it gets a static copy: more than the engine choice's probe makes
MAX_SPECIALIZED = 2  # static copies per model (each holds its own compiled weights: ~75 MB for MiniLM int8)

Shape = tuple[tuple[str, tuple[int, ...]], ...]


def import_openvino() -> ModuleType:
    return require("openvino", purpose="running models with OpenVINO")


def shared_core() -> Any:
    """The process's one ``ov.Core`` (never torn down while a compile may use it)."""
    with _OV_LOCK:
        if not _CORE:
            _CORE.append(import_openvino().Core())
        return _CORE[0]


def compile_model(model: Any, settings: Mapping[str, Any]) -> Any:
    """Compile for the CPU plugin, one compile at a time in this process."""
    with _OV_LOCK:
        return shared_core().compile_model(model, "CPU", dict(settings))


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def compile_config(config: RuntimeConfig, cache_dir: Path | None = None) -> dict[str, Any]:
    """Latency first, and true fp32 arithmetic: on CPUs with bf16 OpenVINO would otherwise compute fp32 models in
    bf16 (its default there), which the fp32 parity gate never saw. ``cache_dir``: keep the compiled model there."""
    settings: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if config.threads:
        settings["INFERENCE_NUM_THREADS"] = config.threads
    if cache_dir is not None:
        settings["CACHE_DIR"] = str(cache_dir)
    return settings


class _Compiled:
    """One compiled model and its pool of infer requests (a request is not thread-safe: callers borrow one)."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.outputs = [o.get_any_name() for o in compiled.outputs]
        self._requests: queue.SimpleQueue[Any] | None = queue.SimpleQueue()

    _lock = _OV_LOCK  # held by the class too: a release at interpreter exit still finds it

    def release(self) -> None:
        """Drop the compiled model and its infer requests under the lock (so never during a compile)."""
        with self._lock:
            self._requests = None
            self.compiled = None

    def __del__(self) -> None:
        self.release()

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        requests, compiled = self._requests, self.compiled
        if requests is None or compiled is None:
            raise RuntimeFault("the model was closed")
        try:
            request = requests.get_nowait()
        except queue.Empty:
            request = compiled.create_infer_request()
        try:
            results = request.infer(dict(feeds))
            return {name: np.array(results[name], copy=True) for name in self.outputs}
        finally:
            requests.put(request)


class Specializer:
    """Counts the input shapes the dynamic model answers and compiles a static-shape copy of the hot ones in a
    background thread (at most ``limit``; a shape whose compile fails is not tried again)."""

    def __init__(self, model: Any, settings: Mapping[str, Any], *, after: int, limit: int) -> None:
        self._model, self._settings = model, dict(settings)
        self.after, self.limit = after, limit
        self._seen: dict[Shape, int] = {}
        self._ready: dict[Shape, _Compiled] = {}
        self._threads: dict[Shape, threading.Thread] = {}
        self._lock = threading.Lock()
        self.failures: list[str] = []
        self.closed = False

    def ready(self, shape: Shape) -> _Compiled | None:
        """The static copy for ``shape``, once compiled."""
        return self._ready.get(shape)

    def seen(self, shape: Shape) -> None:
        """Count a call the dynamic model answered (so only shapes it accepts are ever compiled); start the compile
        of a static copy when the shape is due."""
        with self._lock:
            count = self._seen[shape] = self._seen.get(shape, 0) + 1
            due = count >= self.after and shape not in self._threads and len(self._threads) < self.limit
            if due and not self.closed:
                # Not a daemon: an exiting process waits for the compile instead of killing it inside OpenVINO.
                thread = threading.Thread(target=self._compile, args=(shape,), name="aiaas-ov-specialize")
                self._threads[shape] = thread
                thread.start()

    def _compile(self, shape: Shape) -> None:
        try:
            model = self._model.clone()
            model.reshape({name: list(dims) for name, dims in shape})
            compiled = _Compiled(compile_model(model, self._settings))
        except RuntimeError as exc:  # the dynamic model keeps serving this shape
            self.failures.append(f"static copy for {describe_shape(shape)} not compiled: {first_line(exc)}")
            return
        if self.closed:
            compiled.release()
        else:
            self._ready[shape] = compiled

    @property
    def shapes(self) -> tuple[Shape, ...]:
        return tuple(self._ready)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the compiles under way (tests and benchmarks: a server never waits)."""
        for thread in list(self._threads.values()):
            thread.join(timeout)

    def close(self, timeout: float = 60.0) -> None:
        """No more copies; wait (bounded) for a compile under way, then release every copy."""
        with self._lock:
            self.closed = True
        if threading.current_thread() not in self._threads.values():
            self.wait(timeout)
        ready, self._ready = self._ready, {}
        for compiled in ready.values():
            compiled.release()


def shape_of(feeds: Mapping[str, np.ndarray]) -> Shape:
    return tuple(sorted((name, tuple(int(d) for d in np.shape(value))) for name, value in feeds.items()))


def describe_shape(shape: Shape) -> str:
    return ", ".join(f"{name} {'x'.join(map(str, dims))}" for name, dims in shape)


class OpenVinoBackend:
    """An ONNX model read from verified bytes (never re-read from disk) and compiled for OpenVINO's CPU plugin.

    ``specialize_after``: calls of one input shape before a static-shape copy is compiled for it (0: never; None:
    ``SPECIALIZE_AFTER`` in a server process unless ``config.static_shapes`` is off, never in a oneshot or function
    one)."""

    name = "openvino"

    def __init__(
        self,
        model: bytes,
        config: RuntimeConfig,
        *,
        origin: str = "model.onnx",
        cache_dir: Path | None = None,
        specialize_after: int | None = None,
    ) -> None:
        ov = import_openvino()
        self.version: str = ov.__version__.split("-")[0]
        settings = compile_config(config, cache_dir)
        try:
            read = shared_core().read_model(io.BytesIO(model))
            compiled = compile_model(read, settings)
        except RuntimeError as exc:
            raise ArtifactError(f"OpenVINO could not load {origin}: {first_line(exc)}") from exc
        self._compiled: _Compiled | None = _Compiled(compiled)
        self.providers: tuple[str, ...] = ("CPU",)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        precision = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self.from_cache: bool = cache_dir is not None and _loaded_from_cache(compiled)
        cached = ""
        if cache_dir is not None:
            cached = "; compiled model read from its cache" if self.from_cache else "; compiled now, kept in its cache"
        self.notes: tuple[str, ...] = (f"OpenVINO CPU plugin, inference precision {precision}{cached}",)
        dynamic = any(p.get_partial_shape().is_dynamic for p in compiled.inputs)
        self.specializer: Specializer | None = None
        if specialize_after is None:
            server = config.process_usage == "server" and config.static_shapes
            specialize_after = SPECIALIZE_AFTER if server else 0
        if specialize_after > 0 and dynamic:
            self.specializer = Specializer(read, settings, after=specialize_after, limit=MAX_SPECIALIZED)

    def signature(self) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int]]]:
        def table(ports: Any) -> dict[str, tuple[str, int]]:
            return {
                p.get_any_name(): (
                    np.dtype(p.get_element_type().to_dtype()).name,
                    p.get_partial_shape().rank.get_length(),
                )
                for p in ports
            }

        if self._compiled is None:
            raise RuntimeFault("the model was closed")
        return table(self._compiled.compiled.inputs), table(self._compiled.compiled.outputs)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        compiled = self._compiled
        if compiled is None:
            raise RuntimeFault("the model was closed")
        shape = shape_of(feeds) if self.specializer is not None else ()
        static = self.specializer.ready(shape) if self.specializer is not None else None
        try:
            outputs = (static or compiled).infer(feeds)
        except RuntimeError as exc:
            message = _reason(exc)
            if any(word in message.lower() for word in ("shape", "dimension", "incompatible")):
                raise InvalidInput(f"the model rejected the input: {message}") from exc
            raise RuntimeFault(f"OpenVINO failed while running the model: {message}") from exc
        if static is None and self.specializer is not None:
            self.specializer.seen(shape)
        return outputs

    def close(self) -> None:
        compiled, self._compiled = self._compiled, None
        if self.specializer is not None:
            self.specializer.close()
        if compiled is not None:
            compiled.release()


def _reason(exc: BaseException) -> str:
    """OpenVINO's message without its "Exception from <file>:<line>:" and "Check '...' failed at" lines."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception from ", "Check '"))]
    return (useful or lines or [type(exc).__name__])[-1]


def _loaded_from_cache(compiled: Any) -> bool:
    try:
        return bool(compiled.get_property("LOADED_FROM_CACHE"))
    except RuntimeError:  # an OpenVINO without the property
        return False
