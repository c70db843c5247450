"""Hand-written modules covering every instruction class the builtin synth
lowers, with argument vectors that reach the edge cases and the traps."""

I32_EDGES = [0, 1, -1, 7, -7, 31, 32, 0x7FFFFFFF, -0x80000000, 123456789]
I64_EDGES = [0, 1, -1, 63, 64, (1 << 63) - 1, -(1 << 63), 0x123456789ABCDEF]
F32_EDGES = [0.0, -0.0, 1.5, -2.5, 0.5, -0.5, 3.75, 1e20, -1e-20, float("inf"), float("-inf"), float("nan"),
             2147483520.0, -2147483648.0, 4294967040.0, 16777217.0]
F64_EDGES = [0.0, -0.0, 1.5, -2.5, 0.5, -0.5, 2.5, 1e300, -1e-300, float("inf"), float("nan"), 2147483647.9,
             -2147483648.9, 9.2e18, -9.3e18, 4294967295.5]


def binary(t, ops):
    return "\n".join(f'(func (export "{t}_{op}") (param {t} {t}) (result {t if not is_cmp(op) else "i32"}) '
                     f'local.get 0 local.get 1 {t}.{op})' for op in ops)


def unary(t, ops, result=None):
    return "\n".join(f'(func (export "{t}_{op}") (param {t}) (result {result or t}) local.get 0 {t}.{op})' for op in ops)


def is_cmp(op):
    return op.split("_")[0] in ("eq", "ne", "lt", "gt", "le", "ge")


INT_BIN = ["add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl", "shr_s", "shr_u",
           "rotl", "rotr", "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"]
FLOAT_BIN = ["add", "sub", "mul", "div", "min", "max", "copysign", "eq", "ne", "lt", "gt", "le", "ge"]

