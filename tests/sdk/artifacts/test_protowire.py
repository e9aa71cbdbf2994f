"""The shared protobuf wire primitives (sdk.artifacts.protowire), against the onnx package's own encoder."""

from __future__ import annotations

import numpy as np
import pytest

from sdk.artifacts.protowire import LEN, VARINT, Malformed, fields, len_field, read_varint, spans, write_varint


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varints_round_trip(value: int) -> None:
    encoded = write_varint(value)
    assert read_varint(memoryview(encoded), 0) == (value, len(encoded))


def test_a_negative_varint_is_int64_twos_complement_in_ten_bytes() -> None:
    encoded = write_varint(-1)
    assert len(encoded) == 10 and read_varint(memoryview(encoded), 0)[0] == 2**64 - 1


def test_fields_read_what_onnx_writes() -> None:
    pytest.importorskip("onnx")
    from onnx import numpy_helper

    tensor = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
    got = {number: value for number, _, value in fields(memoryview(tensor.SerializeToString()))}
    assert bytes(got[8]).decode() == "w"  # name
    assert got[2] == 1  # data_type FLOAT
    assert np.frombuffer(bytes(got[9]), dtype=np.float32).tolist() == list(range(6))  # raw_data


def test_a_field_written_here_parses_in_onnx() -> None:
    onnx = pytest.importorskip("onnx")
    raw = len_field(8, b"name") + write_varint(2 << 3 | VARINT) + write_varint(7)
    tensor = onnx.TensorProto.FromString(raw)
    assert tensor.name == "name" and tensor.data_type == 7


@pytest.mark.parametrize(
    "raw",
    [
        bytes([0x80]),  # a varint with no last byte
        bytes([8 << 3 | LEN, 5, 1, 2]),  # 5 bytes promised, 2 given
        bytes([1 << 3 | 1, 0, 0]),  # a fixed 64-bit field cut short
        bytes([1 << 3 | 3]),  # a group (wire type 3): not read
    ],
)
def test_malformed_bytes_are_refused_not_read_past(raw: bytes) -> None:
    with pytest.raises(Malformed):
        spans(memoryview(raw))
