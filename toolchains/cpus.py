"""The CPUs `synth` targets, Arm Cortex-M (Thumb) and RV32 RISC-V: for each,
the compiler flags, the ELF an object for it must be, and its float ABI.

`CPUS` is every accepted `cpu` value; `cpu(name)` its `Cpu`. An alias such
as `esp32c3` is the part's ISA under its own name (the object says rv32imc).
`with_float_abi` names an FPU part's soft-float variant (`cortex-m7:soft`).
"""

from __future__ import annotations

from dataclasses import dataclass

ARM, RISCV = "arm", "riscv"
# ELF e_flags of RISC-V objects (psABI): compressed code, and the float ABI.
EF_RISCV_RVC = 0x1
EF_RISCV_FLOAT_ABI = 0x6
RISCV_FLOAT_ABI_FLAGS = {"ilp32": 0x0, "ilp32f": 0x2, "ilp32d": 0x4}


@dataclass(frozen=True)
class Cpu:
    name: str
    family: str  # ARM or RISCV
    isa: str  # Arm: the -mcpu core; RISC-V: the -march string
    hard_float: bool  # floats travel in FPU registers (eabihf, ilp32f/ilp32d)

    @property
    def core(self) -> str:
        """The part itself: a soft-float variant's name without `:soft`."""
        return self.name.removesuffix(SOFT)

    @property
    def abi(self) -> str:
        if self.family == ARM:
            return "eabihf" if self.hard_float else "eabi"
        return "ilp32d" if "d" in self.extensions else "ilp32f" if "f" in self.extensions else "ilp32"

    @property
    def extensions(self) -> str:
        """RISC-V single-letter extensions beyond the base I (m, a, f, d, c)."""
        return self.isa.removeprefix("rv32")[1:] if self.family == RISCV else ""

    @property
    def armv6m(self) -> bool:
        """Thumb-1 only (Cortex-M0/M0+): eight low registers, no unaligned access."""
        return self.family == ARM and self.isa in ("cortex-m0", "cortex-m0plus")

    @property
    def elf_machine(self) -> str:
        return "EM_ARM" if self.family == ARM else "EM_RISCV"

    @property
    def describe(self) -> str:
        return f"Arm {self.name} (Thumb, {self.abi})" if self.family == ARM else f"RISC-V {self.isa} ({self.abi})"

    def zig_flags(self) -> list[str]:
        if self.family == RISCV:
            # zig leaves linker relaxation off; gcc and clang have it on, and the
            # firmware link needs it to shrink calls and addresses.
            return ["-target", "riscv32-freestanding-none",
                    "-mcpu=" + "+".join(["generic_rv32", *self.extensions, "relax"])]
        # zig's CPU models carry no FPU: name it for the hard-float parts.
        mcpu = {"cortex-m4f": "cortex_m4+vfp4d16sp", "cortex-m7": "cortex_m7+fp_armv8d16sp"}.get(
            self.name, self.isa.replace("-", "_"))
        flags = ["-target", f"thumb-freestanding-{self.abi}", f"-mcpu={mcpu}"]
        if self.name in ("cortex-m4", *(n + SOFT for n in FPU_CPUS)):
            flags.append("-mfloat-abi=soft")
        return flags

    def gcc_flags(self) -> list[str]:
        if self.family == RISCV:
            return [f"-march={self.isa}", f"-mabi={self.abi}"]
        fpu = {"cortex-m4f": ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
               "cortex-m7": ["-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"]}.get(self.name, ["-mfloat-abi=soft"])
        return ["-mthumb", f"-mcpu={self.isa}", *fpu]

    def clang_flags(self) -> list[str]:
        if self.family == RISCV:
            return ["--target=riscv32-unknown-elf", f"-march={self.isa}", f"-mabi={self.abi}"]
        return [f"--target=thumbv7em-none-{self.abi}", f"-mcpu={self.isa}",
                *(["-mfloat-abi=soft"] if self.name.endswith(SOFT) else [])]

    def elf_flag_problem(self, e_flags: int) -> str | None:
        """Why an object's e_flags do not fit this CPU, or None."""
        if self.family != RISCV:
            return None
        abi = {v: k for k, v in RISCV_FLOAT_ABI_FLAGS.items()}.get(e_flags & EF_RISCV_FLOAT_ABI, "ilp32q")
        if abi != self.abi:
            return f"its float ABI is {abi}, not {self.abi}"
        if e_flags & EF_RISCV_RVC and "c" not in self.extensions:
            return "it uses compressed (C) instructions, which this CPU lacks"
        return None


SOFT = ":soft"


def _arm(name: str, isa: str, hard_float: bool = False) -> Cpu:
    return Cpu(name, ARM, isa, hard_float)


def _rv(name: str, isa: str) -> Cpu:
    return Cpu(name, RISCV, isa, "f" in isa.removeprefix("rv32"))


TABLE = {c.name: c for c in [
    _arm("cortex-m0", "cortex-m0"), _arm("cortex-m0plus", "cortex-m0plus"), _arm("cortex-m3", "cortex-m3"),
    _arm("cortex-m4", "cortex-m4"), _arm("cortex-m4f", "cortex-m4", True), _arm("cortex-m7", "cortex-m7", True),
    _arm("cortex-m33", "cortex-m33"),
    _rv("rv32i", "rv32i"), _rv("rv32im", "rv32im"), _rv("rv32imc", "rv32imc"), _rv("rv32imac", "rv32imac"),
    _rv("rv32imafc", "rv32imafc"), _rv("rv32gc", "rv32imafdc"),
    _rv("esp32c3", "rv32imc"),  # Espressif ESP32-C3: RV32IMC
]}
CPUS = tuple(TABLE)
FPU_CPUS = tuple(c.name for c in TABLE.values() if c.family == ARM and c.hard_float)
TABLE.update({n + SOFT: Cpu(n + SOFT, ARM, TABLE[n].isa, False) for n in FPU_CPUS})


def with_float_abi(name: str, float_abi: str | None) -> str:
    """The cpu a `synth` target's `float_abi` selects: `name`, or its soft-float
    variant; ValueError for a choice the part cannot take."""
    if float_abi is None:
        return name
    target = cpu(name)
    if target.family != ARM:
        raise ValueError(f"`float_abi` applies to Arm cpus; a RISC-V cpu's float ABI follows its isa "
                         f"({name} is {target.abi}): choose a cpu without `f` for ilp32")
    if float_abi == "hard" and not target.hard_float:
        raise ValueError(f"`float_abi = \"hard\"` needs an FPU, which {name} has not; the cpus with one: "
                         f"{', '.join(FPU_CPUS)} (or drop `float_abi`: {name} is soft-float)")
    return name + SOFT if float_abi == "soft" and target.hard_float else name


def cpu(name: str) -> Cpu:
    try:
        return TABLE[name]
    except KeyError:
        raise ValueError(f"unknown cpu `{name}`; known: {', '.join(CPUS)}") from None
