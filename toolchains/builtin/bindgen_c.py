"""C bindings for a WIT world without wit-bindgen: a header with the type
layouts and the imported and exported functions, and glue that flattens
them to the canonical ABI, with a grow-free bump `cabi_realloc`.

C's struct layout on wasm32 is the canonical ABI's memory layout (a variant is
a tag then a union), so results come back through memory as-is; parameters are
flattened field by field (a variant's cases joined into shared slots).
Resource handles (and, in the component defining the resource, its reps) are
uint32_t.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import canonical_abi as abi
from .wit import ROOT, FuncSig, Type, World, core_export_name, render

_C_SCALAR = {"bool": "bool", "s8": "int8_t", "u8": "uint8_t", "s16": "int16_t", "u16": "uint16_t",
             "s32": "int32_t", "u32": "uint32_t", "s64": "int64_t", "u64": "uint64_t", "f32": "float",
             "f64": "double", "char": "uint32_t"}
_CORE_C = {"i32": "int32_t", "i64": "int64_t", "f32": "float", "f64": "double"}


class BindgenError(Exception):
    pass


def _to_slot(value: str, have: str, slot: str) -> str:
    """A case's flat value widened to the variant's joined slot type."""
    if have == slot:
        return value
    if have == "f32":
        value, have = f"((union {{ float f; int32_t i; }}){{ .f = ({value}) }}).i", "i32"
    elif have == "f64":
        return f"((union {{ double f; int64_t i; }}){{ .f = ({value}) }}).i"
    return value if have == slot else f"(int64_t)(uint32_t)({value})"


def _from_slot(value: str, slot: str, want: str) -> str:
    """The joined slot narrowed back to the case's flat type."""
    if slot == want:
        return value
    if want == "i32":
        return f"(int32_t)({value})"
    if want == "f32":
        return f"((union {{ int32_t i; float f; }}){{ .i = (int32_t)({value}) }}).f"
    return f"((union {{ int64_t i; double f; }}){{ .i = ({value}) }}).f"


def ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


