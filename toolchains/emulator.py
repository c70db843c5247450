"""Running a synthesized `.o` in the unicorn emulator, for any CPU family:
link it (with the compiler runtime and a stub for every import), load the
image, and call exports while each import call is answered and recorded by
a Python host function. The calling convention is the family's subclass:
thumb_emulator.py (AAPCS) and riscv_emulator.py (ilp32, ilp32f, ilp32d).

machine_for(cpu, obj, stubs, import_signatures, import_names) -> a Machine
whose call(symbol, params, results, args) returns an Outcome.
"""

from __future__ import annotations

import functools
import io
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .cpus import ARM, Cpu, cpu as cpu_named
from .reference import HostCall, HostStubs, Outcome

TRAP_NAMES = {1: "unreachable", 2: "integer_divide_by_zero", 3: "integer_overflow", 4: "invalid_conversion",
              5: "undefined_element", 6: "indirect_call_type_mismatch", 7: "out_of_bounds_memory",
              8: "stack_overflow", 9: "out_of_bounds_table"}
RETURN_ADDRESS = 0x7F000000
STACK_TOP = 0x7E000000
STACK_SIZE = 1 << 20
INSTRUCTION_LIMIT = 20_000_000


# lld reads `name@version` in an object's symbol as a symbol version and links
# `pkg:os/time@0.1.0#now` as `pkg:os/time`; for the emulation link each `@`
# of a symbol name stands in as this byte, and is read back as `@`.
VERSION_STAND_IN = b"\x1f"


class EmulationError(Exception):
    """The object could not be linked or loaded, or a call ran away."""


@dataclass(frozen=True)
class Signature:
    params: list[str]
    results: list[str]


def link_for_emulation(obj: bytes, import_symbols: list[str], cpu: str, libgcc: bool = False) -> bytes:
    """An executable image of the object plus import stubs and the compiler
    runtime, linked by zig's lld (which resolves every relocation, RISC-V
    relaxations included, as a firmware link would). The runtime is zig's
    compiler-rt, or with `libgcc` the family's GNU libgcc first, as most
    firmware links (zig 0.17's compiler-rt rounds some soft-float divisions
    wrongly in the last bit, libgcc does not)."""
    target = cpu_named(cpu)
    ret, stop = ("bx lr", "bkpt") if target.family == ARM else ("ret", "ebreak")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "fw.o").write_bytes(_without_versions(obj))
        stubs = ["void _start(void) {}"]
        if libgcc and "abort" not in import_symbols:  # libgcc's unwinder refers to it
            stubs.append("void abort(void) { for (;;) __builtin_trap(); }")
        if _weak_or_absent(obj, "wasmelt_trap"):
            # The firmware's own wasmelt_trap replaces the object's weak one, as a
            # real firmware's does: its first instruction is a plain nop for the
            # hook to stop at (the object's RISC-V c.unimp faults before any hook).
            stubs.append(f'__attribute__((naked, used)) void wasmelt_trap(int code) '
                         f'{{ __asm__ volatile("nop\\n{stop}"); }}')
        for i, symbol in enumerate(import_symbols):
            label = symbol.replace("\\", "\\\\").replace('"', '\\"').replace("@", "\\037")
            stubs.append(f'__attribute__((naked, used)) void stub{i}(void) __asm__("{label}");\n'
                         f'void stub{i}(void) {{ __asm__ volatile("{ret}"); }}')
        (tmp / "stubs.c").write_text("\n".join(stubs) + "\n")
        zig = [sys.executable, "-m", "ziglang", "cc", *target.zig_flags()]
        for cmd in ([*zig, "-c", "-O1", "stubs.c", "-o", "stubs.o"],
                    [*zig, "fw.o", "stubs.o", *(_libgcc(cpu) if libgcc else ()), "-o", "fw.elf",
                     "-Wl,--no-gc-sections"]):
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
            if proc.returncode != 0:
                raise EmulationError(f"linking the object for emulation failed: {proc.stderr.strip()}")
        return (tmp / "fw.elf").read_bytes()


def _without_versions(obj: bytes) -> bytes:
    """The object with each `@` of its string table (symbol and section names,
    nothing else) replaced by VERSION_STAND_IN, the same length, so no offset moves."""
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(obj))
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None:
        return obj
    strtab = elf.get_section(symtab["sh_link"])
    start, end = strtab["sh_offset"], strtab["sh_offset"] + strtab["sh_size"]
    return obj[:start] + obj[start:end].replace(b"@", VERSION_STAND_IN) + obj[end:]


@functools.cache
def _libgcc(cpu: str) -> tuple[str, ...]:
    from .synth import _compiler, cflags

    try:
        gcc = _compiler("gcc", cpu_named(cpu).family).path
    except Exception as e:  # the family's gcc is not installed
        raise EmulationError(f"linking with libgcc needs the GNU compiler for {cpu}: {e}") from None
    proc = subprocess.run([gcc, *cflags("gcc", cpu, "size"), "-print-libgcc-file-name"], capture_output=True, text=True)
    path = proc.stdout.strip()
    if proc.returncode != 0 or not Path(path).is_file():
        raise EmulationError(f"{Path(gcc).name} has no libgcc for {cpu}")
    return (path,)


