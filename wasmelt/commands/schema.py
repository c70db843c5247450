"""`wasmelt schema`: a JSON Schema of BUILD.toml made from the rule kinds' attribute models and
the [workspace] settings, so editors (taplo, Even Better TOML) validate and complete with it."""

from __future__ import annotations

import argparse
import json

SCHEMA_FILE = "build.schema.json"
EPILOG = f"""examples:
  wasmelt schema > {SCHEMA_FILE}
  wasmelt schema --output {SCHEMA_FILE}

Point an editor at it with a first line `#:schema ./{SCHEMA_FILE}` in BUILD.toml (taplo,
Even Better TOML), as `wasmelt init` writes; run it again after upgrading wasmelt."""


def add_parser(sub) -> None:
    s = sub.add_parser("schema", help="print a JSON Schema of BUILD.toml (every rule kind's attributes, [workspace])",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--output", "-o", metavar="FILE", help="write it to FILE instead of standard output")


def build_schema() -> dict:
    """The schema: one array of tables per rule kind, the [workspace] table, nothing else."""
    from wasmelt import rules  # noqa: F401  (registers every rule kind and its settings)
    from wasmelt.engine.registry import rule_kinds
    from wasmelt.engine.settings import setting_docs, settings_model

    defs: dict = {}
    properties: dict = {}
    for name, kind in sorted(rule_kinds().items()):
        schema = kind.schema.model_json_schema(ref_template="#/$defs/{model}", mode="validation")
        defs.update(schema.pop("$defs", {}))
        schema["title"] = name
        schema["description"] = kind.doc or f"a {name} target"
        defs[f"rule_{name}"] = schema
        properties[name] = {"type": "array", "description": kind.doc, "items": {"$ref": f"#/$defs/rule_{name}"}}
    workspace = settings_model().model_json_schema(ref_template="#/$defs/{model}")
    defs.update(workspace.pop("$defs", {}))
    for key, doc in setting_docs().items():
        if key in workspace.get("properties", {}):
            workspace["properties"][key]["description"] = doc
    workspace.update(title="workspace", description="settings of the workspace, in its root BUILD.toml")
    properties["workspace"] = workspace
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "wasmelt BUILD.toml",
            "description": "A wasmelt package: arrays of tables, one per rule kind ([[component]], [[synth]], ...); "
                           "the root BUILD.toml also has [workspace].",
            "type": "object", "properties": properties, "additionalProperties": False, "$defs": defs}


def run(args) -> int:
    text = json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        from pathlib import Path

        Path(args.output).write_text(text)
    else:
        print(text, end="")
    return 0
