"""Running a synthesized `.o` as Cortex-M Thumb code in the unicorn
emulator: link it (with the compiler runtime and a stub for every import),
load the image, and call exports with AAPCS arguments while each import
call is answered and recorded by a Python host function."""

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

from .reference import HostCall, HostStubs, Outcome

CPU_MODELS = {"cortex-m0": "CORTEX_M0", "cortex-m0plus": "CORTEX_M0", "cortex-m3": "CORTEX_M3",
              "cortex-m4": "CORTEX_M4", "cortex-m4f": "CORTEX_M4", "cortex-m7": "CORTEX_M7",
              "cortex-m33": "CORTEX_M33"}
HARD_FLOAT = {"cortex-m4f", "cortex-m7"}
TRAP_NAMES = {1: "unreachable", 2: "integer_divide_by_zero", 3: "integer_overflow", 4: "invalid_conversion",
              5: "undefined_element", 6: "indirect_call_type_mismatch", 7: "out_of_bounds_memory",
              8: "stack_overflow", 9: "out_of_bounds_table"}
RETURN_ADDRESS = 0x7F000000
STACK_TOP = 0x7E000000
STACK_SIZE = 1 << 20
INSTRUCTION_LIMIT = 20_000_000


class EmulationError(Exception):
    """The object could not be linked or loaded, or a call ran away."""


def zig_target(cpu: str) -> list[str]:
    abi = "eabihf" if cpu in HARD_FLOAT else "eabi"
    # zig's CPU models carry no FPU: name it for the hard-float parts.
    mcpu = {"cortex-m4f": "cortex_m4+vfp4d16sp", "cortex-m7": "cortex_m7+fp_armv8d16sp"}.get(cpu, cpu.replace("-", "_"))
    flags = ["-target", f"thumb-freestanding-{abi}", f"-mcpu={mcpu}"]
    if cpu == "cortex-m4":
        flags.append("-mfloat-abi=soft")
    return flags


