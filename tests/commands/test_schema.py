"""`wasmelt schema`: the JSON Schema of BUILD.toml, generated from the rule kinds' models,
accepts every BUILD.toml of the repository and `wasmelt init`'s, and rejects a misspelt key."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import jsonschema
import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "build.schema.json"
    run = subprocess.run([sys.executable, "-m", "wasmelt", "schema", "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    jsonschema.Draft202012Validator.check_schema(data)
    printed = subprocess.run([sys.executable, "-m", "wasmelt", "schema"], capture_output=True, text=True).stdout
    assert json.loads(printed) == data
    return jsonschema.Draft202012Validator(data)


def build_files():
    found = sorted(p for p in REPO.glob("examples/**/BUILD.toml"))
    return [REPO / "BUILD.toml", *found]


def test_every_build_file_of_the_repository_validates(schema):
    files = build_files()
    assert len(files) >= 4
    for path in files:
        errors = list(schema.iter_errors(tomllib.loads(path.read_text())))
        assert not errors, (path, [e.message for e in errors])


@pytest.mark.parametrize("text, needle", [
    ('[[synth]]\nname = "fw"\nsrc = ":lean"\ncpus = "cortex-m4"\n', "'cpus' was unexpected"),
    ('[[synth]]\nname = "fw"\nsrc = ":lean"\ncpu = "cortex-m5"\n', "'cortex-m5' is not one of"),
    ('[[sinth]]\nname = "fw"\n', "'sinth' was unexpected"),
    ('[workspace]\nsynth_c = "gcc"\n', "'synth_c' was unexpected"),
    ('[workspace]\nsynth_cc = "tcc"\n', "'tcc' is not one of"),
    ('[[firmware_test]]\nname = "t"\nfirmware = ":fw"\ncases = [{ call = "f", expct = [1] }]\n', "'expct' was unexpected"),
])
def test_a_typo_is_rejected(schema, text, needle):
    messages = [e.message for e in schema.iter_errors(tomllib.loads(text))]
    assert any(needle in m for m in messages), messages


def test_init_writes_the_schema_and_points_every_build_file_at_it(tmp_path, schema):
    run = subprocess.run([sys.executable, "-m", "wasmelt", "init", str(tmp_path / "w")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    written = json.loads((tmp_path / "w/build.schema.json").read_text())
    assert written == schema.schema
    for rel, hint in (("BUILD.toml", "./build.schema.json"), ("app/BUILD.toml", "../build.schema.json")):
        text = (tmp_path / "w" / rel).read_text()
        assert text.splitlines()[0] == f"#:schema {hint}"
        assert not list(schema.iter_errors(tomllib.loads(text)))
