"""Checks on protobuf input that the parser itself does not make.

protobuf accepts a varint wider than its field (a 65-bit `int64`, a 40-bit `uint32`) and keeps
only the low bits, so a value the sender never meant arrives looking valid; it also accepts NUL
characters in strings, which PostgreSQL cannot store and SQLite stores silently. Both are refused
here with the field's name, the same way on every store. Pure functions, no I/O.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_F = FieldDescriptor
_UNSIGNED_32 = {_F.TYPE_UINT32}
_SIGNED_32 = {_F.TYPE_INT32, _F.TYPE_ENUM}  # negative values travel sign-extended to 64 bits
_ZIGZAG_32 = {_F.TYPE_SINT32}
_VARINT_TYPES = {
    _F.TYPE_INT64,
    _F.TYPE_UINT64,
    _F.TYPE_SINT64,
    _F.TYPE_BOOL,
    *_UNSIGNED_32,
    *_SIGNED_32,
    *_ZIGZAG_32,
}
_U64 = 1 << 64


class WireError(ValueError):
    """Bytes that parse but do not mean what they seem; the message names the field."""


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """An unbounded base-128 varint at `pos` and the position after it."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _fits(value: int, field: FieldDescriptor | None) -> bool:
    if value >= _U64:
        return False
    if field is None:
        return True
    if field.type in _UNSIGNED_32 or field.type in _ZIGZAG_32:
        return value < 1 << 32
    if field.type in _SIGNED_32:
        return value < 1 << 31 or value >= _U64 - (1 << 31)
    return True


def check_varints(data: bytes, descriptor: Descriptor, path: str = "") -> None:
    """Raise `WireError` if any varint in `data` (a parsed `descriptor` message) is too wide.

    Walks nested messages and packed repeated fields; unknown fields are checked against 64 bits.
    """
    pos, end = 0, len(data)
    fields = descriptor.fields_by_number
    while pos < end:
        key = data[pos]  # keys and lengths are mostly one byte: read those inline
        if key < 0x80:
            pos += 1
        else:
            key, pos = _read_varint(data, pos)
        wire_type = key & 7
        field = fields.get(key >> 3)
        if wire_type == 2:
            if pos < end and data[pos] < 0x80:
                length, pos = data[pos], pos + 1
            else:
                length, pos = _read_varint(data, pos)
            start, pos = pos, pos + length
            if field is None:
                continue
            if field.type == _F.TYPE_MESSAGE:
                check_varints(data[start:pos], field.message_type, path + field.name + ".")
            elif field.type in _VARINT_TYPES:  # packed repeated
                chunk, inner = data[start:pos], 0
                while inner < len(chunk):
                    value, inner = _read_varint(chunk, inner)
                    if not _fits(value, field):
                        raise WireError(f"{path + field.name}: varint wider than its type")
        elif wire_type == 0:
            value, pos = _read_varint(data, pos)
            if value >= 1 << 31 and not _fits(value, field):  # below 2^31 every type fits
                name = path + (field.name if field is not None else f"field {key >> 3}")
                raise WireError(f"{name}: varint wider than its type")
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            name = path + (field.name if field is not None else f"field {key >> 3}")
            raise WireError(f"{name}: wire type {wire_type} is not used by this protocol")
    if pos != end:
        raise WireError("truncated field")


def _has_strings(descriptor: Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a message of this type can hold a string field, at any depth."""
    found = _STRINGS.get(descriptor.full_name)
    if found is None:
        found = any(
            f.type == _F.TYPE_STRING
            or (
                f.type == _F.TYPE_MESSAGE
                and f.message_type.full_name not in seen
                and _has_strings(f.message_type, seen | {descriptor.full_name})
            )
            for f in descriptor.fields
        )
        if not seen:  # a type reached through a cycle is judged from its outermost use
            _STRINGS[descriptor.full_name] = found
    return found


_STRINGS: dict[str, bool] = {}


def check_strings(message: Message, path: str = "") -> None:
    """Raise `WireError` if any string field, at any depth, holds a NUL character."""
    for field, value in message.ListFields():
        name = path + field.name
        values = value if field.is_repeated else (value,)
        if field.type == _F.TYPE_STRING:
            if any("\x00" in v for v in values):
                raise WireError(f"{name}: contains a NUL character")
        elif field.type == _F.TYPE_MESSAGE:
            for v in values:
                check_strings(v, name + ".")


def check(data: bytes, message: Message) -> None:
    """Both checks on `message`, freshly parsed from `data`."""
    check_varints(data, message.DESCRIPTOR)
    # A NUL character in a string is a zero byte in the data; and some types hold no strings.
    if b"\x00" in data and _has_strings(message.DESCRIPTOR):
        check_strings(message)