def function_symbols(image: bytes) -> dict[str, int]:
    """Defined function symbols of an ELF32 little-endian image -> address
    (Thumb bit cleared), read straight from .symtab: pyelftools took ~0.4 s
    per image of a thousand symbols."""
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(image))
    symtab = elf.get_section_by_name(".symtab")
    data, strtab = symtab.data(), elf.get_section(symtab["sh_link"]).data()
    found = {}
    for off in range(0, len(data) - 15, 16):
        name, value, _size, info, _other, shndx = struct.unpack_from("<IIIBBH", data, off)
        if info & 0xF == 2 and shndx != 0:  # STT_FUNC, defined
            raw = strtab[name:strtab.index(b"\0", name)].replace(VERSION_STAND_IN, b"@")
            found[raw.decode("utf-8", "replace")] = value & ~1
    return found


def result_area(results: list[str]) -> int:
    """Where the caller's struct for several results goes: below the top of
    the stack, as large as the results need (16 of them take 128 bytes)."""
    return STACK_TOP - 16 - (8 * len(results) + 7) // 8 * 8


def _weak_or_absent(obj: bytes, name: str) -> bool:
    from elftools.elf.elffile import ELFFile

    for sym in ELFFile(io.BytesIO(obj)).get_section_by_name(".symtab").get_symbol_by_name(name) or []:
        if sym["st_shndx"] != "SHN_UNDEF" and sym["st_info"]["bind"] == "STB_GLOBAL":
            return False
    return True


