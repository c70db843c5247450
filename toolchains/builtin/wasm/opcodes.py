"""The instruction set: opcode bytes, text names and immediate kinds, for
the MVP plus sign-extension, saturating truncation, bulk memory, reference
types, multi-value and tail calls."""

from __future__ import annotations

# Immediate kinds.
NONE, BLOCK, LABEL, BR_TABLE, FUNC, CALL_INDIRECT, LOCAL, GLOBAL = range(8)
MEMARG, MEMIDX, I32, I64, F32, F64, REFTYPE, SELECT_T, TABLE = range(8, 17)
DATA_MEM, DATA, MEM_MEM, ELEM_TABLE, ELEM, TABLE_TABLE = range(17, 23)

_SINGLE: dict[int, tuple[str, int]] = {
    0x00: ("unreachable", NONE), 0x01: ("nop", NONE), 0x02: ("block", BLOCK), 0x03: ("loop", BLOCK),
    0x04: ("if", BLOCK), 0x05: ("else", NONE), 0x0B: ("end", NONE), 0x0C: ("br", LABEL), 0x0D: ("br_if", LABEL),
    0x0E: ("br_table", BR_TABLE), 0x0F: ("return", NONE), 0x10: ("call", FUNC),
    0x11: ("call_indirect", CALL_INDIRECT), 0x12: ("return_call", FUNC),
    0x13: ("return_call_indirect", CALL_INDIRECT), 0x1A: ("drop", NONE), 0x1B: ("select", NONE),
    0x1C: ("select", SELECT_T), 0x20: ("local.get", LOCAL), 0x21: ("local.set", LOCAL), 0x22: ("local.tee", LOCAL),
    0x23: ("global.get", GLOBAL), 0x24: ("global.set", GLOBAL), 0x25: ("table.get", TABLE), 0x26: ("table.set", TABLE),
    0x3F: ("memory.size", MEMIDX), 0x40: ("memory.grow", MEMIDX), 0x41: ("i32.const", I32), 0x42: ("i64.const", I64),
    0x43: ("f32.const", F32), 0x44: ("f64.const", F64), 0xD0: ("ref.null", REFTYPE), 0xD1: ("ref.is_null", NONE),
    0xD2: ("ref.func", FUNC),
}

_MEMORY_OPS = [
    "i32.load", "i64.load", "f32.load", "f64.load", "i32.load8_s", "i32.load8_u", "i32.load16_s", "i32.load16_u",
    "i64.load8_s", "i64.load8_u", "i64.load16_s", "i64.load16_u", "i64.load32_s", "i64.load32_u", "i32.store",
    "i64.store", "f32.store", "f64.store", "i32.store8", "i32.store16", "i64.store8", "i64.store16", "i64.store32",
]
for _i, _name in enumerate(_MEMORY_OPS):
    _SINGLE[0x28 + _i] = (_name, MEMARG)

_NUMERIC = """
i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u i32.ge_s i32.ge_u
i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u i64.ge_s i64.ge_u
f32.eq f32.ne f32.lt f32.gt f32.le f32.ge f64.eq f64.ne f64.lt f64.gt f64.le f64.ge
i32.clz i32.ctz i32.popcnt i32.add i32.sub i32.mul i32.div_s i32.div_u i32.rem_s i32.rem_u i32.and i32.or i32.xor
i32.shl i32.shr_s i32.shr_u i32.rotl i32.rotr
i64.clz i64.ctz i64.popcnt i64.add i64.sub i64.mul i64.div_s i64.div_u i64.rem_s i64.rem_u i64.and i64.or i64.xor
i64.shl i64.shr_s i64.shr_u i64.rotl i64.rotr
f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest f32.sqrt f32.add f32.sub f32.mul f32.div f32.min f32.max
f32.copysign
f64.abs f64.neg f64.ceil f64.floor f64.trunc f64.nearest f64.sqrt f64.add f64.sub f64.mul f64.div f64.min f64.max
f64.copysign
i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u i64.extend_i32_s i64.extend_i32_u
i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s i64.trunc_f64_u f32.convert_i32_s f32.convert_i32_u
f32.convert_i64_s f32.convert_i64_u f32.demote_f64 f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s
f64.convert_i64_u f64.promote_f32 i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32 f64.reinterpret_i64
i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s
""".split()
for _i, _name in enumerate(_NUMERIC):
    _SINGLE[0x45 + _i] = (_name, NONE)

_PREFIXED_FC: dict[int, tuple[str, int]] = {
    0: ("i32.trunc_sat_f32_s", NONE), 1: ("i32.trunc_sat_f32_u", NONE), 2: ("i32.trunc_sat_f64_s", NONE),
    3: ("i32.trunc_sat_f64_u", NONE), 4: ("i64.trunc_sat_f32_s", NONE), 5: ("i64.trunc_sat_f32_u", NONE),
    6: ("i64.trunc_sat_f64_s", NONE), 7: ("i64.trunc_sat_f64_u", NONE), 8: ("memory.init", DATA_MEM),
    9: ("data.drop", DATA), 10: ("memory.copy", MEM_MEM), 11: ("memory.fill", MEMIDX),
    12: ("table.init", ELEM_TABLE), 13: ("elem.drop", ELEM), 14: ("table.copy", TABLE_TABLE),
    15: ("table.grow", TABLE), 16: ("table.size", TABLE), 17: ("table.fill", TABLE),
}

# (prefix or None, code) -> (name, immediate kind), and the reverse.
DECODE: dict[int, tuple[str, int]] = _SINGLE
DECODE_FC: dict[int, tuple[str, int]] = _PREFIXED_FC
ENCODE: dict[tuple[str, int], bytes] = {}
IMMEDIATE: dict[str, int] = {}
for _code, (_name, _kind) in _SINGLE.items():
    ENCODE[(_name, _kind)] = bytes([_code])
    IMMEDIATE.setdefault(_name, _kind)
for _code, (_name, _kind) in _PREFIXED_FC.items():
    ENCODE[(_name, _kind)] = bytes([0xFC]) + bytes([_code])  # sub-opcodes here are all < 128
    IMMEDIATE[_name] = _kind

VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref", 0x6F: "externref"}
VALTYPE_BYTES = {name: code for code, name in VALTYPES.items()}
REFTYPES = {0x70: "funcref", 0x6F: "externref"}
