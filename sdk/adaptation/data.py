"""Labelled examples for ``sdk adapt``, read from CSV, JSONL or NPZ, every fault named by file and row with its fix.

- CSV (UTF-8, a header): ``label`` and one input: ``text``, ``image`` (a PNG/JPEG path, relative to the CSV's folder),
  or the input tensor flattened as ``x0`` .. ``x<n-1>``.
- JSONL: one object a line, ``{"text": ..., "label": ...}``, ``{"image": "path", ...}``, ``{"window": [...], ...}``
  or ``{"x": [...], ...}``.
- NPZ: arrays ``x`` (the examples, one per row: the input tensor, flattened or not) and ``y`` (the labels).

A blank line is not a row; a row with an empty field, a NaN, or a label missing is refused, as is a file that is not
UTF-8. Labels are class names (strings; ``1.0`` reads as ``1``) or, for a base that forecasts, numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.errors import InvalidInput, MalformedRequest

KINDS = ("text", "image", "window", "x")  # the input each example gives: raw text, an image file, a series, a tensor
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".npz": "npz"}
_X_COLUMN = re.compile(r"^x(\d+)$")


@record
class Examples:
    """What a data file holds: ``kind`` of input, one item per example (str, Path, list of floats, or a row of ``x``),
    and its label (``str`` for classes, ``float`` for numbers). ``where[i]`` names example i's place in the file."""

    source: Path
    kind: str
    items: list[Any]
    labels: list[Any]
    where: list[str]

    def __len__(self) -> int:
        return len(self.items)

    def x(self) -> np.ndarray:
        """The tensor examples as one float64 array [n, ...] (``kind == "x"``)."""
        return np.asarray(self.items, dtype=np.float64)


