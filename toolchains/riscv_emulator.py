"""RV32 RISC-V in the unicorn emulator: the psABI integer calling convention
(ilp32) and its hardware floating-point variants (ilp32f, ilp32d) for calling
exports and answering import stubs; loading, stubs and traps are emulator.py's."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .emulator import (RETURN_ADDRESS, STACK_TOP, Machine, float_kind, from_bits, is_wide, read_struct, result_area,
                       struct_layout, to_bits)

ARG_REGS = 8  # a0-a7, fa0-fa7
NAN_BOX = 0xFFFFFFFF00000000  # a single in a 64-bit FP register
MSTATUS_FS = 0x6000  # the FPU's state: dirty, so F and D instructions run

# Where a value lives: ("x", n) is the 32-bit integer register a<n>, ("s", k) the
# 32-bit stack word at sp + k, ("f", n) the whole FP register fa<n>.
Place = tuple[str, int]


@dataclass
class RiscvMachine(Machine):
    RETURN_FILL = struct.pack("<I", 0x00100073)  # ebreak

    def _create(self, target):
        import unicorn
        from unicorn import riscv_const

        self.rv = riscv_const
        # The one RV32 model with F and D; the synth stage has checked that the
        # object needs no extension beyond its cpu's.
        uc = unicorn.Uc(unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV32)
        uc.ctl_set_cpu_model(riscv_const.UC_CPU_RISCV32_ANY)
        self.flen = 64 if "d" in target.extensions else 32 if "f" in target.extensions else 0
        if self.flen:
            uc.reg_write(riscv_const.UC_RISCV_REG_MSTATUS, uc.reg_read(riscv_const.UC_RISCV_REG_MSTATUS) | MSTATUS_FS)
        return uc

    def _x(self, n: int) -> int:
        return getattr(self.rv, f"UC_RISCV_REG_X{10 + n}")

    def _f(self, n: int) -> int:
        return getattr(self.rv, f"UC_RISCV_REG_F{10 + n}")

    def _trap_code(self) -> int:
        return self.uc.reg_read(self._x(0))

    def _pc(self) -> int:
        return self.uc.reg_read(self.rv.UC_RISCV_REG_PC)

    # -- the psABI -----------------------------------------------------------

    def _in_fpr(self, t: str) -> bool:
        kind = float_kind(t)
        return kind == "f32" and self.flen >= 32 or kind == "f64" and self.flen == 64

    def _locate(self, params: list[str], first_x: int = 0) -> tuple[list[list[Place]], int]:
        """Each argument's places, and the bytes of stack they take: floats in
        fa0-fa7 while the ABI has them and they last, everything else in
        a0-a7 by 32-bit words, a 64-bit value split between a7 and the stack
        when one register is left, then the stack (8-byte values aligned)."""
        nx, nf, stack, places = first_x, 0, 0, []
        for t in params:
            if self._in_fpr(t) and nf < ARG_REGS:
                places.append([("f", nf)])
                nf += 1
            elif not is_wide(t):
                places.append([("x", nx)] if nx < ARG_REGS else [("s", stack)])
                stack += 0 if nx < ARG_REGS else 4
                nx = min(nx + 1, ARG_REGS)
            elif nx < ARG_REGS - 1:
                places.append([("x", nx), ("x", nx + 1)])
                nx += 2
            elif nx == ARG_REGS - 1:
                places.append([("x", nx), ("s", stack)])
                nx, stack = ARG_REGS, stack + 4
            else:
                stack = (stack + 7) & ~7
                places.append([("s", stack), ("s", stack + 4)])
                stack += 8
        return places, stack

    def _result_places(self, results: list[str]) -> list[list[Place]] | None:
        """Where the results come back; None when in memory (the caller passes
        the address in a0). Several results are the lowering's C struct: two
        floats, or a float and a 32-bit integer, in FP (and integer) registers
        under ilp32f/d; up to 8 bytes in a0-a1; otherwise in memory."""
        if len(results) == 1:
            t = results[0]
            return [[("f", 0)]] if self._in_fpr(t) else [[("x", 0)]] if not is_wide(t) else [[("x", 0), ("x", 1)]]
        if len(results) == 2 and any(self._in_fpr(t) for t in results) and \
                all(self._in_fpr(t) or t == "i32" for t in results):
            nf = 0
            places = []
            for t in results:
                if self._in_fpr(t):
                    places.append([("f", nf)])
                    nf += 1
                else:
                    places.append([("x", 0)])
            return places
        offsets, size = struct_layout(results)
        if size > 8:
            return None
        return [[("x", off // 4 + i) for i in range(2 if is_wide(t) else 1)] for t, off in zip(results, offsets)]

    def _read(self, t: str, places: list[Place], sp: int):
        if places[0][0] == "f":
            raw = self.uc.reg_read(self._f(places[0][1]))
            return from_bits(t, raw if is_wide(t) else raw & 0xFFFFFFFF)
        raw = 0
        for i, (kind, n) in enumerate(places):
            word = self.uc.reg_read(self._x(n)) if kind == "x" else struct.unpack("<I", self.uc.mem_read(sp + n, 4))[0]
            raw |= (word & 0xFFFFFFFF) << (32 * i)
        return from_bits(t, raw)

    def _write(self, t: str, value, places: list[Place], sp: int) -> None:
        raw = to_bits(t, value)
        if places[0][0] == "f":
            # The emulated FPU has D, so a single is NaN-boxed, as the hardware keeps it.
            self.uc.reg_write(self._f(places[0][1]), raw if is_wide(t) else raw | NAN_BOX)
            return
        for i, (kind, n) in enumerate(places):
            word = (raw >> (32 * i)) & 0xFFFFFFFF
            if kind == "x":
                self.uc.reg_write(self._x(n), word)
            else:
                self.uc.mem_write(sp + n, struct.pack("<I", word))

    def _args_in(self, params: list[str]) -> list:
        sp = self.uc.reg_read(self.rv.UC_RISCV_REG_SP)
        places, _ = self._locate(params)
        return [self._read(t, p, sp) for t, p in zip(params, places)]

    def _set_result(self, t: str, value) -> None:
        self._write(t, value, self._result_places([t])[0], 0)

    def _enter(self, entry: int, params: list[str], results: list[str], args: list) -> tuple[int, int | None]:
        in_memory = None
        if results and self._result_places(results) is None:
            in_memory = result_area(results)
            self.uc.reg_write(self._x(0), in_memory)
        places, stack = self._locate(params, first_x=1 if in_memory is not None else 0)
        sp = ((in_memory or STACK_TOP) - 64 - stack) & ~15  # 16-byte aligned on entry
        for t, value, p in zip(params, args, places):
            self._write(t, value, p, sp)
        self.uc.reg_write(self.rv.UC_RISCV_REG_SP, sp)
        self.uc.reg_write(self.rv.UC_RISCV_REG_RA, RETURN_ADDRESS)
        return entry, in_memory

    def _results_out(self, results: list[str], in_memory: int | None) -> tuple:
        if in_memory is not None:
            return read_struct(self.uc, in_memory, results)
        return tuple(self._read(t, p, 0) for t, p in zip(results, self._result_places(results)))
