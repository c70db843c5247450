"""The size corpus builds and passes its known-answer tests through the CLI,
a wrong known answer fails, and the size benchmark measures real objects
(native and three wasmelt variants, instructions executed) on one library."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import size_bench  # noqa: E402

pytestmark = pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("wasm2c")),
                                reason="needs gcc-arm-none-eabi and wabt")


def _copy_library(workspace, name: str) -> None:
    shutil.copytree(BENCH / "corpus" / name, workspace.root / name)


def test_corpus_libraries_pass_their_known_answers_and_a_wrong_one_fails(workspace):
    for name in ("aes", "fixmath"):
        _copy_library(workspace, name)
    run = workspace.run("test", "//...")
    assert run.code == 0, run.err
    assert "PASSED: //aes:kat" in run.out and "PASSED: //fixmath:kat" in run.out
    assert "2 passed, 0 failed" in run.out

    build = workspace.root / "aes" / "BUILD.toml"
    build.write_text(build.read_text().replace("expect = [1774510296]", "expect = [1774510297]"))
    run = workspace.run("test", "//aes:kat")
    assert run.code != 0
    out = run.out + run.err
    assert "FAILED: //aes:kat" in out and "aes_kat(0)" in out and "1774510297" in out


def test_corpus_known_answers_hold_on_armv6m_with_trusted_alignment(workspace):
    """The corpus is C: on cortex-m0 its naturally hinted accesses are plain word
    accesses (docs/object-contract.md), which the emulator faults when misaligned."""
    for name in ("sha256", "frames"):
        _copy_library(workspace, name)
        build = workspace.root / name / "BUILD.toml"
        build.write_text(build.read_text().replace('cpu = "cortex-m4"', 'cpu = "cortex-m0"'))
    run = workspace.run("test", "//...")
    assert run.code == 0, run.out + run.err
    assert "PASSED: //sha256:kat" in run.out and "PASSED: //frames:kat" in run.out
    synths = workspace.run("aquery", "//sha256:all", "--output=json").out
    assert '"--natural-alignment"' in synths and '"cortex-m0"' in synths


def test_size_bench_measures_one_library_on_one_cpu(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WASMELT_CACHE", str(tmp_path / "cache"))
    result = size_bench.main(["--libs", "checksum", "--cpus", "cortex-m4", "--cycle-cpus", "cortex-m4",
                              "--work", str(tmp_path / "work"), "--json", str(tmp_path / "size.json")])
    [row] = result["rows"]
    assert (row["lib"], row["cpu"]) == ("checksum", "cortex-m4")
    assert row["native"]["text"] > 100
    for variant in ("zig", "gcc", "wasm2c"):
        assert row[variant]["text"] > 100, row
        assert row[variant]["ratio"] == pytest.approx(row[variant]["text"] / row["native"]["text"])
    # The linear memory is RAM wasmelt's object has and native's has not.
    assert row["zig"]["ram"] > row["native"]["ram"]
    [cycles] = result["cycles"]
    assert cycles["native"] > 10_000 and cycles["zig"] > 10_000  # 10000 bytes through four checksums
    assert cycles["ratio"] == pytest.approx(cycles["zig"] / cycles["native"])
    out = capsys.readouterr().out
    assert "| checksum | cortex-m4 |" in out and "| cortex-m4 |" in out
    assert (tmp_path / "size.json").exists()


def test_the_native_side_can_be_compiled_by_clang_with_extra_flags(tmp_path):
    """--native-cc / --native-copts change the denominator: on checksum, clang's
    -Os is larger than gcc's -Os (280 against 200 B), and its true -Oz is not."""
    lib = size_bench.corpus(["checksum"])[0]

    def native_text(cc: str, copts: list[str]) -> int:
        return size_bench.measure(tmp_path / cc / "-".join(copts), lib, "cortex-m4", [], cc, copts)["native"]["text"]

    gcc, clang, clang_oz = native_text("gcc", []), native_text("zig", []), native_text("zig", ["-Xclang", "-Oz"])
    assert clang > gcc and clang_oz < clang, (gcc, clang, clang_oz)


def test_size_bench_names_an_unknown_library():
    with pytest.raises(SystemExit, match="no corpus library nope; have: aes, checksum"):
        size_bench.main(["--libs", "nope", "--no-cycles"])


def test_the_generated_workspace_carries_variants_bounds_and_component_flags(tmp_path):
    import tomllib

    size_bench.write_workspace(tmp_path, size_bench.corpus(["aes"]), ["cortex-m0"], ["cortex-m4"], ["zig", "wasm2c"],
                               ["-Xclang", "-Oz"], "mask")
    build = tomllib.loads((tmp_path / "aes" / "BUILD.toml").read_text())
    assert build["component"][0]["copts"] == ["-Xclang", "-Oz"]
    assert {d["name"]: d["roots"] for d in build["dce"]} == {
        "api": ["aes128_init", "aes128_encrypt", "aes128_decrypt"],
        "all": ["aes128_init", "aes128_encrypt", "aes128_decrypt", "aes_kat"]}
    synths = {s["name"]: (s["src"], s["cpu"], s.get("toolchain"), s.get("cc"), s["bounds"]) for s in build["synth"]}
    assert synths == {"zig_cortex-m0": (":api", "cortex-m0", "builtin", "zig", "mask"),
                      "wasm2c_cortex-m0": (":api", "cortex-m0", "wasm2c", "gcc", "mask"),
                      "kat_cortex-m4": (":all", "cortex-m4", None, None, "mask")}
    assert (tmp_path / "aes" / "aes.c").read_bytes() == (BENCH / "corpus" / "aes" / "aes.c").read_bytes()



def test_the_default_work_folder_is_one_the_repository_workspace_skips():
    """The generated workspace has its own [workspace]: in a folder the
    repository's `//...` walks, it would break every build of the repository."""
    from wasmelt.engine.workspace import SKIPPED_DIRS

    assert size_bench.WORK.relative_to(BENCH.parent).parts[0] in SKIPPED_DIRS