def link_for_emulation(obj: bytes, import_symbols: list[str], cpu: str, libgcc: bool = False) -> bytes:
    """An executable image of the object plus import stubs and the compiler
    runtime: zig's compiler-rt, or with `libgcc` arm-none-eabi-gcc's libgcc
    first (as most firmware links; zig 0.17's compiler-rt rounds some
    soft-float divisions wrongly in the last bit, libgcc does not)."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "fw.o").write_bytes(obj)
        stubs = ["void _start(void) {}"]
        if libgcc and "abort" not in import_symbols:  # libgcc's unwinder refers to it
            stubs.append("void abort(void) { for (;;) __builtin_trap(); }")
        for i, symbol in enumerate(import_symbols):
            label = symbol.replace("\\", "\\\\").replace('"', '\\"')
            stubs.append(f'__attribute__((naked, used)) void stub{i}(void) __asm__("{label}");\n'
                         f'void stub{i}(void) {{ __asm__ volatile("bx lr"); }}')
        (tmp / "stubs.c").write_text("\n".join(stubs) + "\n")
        cmd = [sys.executable, "-m", "ziglang", "cc", *zig_target(cpu), "-O1", "stubs.c", "fw.o", *(_libgcc(cpu) if libgcc else ()),
               "-o", "fw.elf", "-Wl,--no-gc-sections"]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            raise EmulationError(f"linking the object for emulation failed: {proc.stderr.strip()}")
        return (tmp / "fw.elf").read_bytes()


@functools.cache
def _libgcc(cpu: str) -> tuple[str, ...]:
    from .synth import cflags

    gcc = shutil.which("arm-none-eabi-gcc")
    if not gcc:
        raise EmulationError("linking with libgcc needs arm-none-eabi-gcc: apt-get install gcc-arm-none-eabi")
    proc = subprocess.run([gcc, *cflags("gcc", cpu, "size"), "-print-libgcc-file-name"], capture_output=True, text=True)
    path = proc.stdout.strip()
    if proc.returncode != 0 or not Path(path).is_file():
        raise EmulationError(f"arm-none-eabi-gcc has no libgcc for {cpu}")
    return (path,)


def function_symbols(image: bytes) -> dict[str, int]:
    """Defined function symbols -> address (Thumb bit cleared), read straight
    from .symtab: pyelftools took ~0.4 s per image of a thousand symbols."""
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(image))
    symtab = elf.get_section_by_name(".symtab")
    data, strtab = symtab.data(), elf.get_section(symtab["sh_link"]).data()
    found = {}
    for off in range(0, len(data) - 15, 16):
        name, value, _size, info, _other, shndx = struct.unpack_from("<IIIBBH", data, off)
        if info & 0xF == 2 and shndx != 0:  # STT_FUNC, defined
            found[strtab[name:strtab.index(b"\0", name)].decode("utf-8", "replace")] = value & ~1
    return found


@dataclass
class Signature:
    params: list[str]
    results: list[str]


@dataclass
class ThumbMachine:
    image: bytes
    cpu: str
    host: HostStubs = field(default_factory=HostStubs)
    import_signatures: dict[str, Signature] = field(default_factory=dict)  # symbol -> signature
    import_names: dict[str, str] = field(default_factory=dict)  # symbol -> "module.field"

    def __post_init__(self):
        from elftools.elf.elffile import ELFFile
        import io

        import unicorn
        from unicorn import arm_const

        self.uc_mod, self.arm = unicorn, arm_const
        self.hard_float = self.cpu in HARD_FLOAT
        elf = ELFFile(io.BytesIO(self.image))
        self.symbols = function_symbols(self.image)
        model = getattr(unicorn.arm_const, f"UC_CPU_ARM_{CPU_MODELS[self.cpu]}")
        self.uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(model)
        self.segments = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or not seg["p_memsz"]:
                continue
            start = seg["p_vaddr"] & ~0xFFF
            end = (seg["p_vaddr"] + seg["p_memsz"] + 0xFFF) & ~0xFFF
            self.segments.append((start, end, seg["p_vaddr"], seg.data(), seg["p_memsz"]))
        self._map_regions()
        self.uc.mem_map(STACK_TOP - STACK_SIZE, STACK_SIZE)
        self.uc.mem_map(RETURN_ADDRESS, 0x1000)
        self.uc.mem_write(RETURN_ADDRESS, b"\x00\xbe" * 8)  # bkpt, never executed: emulation stops here
        if self.hard_float:
            self._enable_fpu()
        self.stub_addresses = {self.symbols[s]: s for s in self.import_signatures if s in self.symbols}
        self.trap_address = self.symbols.get("wasmelt_trap")
        # Hooks only on the addresses that need Python (import stubs, the trap
        # handler): a hook on every instruction made emulation ~50x slower.
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

    def _enable_fpu(self) -> None:
        # CPACR: full access to CP10/CP11, as firmware start-up code does.
        try:
            self.uc.reg_write(self.arm.UC_ARM_REG_C1_C0_2, 0xF << 20)
        except Exception:  # older unicorn: the register is not exposed; FPU is then on by default
            pass

    def reset(self) -> None:
        """Back to the image's initial memory, as after a power-on."""
        for vaddr, data in self.snapshot:
            self.uc.mem_write(vaddr, data)

    # -- AAPCS ---------------------------------------------------------------

    def _reg(self, n: int) -> int:
        return getattr(self.arm, f"UC_ARM_REG_R{n}")

    def _args_in(self, params: list[str]) -> list:
        """Read arguments as the callee sees them (import stubs)."""
        values, ncrn, nsrn = [], 0, 0
        sp = self.uc.reg_read(self.arm.UC_ARM_REG_SP)
        stack_offset = 0
        for t in params:
            if self.hard_float and t in ("f32", "f64"):
                if t == "f32":
                    values.append(struct.unpack("<f", struct.pack("<I", self.uc.reg_read(getattr(self.arm, f"UC_ARM_REG_S{nsrn}"))))[0])
                    nsrn += 1
                else:
                    nsrn += nsrn % 2
                    lo = self.uc.reg_read(getattr(self.arm, f"UC_ARM_REG_S{nsrn}"))
                    hi = self.uc.reg_read(getattr(self.arm, f"UC_ARM_REG_S{nsrn + 1}"))
                    values.append(struct.unpack("<d", struct.pack("<II", lo, hi))[0])
                    nsrn += 2
                continue
            wide = t in ("i64", "f64")
            if wide:
                ncrn += ncrn % 2
                if ncrn <= 2:
                    raw = self.uc.reg_read(self._reg(ncrn)) | (self.uc.reg_read(self._reg(ncrn + 1)) << 32)
                    ncrn += 2
                else:
                    ncrn = 4
                    stack_offset = (stack_offset + 7) & ~7
                    raw = struct.unpack("<Q", self.uc.mem_read(sp + stack_offset, 8))[0]
                    stack_offset += 8
            else:
                if ncrn < 4:
                    raw = self.uc.reg_read(self._reg(ncrn))
                    ncrn += 1
                else:
                    raw = struct.unpack("<I", self.uc.mem_read(sp + stack_offset, 4))[0]
                    stack_offset += 4
            values.append(_from_bits(t, raw))
        return values

    def _set_result(self, t: str, value) -> None:
        if self.hard_float and t == "f32":
            self.uc.reg_write(self.arm.UC_ARM_REG_S0, _to_bits("f32", value))
        elif self.hard_float and t == "f64":
            self.uc.reg_write(self.arm.UC_ARM_REG_D0, _to_bits("f64", value))
        else:
            raw = _to_bits(t, value)
            self.uc.reg_write(self.arm.UC_ARM_REG_R0, raw & 0xFFFFFFFF)
            if t in ("i64", "f64"):
                self.uc.reg_write(self.arm.UC_ARM_REG_R1, raw >> 32)

    def _on_code(self, uc, address, size, _user) -> None:
        if address == self.trap_address:
            self.outcome.trap = TRAP_NAMES.get(uc.reg_read(self.arm.UC_ARM_REG_R0), "unknown")
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
        sp = STACK_TOP - 64
        ncrn, nsrn, stack_words = 0, 0, []
        sret = None
        if len(results) > 1:  # the caller's result struct, below the top of the stack
            sret = STACK_TOP - 16 - (8 * len(results) + 7) // 8 * 8
            sp = sret - 64
            self.uc.reg_write(self._reg(0), sret)
            ncrn = 1
        for t, value in zip(params, args):
            if self.hard_float and t in ("f32", "f64"):
                if t == "f32":
                    self.uc.reg_write(getattr(self.arm, f"UC_ARM_REG_S{nsrn}"), _to_bits("f32", value))
                    nsrn += 1
                else:
                    nsrn += nsrn % 2
                    self.uc.reg_write(getattr(self.arm, f"UC_ARM_REG_D{nsrn // 2}"), _to_bits("f64", value))
                    nsrn += 2
                continue
            raw = _to_bits(t, value)
            if t in ("i64", "f64"):
                ncrn += ncrn % 2
                if ncrn <= 2:
                    self.uc.reg_write(self._reg(ncrn), raw & 0xFFFFFFFF)
                    self.uc.reg_write(self._reg(ncrn + 1), raw >> 32)
                    ncrn += 2
                else:
                    ncrn = 4
                    if len(stack_words) % 2:
                        stack_words.append(0)
                    stack_words += [raw & 0xFFFFFFFF, raw >> 32]
            elif ncrn < 4:
                self.uc.reg_write(self._reg(ncrn), raw)
                ncrn += 1
            else:
                stack_words.append(raw)
        sp -= 4 * len(stack_words)
        sp &= ~7
        if stack_words:
            self.uc.mem_write(sp, struct.pack(f"<{len(stack_words)}I", *stack_words))
        self.uc.reg_write(self.arm.UC_ARM_REG_SP, sp)
        self.uc.reg_write(self.arm.UC_ARM_REG_LR, RETURN_ADDRESS | 1)
        try:
            self.uc.emu_start(self.symbols[symbol] | 1, RETURN_ADDRESS, count=INSTRUCTION_LIMIT)
        except self.uc_mod.UcError as e:
            if self.outcome.trap is None:
                self.outcome.trap = f"cpu fault ({e})"
            return self.outcome
        if self.outcome.trap is not None:
            return self.outcome
        pc = self.uc.reg_read(self.arm.UC_ARM_REG_PC) & ~1
        if pc != RETURN_ADDRESS:
            raise EmulationError(f"`{symbol}` did not return within {INSTRUCTION_LIMIT} instructions")
        if sret is not None:
            self.outcome.results = _read_struct(self.uc, sret, results)
        elif results:
            t = results[0]
            if self.hard_float and t == "f32":
                raw = self.uc.reg_read(self.arm.UC_ARM_REG_S0)
            elif self.hard_float and t == "f64":
                raw = self.uc.reg_read(self.arm.UC_ARM_REG_S0) | (self.uc.reg_read(self.arm.UC_ARM_REG_S1) << 32)
            else:
                raw = self.uc.reg_read(self.arm.UC_ARM_REG_R0)
                if t in ("i64", "f64"):
                    raw |= self.uc.reg_read(self.arm.UC_ARM_REG_R1) << 32
            self.outcome.results = (_from_bits(t, raw),)
        return self.outcome