@dataclass
class _Gen:
    world: World

    def __post_init__(self):
        self.types: dict[Type, str] = {}
        self.decls: list[str] = []
        self.temps = 0

    # -- types ----------------------------------------------------------------

    def ctype(self, t: Type | None) -> str:
        if t is None:
            return "void"
        if t.kind in _C_SCALAR:
            return _C_SCALAR[t.kind]
        if t.kind in ("own", "borrow"):
            return "uint32_t"
        if t in self.types:
            return self.types[t]
        name = self._name(t)
        self.types[t] = name
        if t.kind == "string":
            body = "struct { uint8_t *ptr; size_t len; }"
        elif t.kind == "list":
            body = f"struct {{ {self.ctype(t.items[0])} *ptr; size_t len; }}"
        elif t.kind in ("record", "tuple"):
            members = t.items if t.kind == "record" else [(f"f{i}", m) for i, m in enumerate(t.items)]
            body = "struct { " + " ".join(f"{self.ctype(m)} {ident(n)};" for n, m in members) + " }"
        elif t.kind == "enum":
            body = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t"}[abi.disc_size(len(t.items))]
            for i, n in enumerate(t.items):
                self.decls.append(f"#define {name[:-2].upper()}_{ident(n).upper()} {i}")
        elif t.kind == "flags":
            body = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t"}[abi.disc_size_flags(len(t.items))]
            if len(t.items) > 32:
                raise BindgenError("flags with more than 32 members are not supported")
            for i, n in enumerate(t.items):
                self.decls.append(f"#define {name[:-2].upper()}_{ident(n).upper()} (1u << {i})")
        elif t.kind in ("variant", "option", "result"):
            tag = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t"}[abi.disc_size(len(abi.cases(t)))]
            names = ([n for n, _ in t.items] if t.kind == "variant" else ["none", "some"] if t.kind == "option"
                     else ["ok", "err"])
            members = " ".join(f"{self.ctype(c)} {ident(n)};" for n, c in zip(names, abi.cases(t)) if c is not None)
            body = f"struct {{ {tag} tag; union {{ {members or 'uint8_t none_;'} }} val; }}"
            for i, n in enumerate(names):
                self.decls.append(f"#define {name[:-2].upper()}_{ident(n).upper()} {i}")
        else:
            raise BindgenError(f"WIT type {t.kind} is not supported by the C bindings")
        self.decls.append(f"typedef {body} {name};")
        self.decls.append(f"_Static_assert(sizeof({name}) == {abi.size(t)} && _Alignof({name}) == "
                          f"{abi.alignment(t)}, \"canonical layout of {name}\");")
        return name

    def _name(self, t: Type) -> str:
        if t.name:
            return ident(t.name) + "_t"
        if t.kind == "string":
            return "wit_string_t"
        if t.kind in ("list", "option"):
            return f"wit_{t.kind}_{self._short(t.items[0])}_t"
        if t.kind == "result":
            return f"wit_result_{self._short(t.items[0])}_{self._short(t.items[1])}_t"
        return f"wit_{t.kind}{len(self.types)}_t"

    def _short(self, t: Type | None) -> str:
        if t is None:
            return "void"
        if t.kind in _C_SCALAR or t.kind == "string":
            return t.kind
        return self.ctype(t).removeprefix("wit_")[:-2]

    # -- flattening parameters --------------------------------------------------

    def flat_args(self, t: Type, expr: str, where: str) -> list[str]:
        if t.kind in _C_SCALAR or t.kind in ("enum", "flags", "own", "borrow"):
            return [f"({_CORE_C[abi.flatten(t)[0]]}){expr}"]
        if t.kind in ("string", "list"):
            return [f"(int32_t){expr}.ptr", f"(int32_t){expr}.len"]
        if t.kind in ("record", "tuple"):
            members = t.items if t.kind == "record" else [(f"f{i}", m) for i, m in enumerate(t.items)]
            return [a for n, m in members for a in self.flat_args(m, f"{expr}.{ident(n)}", where)]
        cases, names, slots = abi.cases(t), self._case_names(t), abi.flatten(t)[1:]
        out = [f"(int32_t){expr}.tag"]
        for j, slot in enumerate(slots):
            chosen = "0"
            for k in reversed(range(len(cases))):
                if cases[k] is None:
                    continue
                values = self.flat_args(cases[k], f"{expr}.val.{ident(names[k])}", where)
                if j < len(values):
                    chosen = f"({expr}.tag == {k} ? {_to_slot(values[j], abi.flatten(cases[k])[j], slot)} : {chosen})"
            out.append(f"({_CORE_C[slot]}){chosen}")
        return out

    def _case_names(self, t: Type) -> list[str]:
        return ([n for n, _ in t.items] if t.kind == "variant" else ["none", "some"] if t.kind == "option"
                else ["ok", "err"])

    def unflat(self, t: Type, values: list[str], where: str) -> str:
        """A C expression rebuilding t from flat core values (consumed)."""
        if t.kind in _C_SCALAR or t.kind in ("enum", "flags", "own", "borrow"):
            return f"({self.ctype(t)}){values.pop(0)}"
        if t.kind in ("string", "list"):
            elem = "uint8_t" if t.kind == "string" else self.ctype(t.items[0])
            ptr, n = values.pop(0), values.pop(0)
            return f"({self.ctype(t)}){{ ({elem} *){ptr}, (size_t){n} }}"
        if t.kind in ("record", "tuple"):
            members = [m for _, m in t.items] if t.kind == "record" else list(t.items)
            return f"({self.ctype(t)}){{ " + ", ".join(self.unflat(m, values, where) for m in members) + " }"
        cases, names, slots = abi.cases(t), self._case_names(t), abi.flatten(t)[1:]
        tag, mine = values.pop(0), [values.pop(0) for _ in slots]
        self.temps += 1
        r = f"v{self.temps}"
        arms = []
        for k, c in enumerate(cases):
            if c is not None:
                raw = [_from_slot(v, slot, want) for v, slot, want in zip(mine, slots, abi.flatten(c))]
                arms.append(f"case {k}: {r}.val.{ident(names[k])} = {self.unflat(c, raw, where)}; break;")
        return (f"({{ {self.ctype(t)} {r}; {r}.tag = {tag}; switch ({r}.tag) {{ {' '.join(arms)} default: break; }} "
                f"{r}; }})")

    # -- functions ------------------------------------------------------------------

    def c_name(self, interface: str, function: str) -> str:
        for prefix, spelled in (("[constructor]", "{}_new"), ("[method]", "{}"), ("[static]", "{}")):
            if function.startswith(prefix):
                return ident(spelled.format(function[len(prefix):].replace(".", "_")))
        if interface == ROOT:
            return ident(function)
        iface = interface.partition("/")[2].partition("@")[0]
        return ident(f"{iface}_{function}")

    def resource(self, key, side: str, header: list[str], glue: list[str]) -> None:
        """The canonical built-ins for a resource: drop for a user of it; new,
        rep, drop and the destructor hook for the component defining it."""
        interface, name = key
        r = ident(name)
        if side == "import":
            header.append(f"/* resource {interface}#{name}: handles are uint32_t */")
            header.append(f"__attribute__((import_module(\"{interface}\"), import_name(\"[resource-drop]{name}\")))")
            header.append(f"void {r}_drop(uint32_t handle);")
            return
        module = f"[export]{interface}"
        header.append(f"/* resource {interface}#{name}: you give each a uint32_t rep; users hold handles */")
        for builtin, proto in (("new", f"uint32_t {r}_handle_new(uint32_t rep)"),
                               ("rep", f"uint32_t {r}_rep(uint32_t handle)"),
                               ("drop", f"void {r}_handle_drop(uint32_t handle)")):
            header.append(f"__attribute__((import_module(\"{module}\"), import_name(\"[resource-{builtin}]{name}\")))")
            header.append(f"{proto};")
        header.append(f"void {r}_dtor(uint32_t rep); /* you implement it: the last handle was dropped */")
        glue.append(f"__attribute__((export_name(\"{interface}#[dtor]{name}\")))")
        glue.append(f"void __wasm_export_{r}_dtor(int32_t rep) {{ {r}_dtor((uint32_t)rep); }}")

    def prototype(self, name: str, sig: FuncSig) -> str:
        params = ", ".join(f"{self.ctype(t)} {ident(n)}" for n, t in sig.params) or "void"
        return f"{self.ctype(sig.result)} {name}({params})"

    def core_proto(self, name: str, sig: FuncSig, lower: bool) -> str:
        params, results = abi.core_signature(sig, lower)
        args = ", ".join(f"{_CORE_C[p]} p{i}" for i, p in enumerate(params)) or "void"
        return f"{_CORE_C[results[0]] if results else 'void'} {name}({args})"

    def import_(self, key, sig: FuncSig, header: list[str]) -> None:
        interface, function = key
        where = f"import `{interface}#{function}`"
        name = self.c_name(*key)
        if len(abi.flat_params(sig)) > abi.MAX_FLAT_PARAMS:
            raise BindgenError(f"{where}: more than {abi.MAX_FLAT_PARAMS} flat parameters are not supported by the "
                               "C bindings yet; pass a record by fewer fields")
        raw = f"__wasm_import_{name}"
        module = interface if interface != ROOT else "$root"
        header.append(f"__attribute__((import_module(\"{module}\"), import_name(\"{function}\")))")
        header.append(f"{self.core_proto(raw, sig, True)};")
        args = [a for n, t in sig.params for a in self.flat_args(t, ident(n), where)]
        results = abi.flat_results(sig)
        header.append(f"static inline {self.prototype(name, sig)} {{")
        if not results:
            header.append(f"    {raw}({', '.join(args)});")
        elif len(results) <= abi.MAX_FLAT_RESULTS:
            header.append(f"    return ({self.ctype(sig.result)}){raw}({', '.join(args)});")
        else:
            header.append(f"    {self.ctype(sig.result)} ret;")
            header.append(f"    {raw}({', '.join(args + ['(int32_t)&ret'])});")
            header.append("    return ret;")
        header.append("}")

    def export(self, key, sig: FuncSig, header: list[str], glue: list[str]) -> None:
        where = f"export `{key[0]}#{key[1]}`" if key[0] != ROOT else f"export `{key[1]}`"
        name = self.c_name(*key)
        header.append(f"{self.prototype(name, sig)}; /* you implement it */")
        params, results = abi.core_signature(sig, False)
        if len(abi.flat_params(sig)) > abi.MAX_FLAT_PARAMS:
            raise BindgenError(f"{where}: more than {abi.MAX_FLAT_PARAMS} flat parameters are not supported by the "
                               "C bindings yet")
        values = [f"p{i}" for i in range(len(params))]
        call = f"{name}({', '.join(self.unflat(t, values, where) for _, t in sig.params)})"
        glue.append(f"__attribute__((export_name(\"{core_export_name(*key)}\")))")
        glue.append(self.core_proto(f"__wasm_export_{name}", sig, False) + " {")
        flat_results = abi.flat_results(sig)
        if not flat_results:
            glue.append(f"    {call};")
        elif len(flat_results) <= abi.MAX_FLAT_RESULTS:
            glue.append(f"    return ({_CORE_C[flat_results[0]]}){call};")
        else:
            glue.append(f"    static {self.ctype(sig.result)} ret;")
            glue.append(f"    ret = {call};")
            glue.append("    return (int32_t)&ret;")
        glue.append("}")


