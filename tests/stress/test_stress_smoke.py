"""A few seconds of `make stress` on every test run, so the long campaign
cannot rot: the script runs each campaign, prints its counts, and a failing
input is caught, saved and turns into a non-zero exit."""

from __future__ import annotations

import importlib.util
import random
import re
import subprocess
import sys

from conftest import REPO

SCRIPT = REPO / "stress" / "run.py"


def _module():
    spec = importlib.util.spec_from_file_location("wasmelt_stress_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_short_stress_run_survives_kills_and_fuzzes_every_campaign(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "5", "--smith", "4", "--seed", "11",
                           "--failures", str(tmp_path / "failures")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"kills survived: (\d+), fuzz inputs tried: (\d+), failures found: (\d+)", proc.stdout)
    assert m, proc.stdout
    assert int(m.group(1)) >= 1 and int(m.group(2)) > 0 and m.group(3) == "0"
    for campaign in ("BUILD.toml loader", "wasm decoder", "label parser"):
        assert re.search(rf"{campaign}: [1-9]\d* inputs", proc.stdout), proc.stdout
    assert re.search(r"server points: [1-9]\d* survived", proc.stdout), proc.stdout
    assert not (tmp_path / "failures").exists()


def test_a_failing_input_is_saved_and_fails_the_run(tmp_path, monkeypatch, capsys):
    stress = _module()

    def broken(data: bytes) -> None:
        if data.endswith(b":"):
            raise KeyError("the parser fell over")

    monkeypatch.setattr(stress, "label_check", broken)
    code = stress.main(["--only", "labels", "--seconds", "0.5", "--seed", "3", "--failures", str(tmp_path / "f")])
    out = capsys.readouterr()
    assert code == 1
    found = int(re.search(r"failures found: (\d+)", out.out).group(1))
    saved = sorted((tmp_path / "f").glob("labels-*.label"))
    assert found == len(saved) > 0
    assert all(p.read_bytes().endswith(b":") for p in saved)
    assert "KeyError: 'the parser fell over'" in (tmp_path / "f" / (saved[0].stem + ".txt")).read_text()
    assert "input saved to" in out.err
    assert stress.replay(saved[:3]) == 1  # still broken: the replay says so
    monkeypatch.undo()
    assert stress.replay(saved[:3]) == 0  # fixed


def test_mutated_build_files_are_still_text_the_loader_can_be_given():
    stress = _module()
    rng = random.Random(5)
    import tomllib

    seed = tomllib.loads((REPO / "examples/app/BUILD.toml").read_text())
    for _ in range(200):
        text = stress.toml_dumps(stress._mutate_structure(seed, rng))
        tomllib.loads(text)  # the structural mutator writes TOML; the loader then judges the content
