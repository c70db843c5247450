"""Cortex-M Thumb in the unicorn emulator: the CPU model, the FPU, and
AAPCS (soft and hard float) for calling exports and answering import stubs;
loading, stubs and traps are emulator.py's."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .emulator import RETURN_ADDRESS, STACK_TOP, Machine, float_kind, from_bits, is_wide, read_struct, result_area, to_bits

CPU_MODELS = {"cortex-m0": "CORTEX_M0", "cortex-m0plus": "CORTEX_M0", "cortex-m3": "CORTEX_M3",
              "cortex-m4": "CORTEX_M4", "cortex-m4f": "CORTEX_M4", "cortex-m7": "CORTEX_M7",
              "cortex-m33": "CORTEX_M33"}


@dataclass
class ThumbMachine(Machine):
    RETURN_FILL = b"\x00\xbe"  # bkpt

    def _create(self, target):
        import unicorn
        from unicorn import arm_const

        self.arm = arm_const
        self.hard_float = target.hard_float
        uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(getattr(arm_const, f"UC_CPU_ARM_{CPU_MODELS[target.core]}"))
        if self.hard_float:
            # CPACR: full access to CP10/CP11, as firmware start-up code does.
            try:
                uc.reg_write(arm_const.UC_ARM_REG_C1_C0_2, 0xF << 20)
            except Exception:  # older unicorn: the register is not exposed; FPU is then on by default
                pass
        return uc

    def __post_init__(self):
        super().__post_init__()
        # Cores without unaligned access: a halfword or word access at an address it
        # does not divide faults (HardFault) on the part, which unicorn's model lets
        # through; the emulator faults them too, in RAM (where data lives).
        if self.target.armv6m:
            import unicorn

            for start, end in self.ram:
                self.uc.hook_add(unicorn.UC_HOOK_MEM_READ | unicorn.UC_HOOK_MEM_WRITE, self._on_access,
                                 begin=start, end=end - 1)

    def _on_access(self, uc, _access, address, size, _value, _user) -> None:
        if size > 1 and address % size and self.outcome is not None and self.outcome.trap is None:
            self.outcome.trap = f"cpu fault (unaligned {size}-byte access at {address:#x}: ARMv6-M has no unaligned access)"
            uc.emu_stop()

    def _trap_code(self) -> int:
        return self.uc.reg_read(self.arm.UC_ARM_REG_R0)

    def _pc(self) -> int:
        return self.uc.reg_read(self.arm.UC_ARM_REG_PC) & ~1

    # -- AAPCS ---------------------------------------------------------------

    def _reg(self, n: int) -> int:
        return getattr(self.arm, f"UC_ARM_REG_R{n}")

    def _args_in(self, params: list[str]) -> list:
        """Read arguments as the callee sees them (import stubs)."""
        values, ncrn, nsrn = [], 0, 0
        sp = self.uc.reg_read(self.arm.UC_ARM_REG_SP)
        stack_offset = 0
        for t in params:
            if self.hard_float and float_kind(t):
                if not is_wide(t):
                    values.append(from_bits(t, self.uc.reg_read(getattr(self.arm, f"UC_ARM_REG_S{nsrn}"))))
                    nsrn += 1
                else:
                    nsrn += nsrn % 2
                    lo = self.uc.reg_read(getattr(self.arm, f"UC_ARM_REG_S{nsrn}"))
                    hi = self.uc.reg_read(getattr(self.arm, f"UC_ARM_REG_S{nsrn + 1}"))
                    values.append(from_bits(t, lo | hi << 32))
                    nsrn += 2
                continue
            if is_wide(t):
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
            values.append(from_bits(t, raw))
        return values

    def _set_result(self, t: str, value) -> None:
        if self.hard_float and float_kind(t):
            self.uc.reg_write(self.arm.UC_ARM_REG_D0 if is_wide(t) else self.arm.UC_ARM_REG_S0, to_bits(t, value))
        else:
            raw = to_bits(t, value)
            self.uc.reg_write(self.arm.UC_ARM_REG_R0, raw & 0xFFFFFFFF)
            if is_wide(t):
                self.uc.reg_write(self.arm.UC_ARM_REG_R1, raw >> 32)

    def _enter(self, entry: int, params: list[str], results: list[str], args: list) -> tuple[int, int | None]:
        sp = STACK_TOP - 64
        ncrn, nsrn, stack_words = 0, 0, []
        sret = None
        if len(results) > 1 and not self._in_fpu_registers(results):  # the caller's struct, below the stack's top
            sret = result_area(results)
            sp = sret - 64
            self.uc.reg_write(self._reg(0), sret)
            ncrn = 1
        for t, value in zip(params, args):
            if self.hard_float and float_kind(t):
                if not is_wide(t):
                    self.uc.reg_write(getattr(self.arm, f"UC_ARM_REG_S{nsrn}"), to_bits(t, value))
                    nsrn += 1
                else:
                    nsrn += nsrn % 2
                    self.uc.reg_write(getattr(self.arm, f"UC_ARM_REG_D{nsrn // 2}"), to_bits(t, value))
                    nsrn += 2
                continue
            raw = to_bits(t, value)
            if is_wide(t):
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
        return entry | 1, sret

    def _in_fpu_registers(self, results: list[str]) -> bool:
        """Whether the lowering's struct of several results comes back in s0-s3 / d0-d3:
        under the hard-float ABI, a struct of at most four floats of one type (a
        homogeneous floating-point aggregate)."""
        kinds = {float_kind(t) for t in results}
        return self.hard_float and len(results) <= 4 and len(kinds) == 1 and None not in kinds

    def _results_out(self, results: list[str], sret: int | None) -> tuple:
        if sret is not None:
            return read_struct(self.uc, sret, results)
        if len(results) > 1:  # a homogeneous aggregate: s0, s1, ... (d0, d1, ... = s0-s1, s2-s3, ...)
            words = 2 if is_wide(results[0]) else 1
            regs = [self.uc.reg_read(getattr(self.arm, f"UC_ARM_REG_S{n}")) for n in range(words * len(results))]
            return tuple(from_bits(t, regs[i * words] | (regs[i * words + 1] << 32 if words == 2 else 0))
                         for i, t in enumerate(results))
        t = results[0]
        if self.hard_float and float_kind(t) and not is_wide(t):
            raw = self.uc.reg_read(self.arm.UC_ARM_REG_S0)
        elif self.hard_float and float_kind(t):
            raw = self.uc.reg_read(self.arm.UC_ARM_REG_S0) | (self.uc.reg_read(self.arm.UC_ARM_REG_S1) << 32)
        else:
            raw = self.uc.reg_read(self.arm.UC_ARM_REG_R0)
            if is_wide(t):
                raw |= self.uc.reg_read(self.arm.UC_ARM_REG_R1) << 32
        return (from_bits(t, raw),)