def read_examples(path: str | Path, *, numeric: bool) -> Examples:
    """Read ``path`` (by extension); ``numeric``: labels are numbers (a base that forecasts), else class names."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(
            f"{path.name}: unknown data format {path.suffix or '(no extension)'!r}",
            hint="give a .csv (label + text|image|x0..xN columns), a .jsonl or an .npz (arrays x, y)",
        )
    if not path.is_file():
        raise InvalidInput(f"no data file at {path}", hint="check the path given to --data")
    if kind == "npz":
        examples = _read_npz(path, numeric)
    else:
        text = _utf8(path)
        examples = _read_csv(path, text, numeric) if kind == "csv" else _read_jsonl(path, text, numeric)
    if not examples.items:
        raise InvalidInput(f"{path.name} holds no examples", hint="give at least one labelled example per class")
    return examples


def _utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{path.name} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line} cannot be decoded",
            hint="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8, or your editor's 'save with encoding')",
        ) from exc


def _label(value: Any, where: str, numeric: bool) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(f"{where}: the label is empty", hint="give every example a label")
    if numeric:
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{where}: label {value!r} is not a number (this base forecasts numbers)") from exc
        if not math.isfinite(number):
            raise InvalidInput(f"{where}: label {value!r} is not a finite number")
        return number
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{where}: label {value!r} is NaN or infinite", hint="give every example a class name")
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, (bool, list, dict)):
        raise InvalidInput(f"{where}: label {value!r} is not a class name (a string or a number)")
    return str(value).strip()


def _floats(values: Any, where: str, what: str) -> list[float]:
    if not isinstance(values, list) or not values:
        raise InvalidInput(f"{where}: {what} must be a non-empty list of numbers")
    return [_number(v, f"{where}: {what}[{i}]") for i, v in enumerate(values)]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(f"{where} is empty", hint="fill every value, or leave the example out")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{where} is {value!r}, not a number") from exc
    if not math.isfinite(number):
        raise InvalidInput(f"{where} is {value!r}", hint="NaN and infinity cannot be learned from: fix or drop the row")
    return number


def _item(kind: str, value: Any, where: str, folder: Path) -> Any:
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{where}: the text is empty", hint="give each example some text, or leave it out")
        return value
    if kind == "image":
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{where}: the image path is empty", hint="give the path of a PNG or JPEG file")
        image = (folder / value.strip()).resolve()
        if not image.is_file():
            raise InvalidInput(f"{where}: no image file at {value!r}", hint="paths are relative to the data file")
        return image
    return _floats(value, where, kind)


def _read_csv(path: Path, text: str, numeric: bool) -> Examples:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    x_columns = sorted((c for c in columns if _X_COLUMN.match(c)), key=lambda c: int(c[1:]))
    given = [c for c in ("text", "image") if c in columns] + (["x0..xN"] if x_columns else [])
    if "label" not in columns or len(given) != 1:
        raise InvalidInput(
            f"{path.name} has columns {columns}: it needs 'label' and one input, 'text', 'image' or x0..xN",
            hint="e.g. a header 'text,label', or 'image,label' with PNG paths, or 'x0,x1,...,label'",
        )
    if x_columns and [int(c[1:]) for c in x_columns] != list(range(len(x_columns))):
        raise InvalidInput(f"{path.name}: the x columns must be x0, x1, ... with none missing")
    unknown = sorted(set(columns) - {"label", "text", "image", *x_columns})
    if unknown:
        raise InvalidInput(f"{path.name} has unknown column(s) {unknown}", hint="keep label and one input only")
    kind = "x" if x_columns else given[0]
    items, labels, where = [], [], []
    for row in reader:
        place = f"{path.name} line {reader.line_num}"
        if None in row or any(v is None for v in row.values()):
            more = "more" if None in row else "fewer"
            raise InvalidInput(f"{place} has {more} fields than the header's {len(columns)}", hint="quote any comma")
        if not any((v or "").strip() for v in row.values()):
            raise InvalidInput(f"{place} is an empty row", hint="delete it, or fill in the example")
        labels.append(_label(row["label"], place, numeric))
        if kind == "x":
            items.append([_number(row[c], f"{place}: {c}") for c in x_columns])
        else:
            items.append(_item(kind, row[kind], place, path.parent))
        where.append(place)
    return Examples(path, kind, items, labels, where)


def _read_jsonl(path: Path, text: str, numeric: bool) -> Examples:
    kinds: set[str] = set()
    items, labels, where = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        place = f"{path.name} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MalformedRequest(f"{place} is not JSON: {exc.msg}", hint="one JSON object per line") from exc
        if not isinstance(row, dict) or not row:
            what = "an empty object" if row == {} else "not a JSON object"
            raise InvalidInput(f"{place} is {what}", hint='each line holds one example: {"text": ..., "label": ...}')
        found = [k for k in KINDS if k in row]
        unknown = sorted(set(row) - {"label", *KINDS})
        if len(found) != 1 or unknown or "label" not in row:
            raise InvalidInput(
                f"{place} has keys {sorted(row)}: it needs 'label' and one of {', '.join(KINDS)}",
                hint='e.g. {"text": "a sentence", "label": "positive"}',
            )
        kinds.add(found[0])
        if len(kinds) > 1:
            raise InvalidInput(f"{place} gives {found[0]!r}, earlier lines {sorted(kinds - {found[0]})}: mix none")
        labels.append(_label(row["label"], place, numeric))
        items.append(_item(found[0], row[found[0]], place, path.parent))
        where.append(place)
    return Examples(path, kinds.pop() if kinds else "x", items, labels, where)


def _read_npz(path: Path, numeric: bool) -> Examples:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"{path.name} cannot be read as .npz: {exc}", hint="write it with numpy.savez") from exc
    if set(arrays) != {"x", "y"}:
        raise InvalidInput(f"{path.name} holds arrays {sorted(arrays)}: it needs exactly x and y")
    x, y = arrays["x"], arrays["y"]
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise InvalidInput(
            f"{path.name}: x {list(x.shape)} must be [examples, ...] and y {list(y.shape)} [examples], same count"
        )
    if x.dtype.kind not in "fiu":
        raise InvalidInput(f"{path.name}: x holds {x.dtype}, not numbers")
    values = x.astype(np.float64)
    bad = ~np.isfinite(values.reshape(len(values), -1))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InvalidInput(f"{path.name}: x row {row} holds NaN or infinity", hint="fix or drop that example")
    where = [f"{path.name} row {i}" for i in range(len(y))]
    labels = [_label(v.item() if hasattr(v, "item") else v, where[i], numeric) for i, v in enumerate(y)]
    return Examples(path, "x", list(values), labels, where)
