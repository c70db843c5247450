"""The one decision: reuse an action's outputs or run it, with the reason.

It starts from seeds, the paths that may have changed since the trace's last
build: a cold process takes them from a stat pass over what that build
recorded (`stat_seeds`), the server from its watcher. No seed and the same
request: the whole build is reused without loading anything (`null_build`).
Otherwise each action is decided when its inputs' digests are known
(`decide`): an action no seed reaches keeps its recorded outputs; the others
compare key material with the trace, so an upstream output that came out the
same stops the rebuild (early cutoff by content keys).

The reason is what the build event log records and what `wasmelt explain`
prints. Import-light down to `decide` (os, sys): the null build runs it first.
"""

from __future__ import annotations

import os
import sys

NOTHING_CHANGED = "nothing changed since the last build"
UNTOUCHED = "nothing changed: no file it depends on was touched since the last build"

Stat = tuple[int, int, int] | None


def stat_of(path: str) -> Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def request_of(package: str, patterns: list[str]) -> str:
    """What a build was asked, as far as its result goes: the command's
    package, the patterns, PATH and the interpreter."""
    return "\0".join([package, os.environ.get("PATH", ""), sys.executable, sys.version, *patterns])


def stat_seeds(inputs: dict[str, Stat], root: str | None = None) -> list[str]:
    """A cold process's seeds: every path the last build recorded whose stat
    (size, mtime, inode; None for absent) is not what it was. Paths under
    `root` (the workspace) are stat'ed relative to it: shorter lookups for
    the kernel, ~15% of the pass."""
    stat = os.stat
    changed = []
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY) if root else None
    except OSError:
        fd = None
    prefix = root.rstrip(os.sep) + os.sep if fd is not None else None
    cut = len(prefix or "")
    for path, want in inputs.items():
        try:
            st = stat(path[cut:], dir_fd=fd) if prefix and path.startswith(prefix) else stat(path)
        except OSError:
            if want is not None:
                changed.append(path)
            continue
        if want is None or st.st_mtime_ns != want[1] or st.st_size != want[0] or st.st_ino != want[2]:
            changed.append(path)
    if fd is not None:
        os.close(fd)
    return changed


def null_build(records: str, request: str, seeds: list[str] | None = None, last=None,
               root: str | None = None) -> list | None:
    """The whole-build decision: with no seed (`seeds` None: a stat pass finds
    them) and the trace's last build asked the same and succeeded, every
    action is reused for NOTHING_CHANGED; the answer is recorded in the trace
    (unless its last build was already answered so) and its summary,
    [actions, [(label, [files])]], returned. None: decide per action.
    `last`: the trace's (build record, up to date) when the caller holds them
    (the server's memo), else they are read from the trace; `root`: the
    workspace's (see stat_seeds).

    Under the workspace lock, taken without waiting: while another build runs,
    the full path waits for it and says so."""
    import fcntl

    from .trace_log import last_build, mark_up_to_date

    try:
        lock = open(os.path.join(records, "lock"), "w")
    except OSError:
        return None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        build, up_to_date = last if last is not None else last_build(records)
        if build is None or build.get("request") != request or build.get("summary") is None:
            return None
        if seeds is None:
            if build.get("inputs") is None:
                return None  # recorded while a file was racy: decide by content
            seeds = stat_seeds(build["inputs"], root)
        if seeds:
            return None
        if not up_to_date:
            mark_up_to_date(records)
        return build["summary"]


def code_files() -> list[str]:
    """Every file of the wasmelt packages loaded in this process (their
    directories walked, so data files such as C runtimes count too), and those
    directories themselves (a new file changes the directory's mtime): a build
    depends on the code that decided it."""
    roots = set()
    for name, module in list(sys.modules.items()):
        if name == "wasmelt" or name.startswith("wasmelt."):
            path = getattr(module, "__file__", None)
            if path:
                roots.add(os.path.dirname(os.path.abspath(path)))
    found = []
    for root in sorted(roots):
        stack = [root]
        while stack:
            directory = stack.pop()
            found.append(directory)
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__" and entry.path not in roots:
                        stack.append(entry.path)
                elif entry.name.endswith((".py", ".c", ".h")):
                    found.append(entry.path)
    return sorted(set(found))


