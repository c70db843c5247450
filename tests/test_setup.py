"""scripts/setup, the set-up behind `make demo`, `make test` and .ci/run: what
it finds missing, how it installs it, and the message when it cannot.

Each test runs a copy of the script with PATH limited to a directory of
stand-ins (rustc, id, sudo, apt-get), so the machine's own tools are out of
sight and nothing is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DEMO_PACKAGES = "rustc libstd-rust-dev-wasm32 lld-14"
TEST_PACKAGES = ("binaryen wabt gcc-arm-none-eabi libnewlib-arm-none-eabi ninja-build nginx bubblewrap chromium "
                 "gcc-riscv64-unknown-elf")


class Machine:
    """A checkout holding the script, and a bin directory standing in for the system."""

    def __init__(self, root: Path):
        self.root = root
        self.checkout = root / "checkout"
        (self.checkout / "scripts").mkdir(parents=True)
        shutil.copy2(REPO / "scripts/setup", self.checkout / "scripts/setup")
        shutil.copy2(REPO / "pyproject.toml", self.checkout / "pyproject.toml")
        self.bin = root / "bin"
        self.bin.mkdir()
        for name in ("env", "mkdir", "cp", "tail"):  # what the script and the stand-ins run besides them
            (self.bin / name).symlink_to(shutil.which(name))
        self.log = root / "calls.log"
        self.python = Path(sys.base_prefix) / "bin/python3"
        # An existing, current venv: these tests stop at the system packages.
        venv = self.checkout / ".venv"
        (venv / "bin").mkdir(parents=True)
        for name in ("python", "wasmelt"):
            self.tool(name, "exit 0", where=venv / "bin")
        os.utime(self.checkout / "pyproject.toml", (1, 1))
        for profile in ("demo", "test"):
            (venv / f".setup-{profile}").touch()
        self.uid(1000)

    def tool(self, name: str, body: str, where: Path | None = None) -> Path:
        path = (where or self.bin) / name
        path.write_text(f"#!/bin/bash\necho \"{name} $*\" >> {self.log}\n{body}\n")
        path.chmod(0o755)
        return path

    def uid(self, uid: int) -> None:
        self.tool("id", f"echo {uid}")

    def rustc(self, wasm32: bool, lld: bool) -> None:
        sysroot = self.root / "sysroot"
        (sysroot / "lib/rustlib/x86_64-unknown-linux-gnu/bin").mkdir(parents=True, exist_ok=True)
        if wasm32:
            (sysroot / "lib/rustlib/wasm32-unknown-unknown").mkdir(parents=True, exist_ok=True)
        if lld:
            self.tool("rust-lld", "exit 0", where=sysroot / "lib/rustlib/x86_64-unknown-linux-gnu/bin")
        self.tool("rustc", f'[ "$1" = --print ] && echo {sysroot}')

    def run(self, profile: str = "demo") -> subprocess.CompletedProcess:
        env = {"PATH": str(self.bin), "PYTHON": str(self.python), "HOME": str(self.root)}
        return subprocess.run(["/bin/bash", str(self.checkout / "scripts/setup"), profile], env=env,
                              capture_output=True, text=True, timeout=60)

    def calls(self, name: str) -> list[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line for line in lines if line.split(" ", 1)[0] == name]


@pytest.fixture
def machine(tmp_path) -> Machine:
    return Machine(tmp_path)


def _apt_that_installs(machine: Machine, wasm32_dir: Path) -> None:
    """apt-get that 'installs' the wasm32 standard library and rust-lld."""
    machine.tool("apt-get", f'[ "$DEBIAN_FRONTEND" = noninteractive ] || exit 9\n'
                            f'[ "$1" = install ] && mkdir -p {wasm32_dir} && cp {machine.bin}/id {machine.bin}/rust-lld\n'
                            'exit 0')


def test_without_root_or_sudo_it_stops_first_and_names_the_packages(machine):
    machine.rustc(wasm32=False, lld=False)  # like rustup's rustc without the wasm32 target
    machine.tool("apt-get", "exit 0")
    machine.tool("sudo", 'echo "sudo: a password is required" >&2; exit 1')
    (machine.checkout / ".venv/.setup-demo").unlink()  # it would install wasmelt next
    run = machine.run("demo")
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith("ERROR: wasmelt's set-up (demo) needs system packages that are not installed,\n"
                                 "and cannot install them itself: it does not run as root and sudo asks for a password.")
    assert f"    sudo apt-get install {DEMO_PACKAGES}\n" in run.stderr
    assert "`rustup target add wasm32-unknown-unknown`" in run.stderr
    assert machine.calls("apt-get") == []
    assert not (machine.checkout / ".venv/setup.log").exists()  # stopped before pip


def test_without_sudo_it_says_so(machine):
    machine.rustc(wasm32=False, lld=False)
    machine.tool("apt-get", "exit 0")
    run = machine.run("demo")
    assert run.returncode == 1
    assert "cannot install them itself: it does not run as root and there is no sudo." in run.stderr


def test_as_root_it_updates_then_installs_exactly_what_is_missing(machine):
    machine.rustc(wasm32=False, lld=False)
    machine.uid(0)
    _apt_that_installs(machine, machine.root / "sysroot/lib/rustlib/wasm32-unknown-unknown")
    run = machine.run("demo")
    assert run.returncode == 0, run.stderr
    assert machine.calls("apt-get") == [
        "apt-get update -qq",
        f"apt-get install -y -qq --no-install-recommends {DEMO_PACKAGES}",
    ]
    assert f"set-up: installing {DEMO_PACKAGES}" in run.stderr


def test_with_passwordless_sudo_it_installs_through_sudo(machine):
    machine.rustc(wasm32=False, lld=False)
    machine.tool("sudo", '[ "$1" = -n ] && exit 0\nexec "$@"')
    _apt_that_installs(machine, machine.root / "sysroot/lib/rustlib/wasm32-unknown-unknown")
    run = machine.run("demo")
    assert run.returncode == 0, run.stderr
    assert machine.calls("sudo")[1:] == [
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq",
        f"sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {DEMO_PACKAGES}",
    ]


def test_a_warm_machine_installs_nothing(machine):
    machine.rustc(wasm32=True, lld=True)
    machine.uid(0)
    machine.tool("apt-get", "exit 1")
    run = machine.run("demo")
    assert (run.returncode, run.stderr) == (0, "")
    assert machine.calls("apt-get") == []


def test_a_wasm32_rustc_without_rust_lld_needs_only_lld(machine):
    machine.rustc(wasm32=True, lld=False)
    machine.tool("apt-get", "exit 0")
    run = machine.run("demo")
    assert run.returncode == 1
    assert "    sudo apt-get install lld-14\n" in run.stderr


def test_the_test_profile_names_the_suites_packages_and_skips_those_present(machine):
    machine.rustc(wasm32=True, lld=True)
    machine.tool("apt-get", "exit 0")
    machine.tool("ninja", "exit 0")
    run = machine.run("test")
    assert run.returncode == 1
    present = {"ninja-build"} | ({"nginx"} if os.access("/usr/sbin/nginx", os.X_OK) else set())  # sbin: off PATH for users
    wanted = " ".join(p for p in TEST_PACKAGES.split() if p not in present)
    assert f"    sudo apt-get install {wanted}\n" in run.stderr
    assert "rustup" not in run.stderr  # the Rust toolchain is there


def test_without_apt_get_it_names_the_debian_packages_to_look_for(machine):
    machine.rustc(wasm32=False, lld=False)
    machine.uid(0)
    run = machine.run("demo")
    assert run.returncode == 1
    assert "there is no apt-get here" in run.stderr and DEMO_PACKAGES in run.stderr


def test_an_install_that_does_not_provide_the_tools_is_an_error(machine):
    machine.rustc(wasm32=False, lld=False)
    machine.uid(0)
    machine.tool("apt-get", "exit 0")
    run = machine.run("demo")
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1].startswith(f"ERROR: after installing {DEMO_PACKAGES}, set-up still cannot find")


def test_a_python_too_old_is_named(machine):
    machine.rustc(wasm32=True, lld=True)
    old = machine.tool("python3.9", 'if [ "$1" = -V ]; then echo "Python 3.9.2"; else exit 1; fi')
    run = subprocess.run(["/bin/bash", str(machine.checkout / "scripts/setup"), "demo"],
                         env={"PATH": str(machine.bin), "PYTHON": str(old)}, capture_output=True, text=True)
    assert run.returncode == 1
    assert "wasmelt needs Python >= 3.11" in run.stderr and "Python 3.9.2" in run.stderr


def test_the_makefile_and_ci_use_the_one_set_up():
    makefile = (REPO / "Makefile").read_text()
    assert "scripts/setup" in makefile
    ci = (REPO / ".ci/run").read_text()
    assert "apt-get" not in ci and "make test" in ci


# compat: a plain .pth for the editable install, not an import hook loaded at every start
PIP_FLAGS = "--disable-pip-version-check --config-settings editable_mode=compat"
# pip >= 25 first: its console-script wrapper no longer imports `re` at every command
PIP_UPGRADE = "python -m pip install --disable-pip-version-check pip>=25"
COMPILE = "python -m compileall -q -j 0 wasmelt engine rules toolchains"  # the checkout's bytecode, every set-up


def _fake_pip(machine: Machine, exit_code: int) -> None:
    """A venv whose pip logs its arguments and prints what setuptools prints."""
    for stamp in (machine.checkout / ".venv").glob(".setup-*"):
        stamp.unlink()
    machine.tool("python", 'echo "  BuildBackendWarning: Editable installation." >&2\n'
                           f'echo "pip failed on purpose" >&2\nexit {exit_code}', where=machine.checkout / ".venv/bin")
    machine.rustc(wasm32=True, lld=True)


def test_demo_installs_wasmelt_without_the_test_extras_and_keeps_pips_noise_in_a_log(machine):
    _fake_pip(machine, 0)
    run = machine.run("demo")
    assert (run.returncode, run.stdout) == (0, ""), run.stderr
    assert run.stderr == "set-up: installing wasmelt into .venv (pip's log: .venv/setup.log)\n"
    assert machine.calls("python") == [PIP_UPGRADE, f"python -m pip install {PIP_FLAGS} -e .", COMPILE]
    assert "BuildBackendWarning" in (machine.checkout / ".venv/setup.log").read_text()
    assert (machine.checkout / ".venv/.setup-demo").exists()
    again = machine.run("demo")  # current: nothing to do
    assert (again.returncode, again.stderr) == (0, "") and machine.calls("python")[3:] == [COMPILE]


def test_test_installs_the_test_extras(machine):
    _fake_pip(machine, 0)
    for tool in ("wasm-opt", "wasm2c", "ninja", "nginx", "bwrap", "chromium", "riscv64-unknown-elf-gcc"):
        machine.tool(tool, "exit 0")
    machine.tool("arm-none-eabi-gcc", f"echo {machine.bin}/id")  # -print-file-name=libc.a: found
    run = machine.run("test")
    assert run.returncode == 0, run.stderr
    assert machine.calls("python") == [PIP_UPGRADE, f"python -m pip install {PIP_FLAGS} -e .[test]", COMPILE]


def test_a_failing_pip_shows_its_log(machine):
    _fake_pip(machine, 1)
    run = machine.run("demo")
    assert run.returncode == 1
    assert "pip failed on purpose" in run.stderr
    assert run.stderr.rstrip().endswith("ERROR: pip could not install wasmelt into .venv; its full log is .venv/setup.log.")
    assert not (machine.checkout / ".venv/.setup-demo").exists()


def _client_source(machine: Machine, zig: str) -> None:
    """engine/client_native.c in the checkout, and a venv python whose `-m ziglang cc` runs `zig`
    (with the arguments after `cc`); pip's console script as the venv's `wasmelt`."""
    for name in ("head", "mv", "rm", "cmp", "touch", "chmod"):  # what install_client runs, and the zig stand-in
        (machine.bin / name).symlink_to(shutil.which(name))
    (machine.checkout / "engine").mkdir()
    (machine.checkout / "engine/client_native.c").write_text("int main(void) { return 0; }\n")
    machine.tool("python", f'if [ "$2" = ziglang ]; then shift 3; {zig}; fi', where=machine.checkout / ".venv/bin")
    machine.rustc(wasm32=True, lld=True)


ZIG_FAILS = 'echo "error: no C compiler here" >&2; exit 1'
ZIG_BUILDS = 'while [ "$1" != -o ]; do shift; done; echo native > "$2"; chmod +x "$2"'


def test_a_native_client_that_does_not_compile_is_said_once_and_tried_again_only_when_its_source_changes(machine):
    _client_source(machine, ZIG_FAILS)
    venv, source = machine.checkout / ".venv", machine.checkout / "engine/client_native.c"
    pips = (venv / "bin/wasmelt").read_text()
    said = ("set-up: the native client did not compile (see .venv/client-build.log); `wasmelt` is pip's Python "
            "script until engine/client_native.c changes\n")

    def compiles() -> int:
        return sum(call.startswith("python -m ziglang cc") for call in machine.calls("python"))

    first = machine.run("demo")
    assert (first.returncode, first.stderr) == (0, said)
    assert "no C compiler here" in (venv / "client-build.log").read_text()
    assert (venv / "bin/wasmelt").read_text() == pips and not (venv / "bin/wasmelt-python").exists()
    for _ in range(2):  # every later set-up (each `make test`): no compile, nothing said, pip's script in place
        again = machine.run("demo")
        assert (again.returncode, again.stderr) == (0, "") and compiles() == 1
        assert (venv / "bin/wasmelt").read_text() == pips and not (venv / "bin/wasmelt-python").exists()
    with open(source, "a") as f:  # an edit: tried again, and said again
        f.write("/* edited */\n")
    assert machine.run("demo").stderr == said and compiles() == 2
    (venv / ".wasmelt-client.failed").unlink()  # the remembered failure removed: tried again
    assert machine.run("demo").stderr == said and compiles() == 3
    machine.tool("python", f'if [ "$2" = ziglang ]; then shift 3; {ZIG_BUILDS}; fi', where=venv / "bin")
    with open(source, "a") as f:
        f.write("/* fixed */\n")
    fixed = machine.run("demo")
    assert (fixed.returncode, fixed.stderr) == (0, "") and compiles() == 4
    assert (venv / "bin/wasmelt").read_text() == "native\n" and (venv / "bin/wasmelt-python").read_text() == pips
    assert not (venv / ".wasmelt-client.failed").exists()


def test_a_new_install_tries_the_native_client_again(machine):
    """pip installing wasmelt again (pyproject.toml changed) may bring the compiler that was missing."""
    _client_source(machine, ZIG_FAILS)
    assert machine.run("demo").returncode == 0
    assert (machine.checkout / ".venv/.wasmelt-client.failed").exists()
    os.utime(machine.checkout / "pyproject.toml")  # newer than the set-up's stamp: pip runs again
    run = machine.run("demo")
    assert run.returncode == 0, run.stderr
    assert sum(call.startswith("python -m ziglang cc") for call in machine.calls("python")) == 2


def test_the_sandbox_launcher_is_built_beside_the_interpreter_and_a_failure_said_once(machine):
    _client_source(machine, ZIG_FAILS)
    venv, source = machine.checkout / ".venv", machine.checkout / "engine/sandbox_launcher.c"
    source.write_text("int main(void) { return 0; }\n")
    said = ("set-up: the sandbox launcher did not compile (see .venv/sandbox-build.log); bubblewrap runs the "
            "namespace sandbox until engine/sandbox_launcher.c changes\n")
    first = machine.run("demo")
    assert first.returncode == 0 and said in first.stderr, first.stderr
    assert not (venv / "bin/wasmelt-sandbox").exists()
    assert said not in machine.run("demo").stderr  # remembered: not tried, not said again
    machine.tool("python", f'if [ "$2" = ziglang ]; then shift 3; {ZIG_BUILDS}; fi', where=venv / "bin")
    with open(source, "a") as f:
        f.write("/* fixed */\n")
    fixed = machine.run("demo")
    assert (fixed.returncode, fixed.stderr) == (0, ""), fixed.stderr
    assert (venv / "bin/wasmelt-sandbox").read_text() == "native\n"
    compiles = sum(call.startswith("python -m ziglang cc") for call in machine.calls("python"))
    assert machine.run("demo").returncode == 0
    assert sum(call.startswith("python -m ziglang cc") for call in machine.calls("python")) == compiles  # current