@dataclass
class Machine:
    """One loaded image; subclasses supply the CPU and the calling convention."""

    image: bytes
    cpu: str
    host: HostStubs = field(default_factory=HostStubs)
    import_signatures: dict[str, Signature] = field(default_factory=dict)  # symbol -> signature
    import_names: dict[str, str] = field(default_factory=dict)  # symbol -> "module.field"

    # -- what a family provides ------------------------------------------------

    RETURN_FILL = b""  # an instruction that stops the CPU, repeated over the return page

    def _create(self, target: Cpu):
        """The unicorn instance, with its CPU model set and FPU enabled."""
        raise NotImplementedError

    def _args_in(self, params: list[str]) -> list:
        """The arguments as an import stub sees them on entry."""
        raise NotImplementedError

    def _set_result(self, t: str, value) -> None:
        """An import stub's result, where its caller expects it."""
        raise NotImplementedError

    def _enter(self, entry: int, params: list[str], results: list[str], args: list) -> tuple[int, int | None]:
        """Place an export's arguments, the stack pointer and the return
        address; (entry pc, address of the results in memory or None)."""
        raise NotImplementedError

    def _results_out(self, results: list[str], in_memory: int | None) -> tuple:
        raise NotImplementedError

    def _trap_code(self) -> int:
        """The first argument of `wasmelt_trap` on its entry."""
        raise NotImplementedError

    def _pc(self) -> int:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------

    def __post_init__(self):
        from elftools.elf.elffile import ELFFile
        import unicorn

        self.uc_mod = unicorn
        self.target = cpu_named(self.cpu)
        elf = ELFFile(io.BytesIO(self.image))
        self.symbols = function_symbols(self.image)
        self.uc = self._create(self.target)
        self.segments = []
        self.ram: list[tuple[int, int]] = []  # the writable segments' pages
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or not seg["p_memsz"]:
                continue
            start = seg["p_vaddr"] & ~0xFFF
            end = (seg["p_vaddr"] + seg["p_memsz"] + 0xFFF) & ~0xFFF
            self.segments.append((start, end, seg["p_vaddr"], seg.data(), seg["p_memsz"]))
            if seg["p_flags"] & 2:  # PF_W
                self.ram.append((start, end))
        self._map_regions()
        self.uc.mem_map(STACK_TOP - STACK_SIZE, STACK_SIZE)
        self.uc.mem_map(RETURN_ADDRESS, 0x1000)
        self.uc.mem_write(RETURN_ADDRESS, self.RETURN_FILL * (16 // len(self.RETURN_FILL)))  # never executed
        self.stub_addresses = {self.symbols[s]: s for s in self.import_signatures if s in self.symbols}
        self.trap_address = self.symbols.get("wasmelt_trap")
        for address in [*self.stub_addresses, *([self.trap_address] if self.trap_address is not None else [])]:
            self.uc.hook_add(unicorn.UC_HOOK_CODE, self._on_code, begin=address, end=address)
        self.snapshot = [(vaddr, bytes(self.uc.mem_read(vaddr, memsz))) for _, _, vaddr, _, memsz in self.segments]
        self.outcome: Outcome | None = None
        self.call_counts: dict[str, int] = {}

    def _map_regions(self) -> None:
        mapped: list[tuple[int, int]] = []
        for start, end, vaddr, data, memsz in sorted(self.segments):
            for m_start, m_end in mapped:  # segments may share a page
                if start < m_end:
                    start = m_end
            if start < end:
                self.uc.mem_map(start, end - start)
                mapped.append((start, end))
            self.uc.mem_write(vaddr, data + b"\0" * (memsz - len(data)))

    def reset(self) -> None:
        """Back to the image's initial memory, as after a power-on."""
        for vaddr, data in self.snapshot:
            self.uc.mem_write(vaddr, data)

    def _on_code(self, uc, address, size, _user) -> None:
        if address == self.trap_address:
            self.outcome.trap = TRAP_NAMES.get(self._trap_code(), "unknown")
            uc.emu_stop()
            return
        symbol = self.stub_addresses.get(address)
        if symbol is None:
            return
        sig = self.import_signatures[symbol]
        args = self._args_in(sig.params)
        name = self.import_names.get(symbol, symbol)
        self.outcome.calls.append(HostCall(name, tuple(args)))
        index = self.call_counts.get(name, 0)
        self.call_counts[name] = index + 1
        result = self.host.result_for(name, index, len(sig.results))
        if sig.results:
            self._set_result(sig.results[0], result[0])

    def call(self, symbol: str, params: list[str], results: list[str], args: list) -> Outcome:
        if symbol not in self.symbols:
            raise EmulationError(f"the object defines no function `{symbol}`")
        self.outcome = Outcome()
        self.call_counts = {}
        pc, in_memory = self._enter(self.symbols[symbol], params, results, args)
        try:
            self.uc.emu_start(pc, RETURN_ADDRESS, count=INSTRUCTION_LIMIT)
        except self.uc_mod.UcError as e:
            if self.outcome.trap is None:
                self.outcome.trap = f"cpu fault ({e})"
            return self.outcome
        if self.outcome.trap is not None:
            return self.outcome
        if self._pc() != RETURN_ADDRESS:
            raise EmulationError(f"`{symbol}` did not return within {INSTRUCTION_LIMIT} instructions")
        if results:
            self.outcome.results = self._results_out(results, in_memory)
        return self.outcome


def machine_for(cpu: str, image: bytes, host: HostStubs, import_signatures: dict[str, Signature],
                import_names: dict[str, str]) -> Machine:
    """The emulator for the CPU's family, with the linked image loaded."""
    if cpu_named(cpu).family == ARM:
        from .thumb_emulator import ThumbMachine as kind
    else:
        from .riscv_emulator import RiscvMachine as kind
    return kind(image, cpu, host, import_signatures, import_names)


# A float travelling as its bits (the spec runner's NaN payloads), in the
# registers its float type uses: the FPU's under a hard-float ABI.
FLOAT_BITS = {"f32bits": "f32", "f64bits": "f64"}


def float_kind(t: str) -> str | None:
    """"f32" or "f64" for a float type (as a value or as its bits), else None."""
    return t if t in ("f32", "f64") else FLOAT_BITS.get(t)


def is_wide(t: str) -> bool:
    """Whether values of `t` take 64 bits."""
    return t in ("i64", "f64", "f64bits")


def to_bits(t: str, value) -> int:
    if t == "i32":
        return int(value) & 0xFFFFFFFF
    if t == "i64":
        return int(value) & 0xFFFFFFFFFFFFFFFF
    if t in FLOAT_BITS:
        return int(value) & ((1 << (64 if is_wide(t) else 32)) - 1)
    if t == "f32":
        return struct.unpack("<I", struct.pack("<f", value))[0]
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def from_bits(t: str, raw: int):
    """Values as wasmtime reports them: signed integers, Python floats (bits, unsigned, for FLOAT_BITS)."""
    if t == "i32":
        raw &= 0xFFFFFFFF
        return raw - (1 << 32) if raw >> 31 else raw
    if t == "i64":
        raw &= 0xFFFFFFFFFFFFFFFF
        return raw - (1 << 64) if raw >> 63 else raw
    if t in FLOAT_BITS:
        return raw & ((1 << (64 if is_wide(t) else 32)) - 1)
    if t == "f32":
        return struct.unpack("<f", struct.pack("<I", raw & 0xFFFFFFFF))[0]
    return struct.unpack("<d", struct.pack("<Q", raw & 0xFFFFFFFFFFFFFFFF))[0]


def struct_layout(types: list[str]) -> tuple[list[int], int]:
    """Field offsets and size of the C struct the lowering returns several
    results in (natural alignment, as on both ABIs)."""
    offsets, offset, align = [], 0, 4
    for t in types:
        size = 8 if is_wide(t) else 4
        offset = (offset + size - 1) // size * size
        offsets.append(offset)
        offset += size
        align = max(align, size)
    return offsets, (offset + align - 1) // align * align


def read_struct(uc, address: int, types: list[str]) -> tuple:
    offsets, _ = struct_layout(types)
    return tuple(from_bits(t, int.from_bytes(uc.mem_read(address + off, 8 if is_wide(t) else 4), "little"))
                 for t, off in zip(types, offsets))
