"""LEB128 integers as the wasm binary format uses them: bounded lengths,
exact sign handling, and the minimal encoding on output."""

from __future__ import annotations

from .errors import DecodeError


def read_unsigned(data: bytes, pos: int, bits: int = 32, end: int | None = None) -> tuple[int, int]:
    end = len(data) if end is None else end
    result = shift = 0
    max_bytes = (bits + 6) // 7
    for i in range(max_bytes):
        if pos >= end:
            raise DecodeError("unexpected end of data in LEB128 integer", pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            used = bits - 7 * i  # value bits the last byte may carry
            if i == max_bytes - 1 and used < 7 and byte >> used:
                raise DecodeError(f"LEB128 integer too large for u{bits}", pos - 1)
            return result, pos
    raise DecodeError(f"LEB128 integer longer than {max_bytes} bytes", pos)


def read_signed(data: bytes, pos: int, bits: int = 32, end: int | None = None) -> tuple[int, int]:
    end = len(data) if end is None else end
    result = shift = 0
    max_bytes = (bits + 6) // 7
    for i in range(max_bytes):
        if pos >= end:
            raise DecodeError("unexpected end of data in LEB128 integer", pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if i == max_bytes - 1:
                # The unused high bits of the last byte must be a sign extension.
                used = bits - 7 * i
                if used < 7:
                    rest = byte & 0x7F
                    sign = (rest >> (used - 1)) & 1
                    if rest >> used != ((0x7F >> used) if sign else 0):
                        raise DecodeError(f"LEB128 integer too large for s{bits}", pos - 1)
            if byte & 0x40:
                result -= 1 << shift
            return result, pos
    raise DecodeError(f"LEB128 integer longer than {max_bytes} bytes", pos)


def unsigned(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"negative value {value} for unsigned LEB128")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def signed(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)