def _to_bits(t: str, value) -> int:
    if t == "i32":
        return int(value) & 0xFFFFFFFF
    if t == "i64":
        return int(value) & 0xFFFFFFFFFFFFFFFF
    if t == "f32":
        return struct.unpack("<I", struct.pack("<f", value))[0]
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def _from_bits(t: str, raw: int):
    """Values as wasmtime reports them: signed integers, Python floats."""
    if t == "i32":
        raw &= 0xFFFFFFFF
        return raw - (1 << 32) if raw >> 31 else raw
    if t == "i64":
        raw &= 0xFFFFFFFFFFFFFFFF
        return raw - (1 << 64) if raw >> 63 else raw
    if t == "f32":
        return struct.unpack("<f", struct.pack("<I", raw & 0xFFFFFFFF))[0]
    return struct.unpack("<d", struct.pack("<Q", raw & 0xFFFFFFFFFFFFFFFF))[0]


def _read_struct(uc, address: int, types: list[str]) -> tuple:
    values, offset = [], 0
    for t in types:
        size = 8 if t in ("i64", "f64") else 4
        offset = (offset + size - 1) // size * size
        raw = int.from_bytes(uc.mem_read(address + offset, size), "little")
        values.append(_from_bits(t, raw))
        offset += size
    return tuple(values)
