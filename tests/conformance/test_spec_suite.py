"""A short subset of the WebAssembly core spec suite through the real pipeline
(prebuilt component -> builtin synth -> Thumb emulation): no wrong result;
`make conformance` runs every file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import spec_runner  # noqa: E402

pytestmark = pytest.mark.skipif(not spec_runner.SUITE.is_dir(), reason=f"no spec suite at {spec_runner.SUITE}")


def test_subset_has_no_wrong_result(tmp_path, capsys):
    code = spec_runner.main([*spec_runner.SUBSET, "--cache", str(tmp_path / "cache"),
                             "--json", str(tmp_path / "results.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines() if line.endswith("s") and ".wast" in line}
    assert set(lines) == set(spec_runner.SUBSET)
    total = next(line for line in out.splitlines() if line.startswith("TOTAL"))
    assert ", wrong 0," in total
    passed = int(total.split("passed ")[1].split(",")[0])
    assert passed > 2000, total  # the files really ran
    # A module declined that used to run is a lost capability, not a pass: each
    # file passes at least what the last whole-suite run recorded.
    results = {r["file"]: r for r in json.loads((tmp_path / "results.json").read_text())}
    fewer = {name: (results[name]["passed"], floor) for name, floor in recorded_passes().items()
             if name in results and results[name]["passed"] < floor}
    assert not fewer, f"fewer assertions pass than docs/conformance.md records (now, recorded): {fewer}"


def recorded_passes() -> dict[str, int]:
    """file -> passed, from the last table row of each file in docs/conformance.md."""
    passes = {}
    for line in (Path(__file__).parents[2] / "docs" / "conformance.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0].endswith(".wast") and cells[2].isdigit():
            passes[cells[0]] = int(cells[2])
    return passes


def test_the_recorded_table_covers_the_subset():
    assert set(spec_runner.SUBSET) <= set(recorded_passes())


def test_a_wrong_result_is_reported_and_fails(tmp_path, capsys):
    wast = tmp_path / "wrong.wast"
    wast.write_text('(module (func (export "one") (result i32) (i32.const 1)))\n'
                    '(assert_return (invoke "one") (i32.const 2))\n'
                    '(assert_return (invoke "one") (i32.const 1))\n'
                    '(assert_trap (invoke "one") "unreachable")\n')
    code = spec_runner.main([str(wast), "--cache", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 1
    assert "passed     1  wrong    2" in out
    assert "WRONG wrong.wast:2: one(): expected ['2'], got [1]" in out
    assert "WRONG wrong.wast:4: one(): expected trap unreachable, got returned [1]" in out


def test_nan_classes_and_exact_bits():
    assert spec_runner.matches({"type": "f32", "value": "nan:canonical"}, 0xFFC00000)
    assert not spec_runner.matches({"type": "f32", "value": "nan:canonical"}, 0x7FC00001)
    assert spec_runner.matches({"type": "f32", "value": "nan:arithmetic"}, 0x7FC00001)
    assert not spec_runner.matches({"type": "f32", "value": "nan:arithmetic"}, 0x7FA00000)  # signalling
    assert not spec_runner.matches({"type": "f64", "value": "nan:arithmetic"}, 0x7FF4000000000000)
    assert spec_runner.matches({"type": "f64", "value": "nan:canonical"}, 0x7FF8000000000000)
    assert not spec_runner.matches({"type": "f32", "value": "0"}, 0x80000000)  # -0.0 is not +0.0
    assert spec_runner.matches({"type": "i64", "value": "18446744073709551615"}, -1)
