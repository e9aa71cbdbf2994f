"""Reading model inputs from files: .npy (one array), .npz (named arrays), .json (an array, or name -> array); and
raw inputs from the command line (``--text``, ``--image``) for a model's processors."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sdk.errors import MalformedRequest
from sdk.protocol.datatypes import numpy_dtype

SUFFIXES = (".npy", ".npz", ".json")
_FORMAT_HINTS = {
    ".npy": "write it with numpy.save(path, array) (no pickled objects)",
    ".npz": "write it with numpy.savez(path, name=array, ...) (no pickled objects)",
    ".json": 'use JSON: an array, {"input_name": array, ...}, or an Open Inference Protocol request body',
}


def read_inputs(path: Path) -> Any:
    """An array or a dict of arrays/lists, ready for ``LoadedModel.__call__``."""
    if not path.is_file():
        raise MalformedRequest(
            f"input file {path} does not exist", hint="pass the path of a .npy, .npz or .json file with the inputs"
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return {k: archive[k] for k in archive.files}
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "inputs" in data and isinstance(data["inputs"], list):
                return _oip_inputs(data["inputs"], path)
            return data
    except (ValueError, OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise MalformedRequest(f"cannot read {path}: {exc}", hint=_FORMAT_HINTS[suffix]) from exc
    raise MalformedRequest(f"{path}: unsupported input file type {suffix!r}", hint=f"use one of {', '.join(SUFFIXES)}")


def read_raw(texts: list[str] | None, images: list[Path] | None) -> list[str] | list[Path] | None:
    """``--text`` values, or the ``--image`` files (checked here, so a missing file is named as the option's; the
    image processor reads them within its byte limit); None when neither was given."""
    if texts and images:
        raise MalformedRequest("pass --text or --image, not both: a model takes one kind of raw input")
    if texts:
        return list(texts)
    if not images:
        return None
    out = []
    for path in images:
        if not path.is_file():
            raise MalformedRequest(f"--image {path} does not exist", hint="pass the path of a PNG or JPEG file")
        out.append(path)
    return out


def _oip_inputs(items: list[Any], path: Path) -> dict[str, Any]:
    """An Open Inference Protocol request body: inputs with name, shape, datatype and flat data."""
    out = {}
    for item in items:
        if not isinstance(item, dict) or not {"name", "shape", "datatype", "data"} <= item.keys():
            raise MalformedRequest(f"{path}: each entry of 'inputs' needs name, shape, datatype and data")
        try:
            dtype = numpy_dtype(item["datatype"])
            out[item["name"]] = np.asarray(item["data"], dtype=dtype).reshape(item["shape"])
        except ValueError as exc:
            raise MalformedRequest(f"{path}: input '{item['name']}': data does not fit shape {item['shape']}") from exc
    return out
