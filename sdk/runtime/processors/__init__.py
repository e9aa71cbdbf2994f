"""The artifact's processors: raw inputs -> the model's tensors (``encode``), its tensors -> answers (``decode``).

Declared in the manifest (``sdk.artifacts.processors_schema``), their files read from the very bytes whose sha256 was
checked (as the model is). One object per loaded model, batched and thread-safe, so the edge runtime
(``LoadedModel``), and the server's batcher, run the same code::

    processors = open_processors(folder, manifest)   # None when the manifest declares none
    encoded = processors.encode(["a sentence", "another"])
    answers = processors.decode(model.run_validated(encoded.feeds), encoded)

The libraries load on first use (``tokenizers`` for text, Pillow for images), never at ``import sdk``; a missing one
raises MissingDependency naming its extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk.artifacts.integrity import read_verified
from sdk.artifacts.manifest import Manifest, TensorSpec
from sdk.artifacts.processors_schema import ProcessorsSpec
from sdk.errors import InvalidInput
from sdk.runtime.processors.image import ImageEncoder
from sdk.runtime.processors.outputs import OutputDecoder
from sdk.runtime.processors.result import Encoded, Processed
from sdk.runtime.processors.series import SeriesEncoder
from sdk.runtime.processors.text import TextEncoder

InputEncoder = TextEncoder | ImageEncoder | SeriesEncoder
WIRE_KINDS = ("text", "image")  # raw inputs that travel as OIP BYTES tensors


class Processors:
    """A model's input processor (text, image or series; None when it takes tensors only) and output processor.
    ``files``: the bytes of the files the spec names (``spec.files``), already verified."""

    def __init__(
        self,
        spec: ProcessorsSpec,
        *,
        model: str,
        inputs: Sequence[TensorSpec],
        labels: Sequence[str] | None,
        files: Mapping[str, bytes],
    ) -> None:
        self.spec = spec
        self.model = model
        self.files = tuple(files)
        self.input: InputEncoder | None = None
        if spec.text is not None:
            self.input = TextEncoder(spec.text, files[spec.text.tokenizer], model=model)
        elif spec.image is not None:
            self.input = ImageEncoder(spec.image, model=model)
        elif spec.series is not None:
            tensor = next(s for s in inputs if s.name == spec.series.input)
            self.input = SeriesEncoder(spec.series, tensor, model=model)
        self.output = OutputDecoder(spec.output, labels) if spec.output is not None else None

    @property
    def kind(self) -> str | None:
        """``text``, ``image`` or ``series``: the raw input this model takes; None when it takes tensors only."""
        return self.input.kind if self.input is not None else None

    @property
    def wire_input(self) -> str | None:
        """The name of the raw input on the wire (an OIP BYTES tensor): ``text`` or ``image``; None when the model
        takes no raw input a server can be sent (tensors only, or a series, which travels as the FP32 tensor)."""
        return self.kind if self.kind in WIRE_KINDS else None

    @property
    def output_names(self) -> tuple[str, ...]:
        """The names of the answers ``decode`` returns (``label``, ``score`` for a classifier), or () when no
        output processor is declared (the model's own outputs are the answers)."""
        if self.output is None:
            return ()
        return ("label", "score") if self.output.spec.kind == "classes" else (self.output.spec.output,)

    def takes(self, inputs: Any) -> bool:
        """Whether ``inputs`` are raw inputs for this model (a dict of tensors never is)."""
        return self.input is not None and not isinstance(inputs, Mapping) and self.input.takes(inputs)

    def prepare(self) -> None:
        """Load the input processor's library now (a server does, before its first request)."""
        if self.input is not None:
            self.input.prepare()

    def encode(self, raw: Any) -> Encoded:
        """Raw items (one, or a list) -> the model's feeds; InvalidInput names the item at fault and what was
        expected."""
        if self.input is None:
            raise InvalidInput(f"{self.model} takes tensors only: its manifest declares no input processor")
        return self.input.encode(raw)

    def decode(
        self, tensors: Mapping[str, np.ndarray], encoded: Encoded | None = None, *, top_k: int | None = None
    ) -> Processed:
        """The model's outputs -> answers (the tensors as they are when no output processor is declared)."""
        outputs = self.output.decode(tensors, top_k=top_k) if self.output is not None else dict(tensors)
        return Processed(
            outputs=outputs,
            inputs=dict(encoded.report) if encoded is not None else {},
            tensors=dict(tensors),
            notes=encoded.notes if encoded is not None else (),
        )


def open_processors(folder: str | Path, manifest: Manifest) -> Processors | None:
    """The manifest's processors, their files read from the very bytes their sha256 was checked on; None when the
    manifest declares none."""
    if manifest.processors is None:
        return None
    listed = {f.file: f for f in manifest.files}
    files = {}
    for name in manifest.processors.files:
        entry = listed[name]  # the manifest refuses a processor file it does not list
        files[name] = read_verified(folder, entry.file, entry.sha256, entry.bytes)
    return Processors(
        manifest.processors, model=manifest.ref, inputs=manifest.inputs, labels=manifest.labels, files=files
    )


__all__ = ["WIRE_KINDS", "Encoded", "InputEncoder", "Processed", "Processors", "open_processors"]
