"""Running a core module's exports in wasmtime, the reference every lowered
artifact is compared with: results, the sequence of host calls, and traps."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

# Trap kinds shared by the reference and the firmware runner.
TRAP_KINDS = {
    "UNREACHABLE": "unreachable",
    "INTEGER_DIVISION_BY_ZERO": "integer_divide_by_zero",
    "INTEGER_OVERFLOW": "integer_overflow",
    "BAD_CONVERSION_TO_INTEGER": "invalid_conversion",
    "BAD_SIGNATURE": "indirect_call_type_mismatch",
    "TABLE_OUT_OF_BOUNDS": "undefined_element",
    "INDIRECT_CALL_TO_NULL": "undefined_element",
    "MEMORY_OUT_OF_BOUNDS": "out_of_bounds_memory",
    "HEAP_MISALIGNED": "out_of_bounds_memory",
    "STACK_OVERFLOW": "stack_overflow",
    "OUT_OF_FUEL": "out_of_fuel",
}


@dataclass(frozen=True)
class HostCall:
    name: str  # "module.field"
    args: tuple


@dataclass
class Outcome:
    results: tuple = ()
    calls: list[HostCall] = field(default_factory=list)
    trap: str | None = None  # a TRAP_KINDS value, or None


@dataclass
class HostStubs:
    """How imported functions behave: each call is recorded; its result is
    taken in turn from `returns[name]` (cycled). A call to an import that has
    no stub (or, returning a value, no value to return) answers zero and is
    noted in `missing`, so the runner can refuse the case instead of passing it."""

    returns: dict[str, list] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)

    def result_for(self, name: str, call_index: int, n_results: int) -> tuple:
        values = self.returns.get(name)
        if name not in self.returns or (n_results and not values):
            self.missing.add(name)
        if not values:
            return (0,) * n_results
        value = values[call_index % len(values)]
        return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def same_value(a, b) -> bool:
    """Equality of wasm values as the reference sees them: NaNs are equal to
    NaNs, floats compare by value, integers by their bit pattern."""
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def wrap_signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def f32_round(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


FUEL = 50_000_000  # instructions, roughly: a runaway loop ends as an "out_of_fuel" trap


def run_reference(wasm: bytes, export: str, args: list, stubs: HostStubs | None = None, *,
                  grows: bool = True) -> Outcome:
    """Call one export of a fresh instance, with every import a recording stub.
    With grows=False, memories and tables keep their initial sizes, as on the
    MCU: memory.grow and table.grow give -1 for any growth above 0 (wasm lets
    growth fail), so the reference is what the synthesized object must do."""
    import wasmtime

    stubs = stubs or HostStubs()
    config = wasmtime.Config()
    config.consume_fuel = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    store.set_fuel(FUEL)
    if not grows:
        store.set_limits(**_initial_sizes(wasm))
    module = wasmtime.Module(engine, wasm)
    outcome = Outcome()
    counts: dict[str, int] = {}
    imports = []
    for imp in module.imports:
        if not isinstance(imp.type, wasmtime.FuncType):
            raise ValueError(f"import {imp.module}.{imp.name} is not a function; the reference runner provides functions only")
        name = f"{imp.module}.{imp.name}"
        n_results = len(imp.type.results)

        def host(*call_args, _name=name, _n=n_results):
            index = counts.get(_name, 0)
            counts[_name] = index + 1
            outcome.calls.append(HostCall(_name, tuple(call_args)))
            result = stubs.result_for(_name, index, _n)
            return None if _n == 0 else result[0] if _n == 1 else result

        imports.append(wasmtime.Func(store, imp.type, host))
    try:
        # The start function runs here: a trap in it is the call's outcome too.
        instance = wasmtime.Instance(store, module, imports)
        func = instance.exports(store).get(export)
        if func is None or not isinstance(func, wasmtime.Func):
            raise KeyError(f"the module exports no function `{export}`")
        result = func(store, *args)
    except wasmtime.Trap as trap:
        code = trap.trap_code.name if trap.trap_code is not None else "UNREACHABLE"
        outcome.trap = TRAP_KINDS.get(code, code.lower())
        return outcome
    except wasmtime.WasmtimeError as e:
        if "stack overflow" in str(e) or "exhausted" in str(e):
            outcome.trap = "stack_overflow"
            return outcome
        raise
    outcome.results = () if result is None else tuple(result) if isinstance(result, (list, tuple)) else (result,)
    return outcome


def _initial_sizes(wasm: bytes) -> dict[str, int]:
    """set_limits() arguments that stop every memory and table at its initial size.
    The limits are per store, so one size must hold for all of them."""
    from .builtin.wasm.decode import decode_module

    module = decode_module(wasm)
    limits = {}
    for limit, what, sizes in (("memory_size", "memories", {m.limits.min * 65536 for m in module.memories}),
                               ("table_elements", "tables", {t.limits.min for t in module.tables})):
        if len(sizes) > 1:
            raise ValueError(f"the module's {what} differ in initial size ({sorted(sizes)}); "
                             "the reference can keep only one size fixed")
        if sizes:
            limits[limit] = sizes.pop()
    return limits


def export_signatures(wasm: bytes) -> dict[str, tuple[list[str], list[str]]]:
    """Each exported function's (param types, result types) as text names."""
    import wasmtime

    module = wasmtime.Module(wasmtime.Engine(), wasm)
    sigs = {}
    for exp in module.exports:
        if isinstance(exp.type, wasmtime.FuncType):
            sigs[exp.name] = ([str(t) for t in exp.type.params], [str(t) for t in exp.type.results])
    return sigs
