"""Which synth trusts its module's alignment hints: one whose every module was
compiled from C or Rust by the component stage (through dce and fuse), never
one with a module from elsewhere (.wasm, .wat), which may misalign a hinted
access as wasm allows."""

from __future__ import annotations

import json

C = '__attribute__((export_name("get"))) unsigned get(const unsigned *p) { return p[1]; }\n'
WAT = '(module (memory 1) (func (export "peek") (param i32) (result i32) (i32.load offset=2 (local.get 0))))\n'


def _synth_argvs(workspace) -> dict[str, list[str]]:
    actions = json.loads(workspace.run("aquery", "//app:all", "--output=json").out)
    return {a["owner"]: a["argv"] for a in actions if a["mnemonic"] == "Synth"}


def test_only_modules_compiled_from_c_or_rust_have_their_hints_trusted(workspace):
    workspace.write("app/get.c", C)
    workspace.write("app/peek.wat", WAT)
    workspace.write("app/BUILD.toml", """
        [[component]]
        name = "get"
        srcs = ["get.c"]

        [[component]]
        name = "peek"
        srcs = ["peek.wat"]

        [[dce]]
        name = "get_lean"
        src = ":get"

        [[synth]]
        name = "from_c"
        src = ":get_lean"
        cpu = "cortex-m0"

        [[synth]]
        name = "from_wat"
        src = ":peek"
        cpu = "cortex-m0"

        [[fuse]]
        name = "both"
        components = [":get", ":peek"]

        [[synth]]
        name = "mixed"
        src = ":both"
        cpu = "cortex-m0"

        [[fuse]]
        name = "c_only"
        components = [":get"]

        [[synth]]
        name = "fused_c"
        src = ":c_only"
        cpu = "cortex-m0"
    """)
    argvs = _synth_argvs(workspace)
    trusted = {owner.split(":")[1] for owner, argv in argvs.items() if "--natural-alignment" in argv}
    assert set(argvs) == {f"//app:{n}" for n in ("from_c", "from_wat", "mixed", "fused_c")}, argvs
    assert trusted == {"from_c", "fused_c"}, argvs
    run = workspace.run("build", "//app:from_c", "//app:from_wat")
    assert run.code == 0, run.err
