"""`wasmelt query` and `wasmelt graph` over a small graph."""


def _graph(ws):
    ws.write("a/BUILD.toml", '[[genrule]]\nname = "leaf"\nouts = ["l"]\ncmd = "echo > $(OUT)"\n')
    ws.write("b/BUILD.toml", """
[[genrule]]
name = "mid"
srcs = ["//a:leaf"]
outs = ["m"]
cmd = "cp $(SRCS) $(OUT)"

[[genrule]]
name = "top"
srcs = [":mid"]
outs = ["t"]
cmd = "cp $(SRCS) $(OUT)"
""")


def test_patterns(workspace):
    _graph(workspace)
    assert workspace.run("query", "//...").out.split() == ["//a:leaf", "//b:mid", "//b:top"]
    assert workspace.run("query", "//b:all").out.split() == ["//b:mid", "//b:top"]
    assert workspace.run("query", "//a:leaf").out.split() == ["//a:leaf"]


def test_deps_rdeps_somepath(workspace):
    _graph(workspace)
    assert workspace.run("query", "deps(//b:top)").out.split() == ["//a:leaf", "//b:mid", "//b:top"]
    assert workspace.run("query", "rdeps(//..., //a:leaf)").out.split() == ["//a:leaf", "//b:mid", "//b:top"]
    assert workspace.run("query", "somepath(//b:top, //a:leaf)").out.split() == ["//b:top", "//b:mid", "//a:leaf"]


def test_graph_dot_and_mermaid(workspace):
    _graph(workspace)
    dot = workspace.run("graph", "//b:top").out
    assert dot.startswith("digraph") and '"//b:top" -> "//b:mid"' in dot
    mermaid = workspace.run("graph", "//b:top", "--format", "mermaid").out
    assert mermaid.startswith("graph LR") and "-->" in mermaid


def test_relative_pattern_from_package_directory(workspace):
    _graph(workspace)
    run = workspace.run("query", ":all", cwd=workspace.root / "b")
    assert run.out.split() == ["//b:mid", "//b:top"]


def test_graph_svg_is_valid_svg_with_every_target_and_edge(workspace):
    import xml.etree.ElementTree as ET

    _graph(workspace)
    run = workspace.run("graph", "//b:top", "--format=svg")
    assert run.code == 0, run.err
    root = ET.fromstring(run.out)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and float(root.get("width")) > 0
    nodes = {g.get("id") for g in root.iter(f"{ns}g") if g.get("class") == "node"}
    assert nodes == {"//a:leaf", "//b:mid", "//b:top"}
    edges = sorted(p.find(f"{ns}title").text for p in root.iter(f"{ns}path") if p.find(f"{ns}title") is not None)
    assert edges == ["//b:mid -> //a:leaf", "//b:top -> //b:mid"]
    # dependents to the left of their dependencies
    x = {g.get("id"): float(g.find(f"{ns}rect").get("x")) for g in root.iter(f"{ns}g") if g.get("class") == "node"}
    assert x["//b:top"] < x["//b:mid"] < x["//a:leaf"]