def generate(world: World, world_name: str, arena_bytes: int) -> tuple[str, str]:
    """(header, glue C source) for a component implementing the world."""
    gen = _Gen(world)
    guard = ident(world_name).upper() + "_H"
    funcs_h: list[str] = []
    glue: list[str] = [f"#include \"{world_name}.h\"", "",
                       "/* A grow-free bump allocator over a static arena: what the fused adapters copy into. */",
                       f"static uint8_t arena[{arena_bytes}] __attribute__((aligned(8)));",
                       "static size_t arena_used;",
                       "__attribute__((export_name(\"cabi_realloc\")))",
                       "void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {",
                       "    size_t at = (arena_used + align - 1) & ~(align - 1);",
                       f"    if (old || at + new_size > {arena_bytes}) __builtin_trap();",
                       "    arena_used = at + new_size;",
                       "    return arena + at;",
                       "}",
                       "void cabi_arena_reset(void) { arena_used = 0; }", ""]
    for key, side in sorted(world.resources.items()):
        gen.resource(key, side, funcs_h, glue)
    for key, sig in sorted(world.imports.items()):
        funcs_h.append(f"/* import {key[0] + '#' if key[0] != ROOT else ''}{key[1]}: {sig.text()} */")
        gen.import_(key, sig, funcs_h)
    for key, sig in sorted(world.exports.items()):
        funcs_h.append(f"/* export {key[0] + '#' if key[0] != ROOT else ''}{key[1]}: {sig.text()} */")
        gen.export(key, sig, funcs_h, glue)
    header = [f"/* Generated by wasmelt from the WIT world `{world_name}`: do not edit. */",
              f"#ifndef {guard}", f"#define {guard}", "#include <stdbool.h>", "#include <stddef.h>",
              "#include <stdint.h>", "", *gen.decls, "",
              f"/* Strings and lists this component receives live in a {arena_bytes}-byte arena; call this once",
              " * nothing received is in use any more (a call past its end traps). */",
              "void cabi_arena_reset(void);", "", *funcs_h, "", f"#endif /* {guard} */", ""]
    return "\n".join(header), "\n".join(glue) + "\n"