class Decision:
    """Reuse or run one action, and why (a plain class: this module is on the null-build path)."""

    __slots__ = ("reuse", "reason", "key", "material", "outputs", "log_digests", "from_trace", "executable")

    def __init__(self, reuse: bool, reason: str, key: str | None, material: dict | None,
                 outputs: dict[str, str] | None = None, log_digests: tuple[str, str] | None = None,
                 from_trace: bool = False, executable: frozenset[str] = frozenset()):
        self.reuse, self.reason, self.key, self.material = reuse, reason, key, material
        self.outputs = outputs  # what to put in place when reused: path -> digest
        self.log_digests = log_digests
        self.from_trace = from_trace  # reused on the trace's word: valid only for outputs already in place
        self.executable = executable  # reused outputs with the executable bit


def decide(action, inputs: dict[str, str], trace, store, *, use_cache: bool = True,
           trust_trace: bool = True) -> Decision:
    """Reuse or run `action` whose inputs have these digests.

    `trace`: the last build's records (engine.trace): an action whose key
    material is the one it last succeeded with gets the outputs it had (no
    key to hash, no action-cache read); `store`: the action cache."""
    from .actions import action_key

    material = action.key_material(inputs)
    last = trace.actions.get(action.id) if trace is not None else None
    if (use_cache and trust_trace and last is not None and last["status"] in ("executed", "cached")
            and last.get("outputs") is not None and last["material"] == material):
        return Decision(True, NOTHING_CHANGED, last["key"], material, last["outputs"], last.get("logs"), True,
                        frozenset(last.get("executable", ())))
    key = action_key(material)
    if use_cache:
        cached = store.get_action(key)
        if cached is not None and set(cached.outputs) <= {a.path for a in action.outputs}:
            if last is not None and last.get("key") == key:
                reason = NOTHING_CHANGED if last.get("status") in ("executed", "cached") else \
                    "same key as the last run, whose result is in the action cache"
            else:
                reason = "; ".join(changes(last, material)) + "; an earlier run with these inputs is in the action cache"
            return Decision(True, reason, key, material, cached.outputs, (cached.stdout, cached.stderr),
                            executable=cached.executable)
    if not use_cache:
        return Decision(False, "the cache is bypassed (a release check, or --nocache_test_results)", key, material)
    if last is not None and last.get("key") == key:
        return Decision(False, "key unchanged; the cached result was missing or damaged", key, material)
    return Decision(False, "; ".join(changes(last, material)), key, material)


def changes(last: dict | None, material: dict) -> list[str]:
    """What differs between the trace's record of an action and this key material."""
    if last is None or last.get("material") is None:
        return ["first build of this action (no earlier run recorded)"]
    before, after = last["material"], material
    lines = []
    for path in sorted(set(before["inputs"]) | set(after["inputs"])):
        a, b = before["inputs"].get(path), after["inputs"].get(path)
        if a != b:
            lines.append(f"input `{path}` " + ("added" if a is None else "removed" if b is None else f"changed ({a[:12]} -> {b[:12]})"))
    if before["argv"] != after["argv"]:
        for i, (x, y) in enumerate(zip(before["argv"], after["argv"])):
            if x != y:
                lines.append(f"argument {i} changed: `{x}` -> `{y}`")
        if len(before["argv"]) != len(after["argv"]):
            lines.append(f"command line length changed ({len(before['argv'])} -> {len(after['argv'])} arguments)")
    for name in sorted(set(before["tools"]) | set(after["tools"])):
        a, b = before["tools"].get(name), after["tools"].get(name)
        if a != b:
            lines.append(f"tool `{name}` changed: " + (f"{a[0]} ({a[1][:12]}) -> {b[0]} ({b[1][:12]})" if a and b else "added" if b else "removed"))
    if before["env"] != after["env"]:
        lines.append(f"environment changed: {before['env']} -> {after['env']}")
    if before["outputs"] != after["outputs"]:
        lines.append("declared outputs changed")
    return lines or ["the last run did not finish" if last.get("status") not in ("executed", "cached")
                     else "key unchanged; the cached result was missing or damaged"]


