"""The stage drivers' exit contract when a Python module they import is missing."""

from __future__ import annotations

import sys

from wasmelt.toolchains import synth
from wasmelt.toolchains.stage import run_stage


def test_a_missing_module_names_the_package_to_install_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "elftools", None)
    monkeypatch.setitem(sys.modules, "elftools.elf", None)
    monkeypatch.setitem(sys.modules, "elftools.elf.elffile", None)
    assert run_stage(lambda: synth.elf_facts(b"")) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: this stage needs the Python module `elftools`, which is not installed: "
                          "`pip install pyelftools`")
    assert "Traceback" not in err


def test_a_module_whose_package_has_its_name(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wasmtime", None)

    def body():
        import wasmtime  # noqa: F401

    assert run_stage(body) == 1
    assert "`pip install wasmtime`" in capsys.readouterr().err
