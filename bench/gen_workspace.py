"""Synthetic workspaces for benchmarking: one target graph shaped like a component
library, written as wasmelt BUILD.toml files, a build.ninja and Bazel BUILD genrules.

Each package holds 10 targets: 4 leaves (one source file each), 5 intermediates
(a local leaf or two plus up to 3 targets of earlier, nearby packages) and one
aggregator over the intermediates; every 50th aggregator also gathers up to 10
earlier aggregators. Every command is `cat <inputs> | cksum > <output>`, cheap
enough that the build tool's own overhead dominates, and its bytes are the same
whichever tool runs it. The leaf edit rewrites a source used by a handful of
targets; one widely used leaf's command carries a `: rev0` marker that the
BUILD-file edit bumps (its output bytes stay the same: early cutoff applies).

    python bench/gen_workspace.py DIR --targets 10000
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

PER_PACKAGE = 10
LEAVES = 4
MIDS = 5
LOOKBACK = 40  # cross-package deps reach this many packages back
NINJA_OUT = "ninja-out"
IGNORED = ("wasmelt-out", ".wasmelt", NINJA_OUT)  # what Bazel must not scan


@dataclass
class Target:
    name: str
    srcs: list[str]  # "file" (in package) or "//pkg:name"
    marked: bool = False  # carries the `: revN` marker


@dataclass
class Package:
    path: str
    targets: list[Target] = field(default_factory=list)


@dataclass(frozen=True)
class WorkspaceInfo:
    root: str
    targets: int
    packages: int
    edges: int  # dependency edges between targets
    leaf_source: str  # workspace-relative file the leaf edit rewrites (few dependents)
    marked_package: str  # package whose build file the BUILD edit changes
    marked_target: str


def package_path(i: int) -> str:
    return f"lib/g{i // 100:02d}/p{i:05d}"


def make_graph(n_targets: int, seed: int = 1) -> list[Package]:
    rng = random.Random(seed)
    n_packages = max(1, n_targets // PER_PACKAGE)
    packages: list[Package] = []
    for i in range(n_packages):
        pkg = Package(package_path(i))
        for k in range(LEAVES):
            pkg.targets.append(Target(f"leaf{k}", [f"s{k}.txt"]))
        for k in range(MIDS):
            srcs = [f":leaf{j}" for j in sorted(rng.sample(range(LEAVES), rng.randint(1, 2)))]
            if i:
                for _ in range(rng.randint(0, 3)):
                    q = rng.randint(max(0, i - LOOKBACK), i - 1)
                    dep = f"//{package_path(q)}:{rng.choice(['leaf0', 'leaf1', 'mid0', 'mid1', 'mid2', 'mid3', 'mid4'])}"
                    if dep not in srcs:
                        srcs.append(dep)
            pkg.targets.append(Target(f"mid{k}", srcs))
        agg = [f":mid{k}" for k in range(MIDS)]
        if i and i % 50 == 0:
            agg += [f"//{package_path(q)}:all" for q in range(max(0, i - 10), i)]
        pkg.targets.append(Target("all", agg))
        packages.append(pkg)
    packages[len(packages) // 2].targets[0].marked = True
    return packages


def _cmd(out_token: str, marked: bool, rev: int = 0) -> str:
    return f"cat $(SRCS) | cksum > {out_token}" + (f"; : rev{rev}" if marked else "")


def _q(s: str) -> str:
    return json.dumps(s)


def wasmelt_build_file(pkg: Package) -> str:
    lines = []
    for t in pkg.targets:
        lines += ["[[genrule]]", f"name = {_q(t.name)}",
                  "srcs = [" + ", ".join(_q(s) for s in t.srcs) + "]",
                  f"outs = [{_q(t.name + '.out')}]", f"cmd = {_q(_cmd('$(OUT)', t.marked))}", ""]
    return "\n".join(lines)


def bazel_build_file(pkg: Package) -> str:
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for t in pkg.targets:
        lines += ["genrule(", f"    name = {_q(t.name)},",
                  "    srcs = [" + ", ".join(_q(s) for s in t.srcs) + "],",
                  f"    outs = [{_q(t.name + '.out')}],", f"    cmd = {_q(_cmd('$@', t.marked))},", ")", ""]
    return "\n".join(lines)


def _ninja_path(pkg: str, item: str) -> str:
    if item.startswith("//"):
        other, name = item[2:].split(":")
        return f"{NINJA_OUT}/{other}/{name}.out"
    if item.startswith(":"):
        return f"{NINJA_OUT}/{pkg}/{item[1:]}.out"
    return f"{pkg}/{item}"


def ninja_file(packages: list[Package]) -> str:
    lines = ["ninja_required_version = 1.7", "",
             "rule gen", "  command = cat $in | cksum > $out$rev", "  description = GEN $out", ""]
    for pkg in packages:
        for t in pkg.targets:
            ins = " ".join(_ninja_path(pkg.path, s) for s in t.srcs)
            lines.append(f"build {NINJA_OUT}/{pkg.path}/{t.name}.out: gen {ins}")
            if t.marked:
                lines.append("  rev = ; : rev0")
    return "\n".join(lines) + "\n"


def generate(root: Path, n_targets: int, seed: int = 1) -> WorkspaceInfo:
    """Write the workspace under `root` (which must not hold an older one)."""
    packages = make_graph(n_targets, seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "BUILD.toml").write_text("[workspace]\n")
    (root / "WORKSPACE").write_text("")
    (root / ".bazelignore").write_text("\n".join(IGNORED) + "\n")
    edges = 0
    for pkg in packages:
        d = root / pkg.path
        d.mkdir(parents=True, exist_ok=True)
        (d / "BUILD.toml").write_text(wasmelt_build_file(pkg))
        (d / "BUILD").write_text(bazel_build_file(pkg))
        for t in pkg.targets:
            edges += sum(1 for s in t.srcs if s.startswith((":", "//")))
            for s in t.srcs:
                if not s.startswith((":", "//")):
                    (d / s).write_text(f"{pkg.path}/{s}\n")
    (root / "build.ninja").write_text(ninja_file(packages))
    marked = packages[len(packages) // 2]
    # leaf3 is never used across packages: its edit reruns a handful of actions.
    info = WorkspaceInfo(str(root), sum(len(p.targets) for p in packages), len(packages), edges,
                         f"{packages[-1].path}/s3.txt", marked.path, marked.targets[0].name)
    (root / "bench-workspace.json").write_text(json.dumps(asdict(info), indent=1))
    return info


def edit_leaf(info: WorkspaceInfo, rev: int) -> None:
    """Change the content of one leaf source (each rev gives new bytes)."""
    (Path(info.root) / info.leaf_source).write_text(f"{info.leaf_source} rev {rev}\n")


_REV = re.compile(r"; : rev\d+")


def edit_build_file(info: WorkspaceInfo, tool: str, rev: int) -> None:
    """Change one target's command in `tool`'s build file (its output bytes stay the same)."""
    root = Path(info.root)
    path = {"wasmelt": root / info.marked_package / "BUILD.toml",
            "bazel": root / info.marked_package / "BUILD",
            "ninja": root / "build.ninja"}[tool]
    text = path.read_text()
    new, n = _REV.subn(f"; : rev{rev}", text)
    if n != 1:
        raise RuntimeError(f"{path}: expected one rev marker, found {n}")
    path.write_text(new)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    info = generate(args.root, args.targets, args.seed)
    print(json.dumps(asdict(info), indent=1))


if __name__ == "__main__":
    main()
