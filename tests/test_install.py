"""A plain `pip install` of the checkout is enough to build, size and test an
app: every module the commands and stages import at run time is a dependency."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("wasmelt", "engine", "rules", "toolchains")


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def _imported_modules(folder: str) -> set[str]:
    found = set()
    for path in (REPO / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"wasmelt", "__future__"}


def test_every_third_party_import_is_a_declared_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    required = _requirement_names(project["dependencies"])
    remote = _requirement_names(project["optional-dependencies"]["remote"])
    owners = packages_distributions()
    missing = []
    for folder in PACKAGES:
        for module in sorted(_imported_modules(folder)):
            dists = {d.lower().replace("_", "-") for d in owners.get(module, [module])}
            allowed = required | remote if folder == "engine" else required
            if not dists & allowed:
                missing.append(f"{folder}/ imports `{module}` ({', '.join(sorted(dists))})")
    # The remote extra is the only optional one, and only the engine's remote/ uses it.
    assert missing == []


APP = {
    "BUILD.toml": '[workspace]\nname = "plain"\n',
    "app/BUILD.toml": """
        [[component]]
        name = "app"
        srcs = ["app.c"]

        [[component]]
        name = "lib"
        srcs = ["lib.wat"]

        [[fuse]]
        name = "fused"
        components = [":app", ":lib"]
        memory = "shared"
        address_rebase = true

        [[dce]]
        name = "lean"
        src = ":fused"
        roots = ["step"]

        [[synth]]
        name = "firmware"
        src = ":lean"
        cpu = "cortex-m4"

        [[firmware_test]]
        name = "firmware_test"
        firmware = ":firmware"
        cases = [{ call = "step", args = [3], expect = [9] }]
        random_cases = 20
    """,
    "app/app.c": """
        #include <stdint.h>
        __attribute__((import_module("lib"), import_name("scale"))) int32_t scale(int32_t x);
        static int32_t total;
        __attribute__((export_name("step"))) int32_t step(int32_t x) { total += scale(x); return total; }
    """,
    "app/lib.wat": """
        (module
          (func (export "scale") (param i32) (result i32)
            (i32.mul (local.get 0) (i32.const 3))))
    """,
}


def test_a_plain_install_builds_sizes_and_tests_a_c_and_wat_app(tmp_path):
    """A fresh venv (on the base interpreter, not the test suite's venv), a
    regular install of a copy of the checkout's package sources, and the
    commands a user runs, with PATH at the system's defaults plus the venv."""
    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "-z", "pyproject.toml", *PACKAGES], cwd=REPO,
                             capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, tracked):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    venv = tmp_path / "venv"
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base_python), "-m", "venv", "--system-site-packages", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", str(src)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    ws = tmp_path / "ws"
    for rel, text in APP.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(textwrap.dedent(text))
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "WASMELT_CACHE": str(tmp_path / "cache")}

    def wasmelt(*args):
        return subprocess.run([str(venv / "bin/wasmelt"), *args], cwd=ws, env=env, capture_output=True, text=True)

    test = wasmelt("test", "//...")
    assert test.returncode == 0, test.stdout + test.stderr
    assert "PASSED: //app:firmware_test" in test.stdout + test.stderr
    assert (ws / "wasmelt-out/app/firmware/firmware.o").read_bytes()[:4] == b"\x7fELF"
    size = wasmelt("size", "//app:firmware")
    assert size.returncode == 0, size.stderr
    assert re.search(r"^\s+step\s+\d+", size.stdout, re.M), size.stdout
    assert "Traceback" not in test.stderr + size.stderr
    where = subprocess.run([str(venv / "bin/python"), "-c", "import wasmelt.engine; print(wasmelt.engine.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(venv)), where  # a regular install, not the checkout


def test_the_checkout_on_sys_path_is_the_whole_package(tmp_path):
    """What the editable install (scripts/setup, a plain .pth) gives: only the
    checkout on sys.path, and wasmelt.engine, .rules and .toolchains found
    from its top-level directories, with wasmelt's spec still naming wasmelt/
    alone (the sandbox binds the directories specs name)."""
    import site

    # -S: no .pth runs; the dependencies' directories as plain entries, after the checkout
    probe = ("import sys; sys.path[:0] = sys.argv[1:]; "
             "import importlib.util, wasmelt.engine.labels, wasmelt.rules, wasmelt.toolchains; "
             "print(wasmelt.engine.labels.__file__); print(wasmelt.rules.__file__); print(wasmelt.toolchains.__file__); "
             "print(importlib.util.find_spec('wasmelt').submodule_search_locations)")
    run = subprocess.run([sys.executable, "-S", "-c", probe, str(REPO), *site.getsitepackages()], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(REPO / "engine/labels.py"), str(REPO / "rules/__init__.py"),
                                       str(REPO / "toolchains/__init__.py"), repr([str(REPO / "wasmelt")])]