MODULES = {
    "i32_ops": (f"(module {binary('i32', INT_BIN)} {unary('i32', ['clz', 'ctz', 'popcnt', 'extend8_s', 'extend16_s'])}"
                f" {unary('i32', ['eqz'])})", {"i32": I32_EDGES}),
    "i64_ops": (f"(module {binary('i64', INT_BIN)} {unary('i64', ['clz', 'ctz', 'popcnt', 'extend8_s', 'extend16_s', 'extend32_s'])}"
                f" {unary('i64', ['eqz'], 'i32')})", {"i64": I64_EDGES}),
    "f32_ops": (f"(module {binary('f32', FLOAT_BIN)} {unary('f32', ['abs', 'neg', 'ceil', 'floor', 'trunc', 'nearest', 'sqrt'])})",
                {"f32": F32_EDGES}),
    "f64_ops": (f"(module {binary('f64', FLOAT_BIN)} {unary('f64', ['abs', 'neg', 'ceil', 'floor', 'trunc', 'nearest', 'sqrt'])})",
                {"f64": F64_EDGES}),
    "conversions": ("""(module
      (func (export "wrap") (param i64) (result i32) local.get 0 i32.wrap_i64)
      (func (export "ext_s") (param i32) (result i64) local.get 0 i64.extend_i32_s)
      (func (export "ext_u") (param i32) (result i64) local.get 0 i64.extend_i32_u)
      (func (export "t32s") (param f32) (result i32) local.get 0 i32.trunc_f32_s)
      (func (export "t32u") (param f32) (result i32) local.get 0 i32.trunc_f32_u)
      (func (export "t64s") (param f64) (result i64) local.get 0 i64.trunc_f64_s)
      (func (export "t64u") (param f64) (result i64) local.get 0 i64.trunc_f64_u)
      (func (export "td32s") (param f64) (result i32) local.get 0 i32.trunc_f64_s)
      (func (export "td32u") (param f64) (result i32) local.get 0 i32.trunc_f64_u)
      (func (export "tf64s") (param f32) (result i64) local.get 0 i64.trunc_f32_s)
      (func (export "sat32s") (param f32) (result i32) local.get 0 i32.trunc_sat_f32_s)
      (func (export "sat32u") (param f64) (result i32) local.get 0 i32.trunc_sat_f64_u)
      (func (export "sat64s") (param f64) (result i64) local.get 0 i64.trunc_sat_f64_s)
      (func (export "sat64u") (param f32) (result i64) local.get 0 i64.trunc_sat_f32_u)
      (func (export "c32s") (param i32) (result f32) local.get 0 f32.convert_i32_s)
      (func (export "c32u") (param i32) (result f32) local.get 0 f32.convert_i32_u)
      (func (export "c64u") (param i64) (result f64) local.get 0 f64.convert_i64_u)
      (func (export "c64sf") (param i64) (result f32) local.get 0 f32.convert_i64_s)
      (func (export "demote") (param f64) (result f32) local.get 0 f32.demote_f64)
      (func (export "promote") (param f32) (result f64) local.get 0 f64.promote_f32)
      (func (export "bits32") (param f32) (result i32) local.get 0 i32.reinterpret_f32)
      (func (export "bits64") (param i64) (result f64) local.get 0 f64.reinterpret_i64))""",
                    {"i32": I32_EDGES, "i64": I64_EDGES, "f32": F32_EDGES, "f64": F64_EDGES}),
    "control": ("""(module
      (func $fib (export "fib") (param i32) (result i32)
        (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
          (then (local.get 0))
          (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                         (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
      (func (export "loop_sum") (param i32) (result i32) (local i32 i32)
        (block $done (loop $next
          (br_if $done (i32.ge_s (local.get 1) (local.get 0)))
          (local.set 2 (i32.add (local.get 2) (local.get 1)))
          (local.set 1 (i32.add (local.get 1) (i32.const 1)))
          (br $next)))
        (local.get 2))
      (func (export "table") (param i32) (result i32)
        (block $d (block $c (block $b (block $a
          (br_table $a $b $c $d (local.get 0)))
          (return (i32.const 10)))
          (return (i32.const 20)))
          (return (i32.const 30)))
        (i32.const 40))
      (func (export "nested_values") (param i32) (result i32)
        (block (result i32)
          (i32.const 5)
          (block (result i32) (i32.const 7) (br_if 1 (local.get 0)) (drop) (i32.const 9))
          (i32.add)))
      (func (export "select") (param i32 i32 i32) (result i32) local.get 0 local.get 1 local.get 2 select)
      (func (export "trap") (param i32) (result i32)
        (if (local.get 0) (then unreachable)) (i32.const 3))
      (func $pair (param i32) (result i32 i32) (local.get 0) (i32.mul (local.get 0) (local.get 0)))
      (func (export "multi") (param i32) (result i32) (call $pair (local.get 0)) i32.sub)
      (func (export "multi_block") (param i32) (result i32)
        (local.get 0)
        (block (param i32) (result i32 i32) (i32.const 2) (br 0))
        i32.mul)
      (func (export "after_return") (param i32) (result i32)
        (block (return (local.get 0)))
        (i32.const 99)))""", {"i32": [0, 1, 2, 3, 5, 10, -1]}),
    "indirect": ("""(module
      (type $un (func (param i32) (result i32)))
      (type $bin (func (param i32 i32) (result i32)))
      (table 4 funcref)
      (elem (i32.const 0) $double $square $add)
      (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
      (func $square (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
      (func $add (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
      (func (export "apply") (param i32 i32) (result i32)
        (call_indirect (type $un) (local.get 1) (local.get 0))))""", {"i32": [0, 1, 2, 3, 4, 7, -1]}),
    "memory": ("""(module
      (memory 1 1)  ;; no room to grow, as on the MCU: memory.grow gives -1 in both
      (data (i32.const 16) "\\01\\02\\03\\04\\05\\06\\07\\08\\f0\\ff")
      (global $counter (mut i32) (i32.const 100))
      (global $big (mut i64) (i64.const -5))
      (func (export "loads") (param i32) (result i64)
        (i64.add (i64.add (i64.load8_s offset=16 (local.get 0)) (i64.load16_u offset=16 (local.get 0)))
                 (i64.add (i64.load32_s offset=16 (local.get 0)) (i64.extend_i32_u (i32.load8_u offset=24 (local.get 0))))))
      (func (export "store_load") (param i32 i32) (result i32)
        (i32.store offset=100 (local.get 0) (local.get 1))
        (i32.store8 offset=3 (local.get 0) (i32.const 255))
        (i32.add (i32.load offset=100 (local.get 0)) (i32.load16_s offset=2 (local.get 0))))
      (func (export "f64_store") (param i32 f64) (result f64)
        (f64.store offset=200 (local.get 0) (local.get 1)) (f64.load offset=200 (local.get 0)))
      (func (export "unaligned") (param i32) (result i32)
        (i32.store offset=301 (i32.const 0) (local.get 0)) (i32.load offset=301 (i32.const 0)))
      (func (export "bulk") (param i32 i32) (result i32)
        (memory.fill (i32.const 400) (local.get 0) (i32.const 16))
        (memory.copy (i32.const 402) (i32.const 16) (i32.const 8))
        (i32.add (i32.load (i32.const 400)) (i32.load (i32.const 404))))
      (func (export "globals") (param i32) (result i32)
        (global.set $counter (i32.add (global.get $counter) (local.get 0)))
        (global.set $big (i64.mul (global.get $big) (i64.extend_i32_s (local.get 0))))
        (i32.add (global.get $counter) (i32.wrap_i64 (global.get $big))))
      (func (export "size_grow") (result i32) (i32.add (memory.size) (memory.grow (i32.const 1)))))""",
               {"i32": [0, 1, 3, 255, 4000], "f64": [1.5, -0.0, float("nan")]}),
}