def examined(graph, seeds: list[str] | None, root: str, output_dir: str = "wasmelt-out") -> set[str] | None:
    """The ids of the actions the seeds (absolute paths) reach: those reading
    or writing one, and everything downstream of them. None when a seed is
    something the action graph cannot place (a BUILD.toml, a directory, a
    removed source, a file outside the workspace: a tool, wasmelt's code):
    then every action is decided by its key material."""
    if seeds is None:
        return None
    prefix = root.rstrip(os.sep) + os.sep
    out_prefix = prefix + output_dir + os.sep
    consumers, producer = graph.consumers, graph.producer
    hit: list[str] = []
    for path in seeds:
        if not path.startswith(prefix):
            return None
        rel = path[len(prefix):]
        readers = consumers.get(rel)
        if readers is not None:
            if not os.path.isfile(path):
                return None  # a source went away: the loader reports it
            hit.extend(readers)
            continue
        action = producer.get(rel)
        if action is not None:
            hit.append(action.id)
            continue
        inside_out = path.startswith(out_prefix) or path == out_prefix[:-1]
        if inside_out and os.path.basename(path).startswith(".tmp-"):
            continue  # an atomic write's temporary file
        try:
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            gone = not os.path.lexists(path)
        except OSError:
            return None
        if inside_out:
            if is_dir or gone:  # a directory of outputs (re)created, moved or removed: every output under it
                under = rel + os.sep
                hit.extend(a.id for out, a in producer.items() if out.startswith(under))
            continue  # else a file no action declares
        if is_dir or gone or os.path.basename(path) == "BUILD.toml":
            return None  # packages, targets or sources may have appeared or gone
        # Any other file: no action reads it and no package is defined by it.
    return graph.downstream(hit)


def untouched(graph, needed, examine: set[str], trace) -> "Untouched":
    """The needed actions (an ActionGraph.needed_set) no seed reaches, decided
    as one set: each keeps the outputs its last success recorded, no input
    hashed, no record made. `examine` (engine.rebuild.examined) and every action
    the trace holds no success for, with what depends on them, are decided one
    by one instead. Proportional to those: the rest are set operations."""
    ids = needed.id_set
    unsure = ids.difference(trace.actions)  # never recorded
    unsure |= ids & trace.failed  # its last record is a failure: no outputs vouched for
    return Untouched(needed, graph.downstream(unsure | (ids & examine)) & ids, trace)


class Untouched:
    """The needed actions reused as the trace recorded them, by id; `examined`:
    the others, decided one by one. Each one's Decision is made only when asked
    for (its record: a test's result, the event log, `-v`)."""

    __slots__ = ("examined", "_needed", "_trace")

    def __init__(self, needed, examined: set[str], trace):
        self.examined, self._needed, self._trace = examined, needed, trace

    def __contains__(self, action_id: str) -> bool:
        return action_id in self._needed.id_set and action_id not in self.examined

    def __len__(self) -> int:
        return len(self._needed.ids) - len(self.examined)

    def __iter__(self):
        examined = self.examined
        return (i for i in self._needed.ids if i not in examined)

    def decision(self, action_id: str) -> Decision:
        last = self._trace.actions[action_id]
        return Decision(True, UNTOUCHED, last["key"], last["material"], last["outputs"], last.get("logs"), True,
                        frozenset(last.get("executable", ())))
