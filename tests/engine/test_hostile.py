"""Hostile and careless input, through the CLI: actions that try to escape
their sandbox or forge the cache, outputs that are not files, bad BUILD.toml."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import processes_mentioning
from wasmelt.engine.sandbox import namespace_unavailable

needs_namespaces = pytest.mark.skipif(namespace_unavailable() is not None,
                                      reason=f"namespace sandbox unavailable: {namespace_unavailable()}")
# Run once per program that makes namespaces (wasmelt-sandbox, bwrap): both read the same mount plan.
each_launcher = pytest.mark.usefixtures("launcher")


def _gone(text: str) -> bool:
    for _ in range(100):  # SIGKILLed processes may take a moment to be reaped
        if not processes_mentioning(text):
            return True
        time.sleep(0.05)
    return False


def _entries(cache: Path) -> dict[str, dict]:
    """Action-cache entries by the first output they name."""
    found = {}
    for path in (cache / "ac").glob("*/*"):
        entry = json.loads(path.read_bytes())
        found[sorted(entry["result"]["outputs"])[0]] = {"path": path, "entry": entry}
    return found


# -- the sandbox: what an action can see and touch -----------------------------------

@needs_namespaces
@each_launcher
def test_an_action_reads_no_undeclared_file(workspace):
    secret = workspace.write("p/secret.txt", "secret\n")
    workspace.write("p/in.txt", "in\n")
    workspace.write("p/BUILD.toml", f"""
        [[genrule]]
        name = "rel"
        srcs = ["in.txt"]
        outs = ["o"]
        cmd = "cat ../../../ws/p/secret.txt > $(OUT)"  # from <cache>/sandbox/a-* (no tmpfs)

        [[genrule]]
        name = "abs"
        outs = ["o"]
        cmd = "cat {secret} > $(OUT)"

        [[genrule]]
        name = "home"
        outs = ["o"]
        cmd = "ls $$HOME/.bashrc {workspace.cache} {workspace.root} > $(OUT)"
    """)
    for target in ("rel", "abs", "home"):
        run = workspace.run("build", f"//p:{target}")
        assert run.code == 1 and "No such file or directory" in run.err, (target, run.err)
    assert not (workspace.root / "wasmelt-out/p/abs/o").exists()


ESCAPE = """
import ctypes, os, sys
out = open(sys.argv[2], "w")  # before: a chroot that works moves the working directory
def attempt(step):
    try:
        step()
    except OSError:
        pass
def chroot_out():  # the classic escape: a chroot below the working directory, then `..` past the root
    os.makedirs("x", exist_ok=True)
    os.chroot("x")
    for _ in range(40):
        os.chdir("..")
    os.chroot(".")
attempt(lambda: ctypes.CDLL(None).unshare(0x10000000 | 0x00020000))  # a user and mount namespace of its own
attempt(chroot_out)
out.write("reached\\n" if os.path.exists(sys.argv[1]) else "hidden\\n")
"""


@needs_namespaces
@each_launcher
def test_an_action_cannot_leave_its_root(workspace):
    workspace.write("p/escape.py", ESCAPE)
    workspace.write("p/BUILD.toml", f"""
        [[genrule]]
        name = "out"
        srcs = ["escape.py"]
        outs = ["o"]
        cmd = "{sys.executable} $(SRCS) {workspace.root / 'BUILD.toml'} $(OUT); rmdir x 2>/dev/null; true"
    """)
    run = workspace.run("build", "//p:out")
    assert run.code == 0, run.err
    assert workspace.read("wasmelt-out/p/out/o") == "hidden\n"


@needs_namespaces
@each_launcher
def test_an_action_cannot_write_sources_outputs_or_the_cache(workspace):
    notes = workspace.write("p/notes.txt", "notes\n")
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "victim"
        outs = ["v.txt"]
        cmd = "echo good > $(OUT)"
    """)
    assert workspace.run("build", "//p:victim").code == 0
    victim = workspace.root / "wasmelt-out/p/victim/v.txt"
    for i, target in enumerate((notes, victim, workspace.cache / "ac" / "planted", workspace.root / "p/in.txt")):
        workspace.write(f"evil{i}/BUILD.toml", f"""
            [[genrule]]
            name = "evil"
            outs = ["o"]
            cmd = "echo EVIL > {target} && touch $(OUT)"
        """)
        run = workspace.run("build", f"//evil{i}:evil")
        assert run.code == 1 and ("Read-only file system" in run.err or "nonexistent" in run.err), run.err
    # Writing into the action's own input is refused too (it is read-only).
    workspace.write("own/in.txt", "mine\n")
    workspace.write("own/BUILD.toml", """
        [[genrule]]
        name = "own"
        srcs = ["in.txt"]
        outs = ["o"]
        cmd = "echo EVIL > $(SRCS) && touch $(OUT)"
    """)
    run = workspace.run("build", "//own:own")
    assert run.code == 1 and "Read-only file system" in run.err, run.err
    assert workspace.read("own/in.txt") == "mine\n"
    assert notes.read_text() == "notes\n" and victim.read_text() == "good\n"
    assert not (workspace.root / "p/in.txt").exists()
    assert not (workspace.cache / "ac" / "planted").exists()
    assert workspace.run("build", "//p:victim").code == 0 and victim.read_text() == "good\n"
    assert workspace.run("cache", "verify").code == 0


def test_an_undeclared_file_in_the_working_directory_is_reported(workspace):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "s"\nouts = ["o"]\ncmd = "touch $(OUT) $(@D)/extra"\n')
    run = workspace.run("build", "//p:s")
    assert run.code == 1 and "wrote undeclared files `wasmelt-out/p/s/extra`" in run.err, run.err


@needs_namespaces
@each_launcher
def test_no_network_unless_the_target_asks(workspace):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')"
    try:
        for name, network in (("offline", "false"), ("online", "true")):
            workspace.write(f"{name}/BUILD.toml", f"""
                [[genrule]]
                name = "net"
                outs = ["o"]
                network = {network}
                cmd = "{sys.executable} -c \\"{probe}\\" > $(OUT)"
            """)
        run = workspace.run("build", "//offline:net")
        assert run.code == 1 and ("Connection refused" in run.err or "unreachable" in run.err), run.err
        run = workspace.run("build", "//online:net")
        assert run.code == 0, run.err
        assert workspace.read("wasmelt-out/online/net/o") == "connected\n"
    finally:
        listener.close()


@needs_namespaces
@each_launcher
def test_an_action_is_over_when_every_process_it_started_is_gone(workspace):
    # A background job holding the output pipe, a detached sleeper, and one
    # the timeout must take down with the shell that started it.
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "bg"
        outs = ["o"]
        cmd = "sleep 313.25 & (setsid sleep 313.5 &); echo done > $(OUT)"

        [[genrule]]
        name = "hang"
        outs = ["o"]
        cmd = "sh -c 'sleep 313.75'; touch $(OUT)"
    """)
    run = workspace.run("build", "//p:bg", timeout=120)  # waiting on the pipe would take 313 s
    assert run.code == 0, run.err
    assert _gone("sleep 313.25") and _gone("sleep 313.5")
    run = workspace.run("build", "//p:hang", "--action_timeout", "1", timeout=120)
    assert run.code == 1 and "timed out after 1s" in run.err, run.err
    assert _gone("sleep 313.75")


@needs_namespaces
@each_launcher
def test_sandbox_debug_keeps_the_failed_sandbox_and_says_how_to_enter_it(workspace):
    workspace.write("p/in.txt", "input bytes\n")
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "f"\nsrcs = ["in.txt"]\nouts = ["o"]\ncmd = "false"\n')
    run = workspace.run("build", "//p:f", "--sandbox_debug")
    assert run.code == 1 and "sandbox kept (--sandbox_debug): " in run.err, run.err
    kept = Path(run.err.split("sandbox kept (--sandbox_debug): ")[1].split("\n")[0])
    script = run.err.split("re-enter it with: sh ")[1].split("\n")[0]
    assert (kept / "p/in.txt").read_text() == "input bytes\n"
    inside = subprocess.run(["sh", script], input="cat p/in.txt; ls /; test -e " + str(workspace.root / "BUILD.toml")
                            + " && echo LEAK\n", capture_output=True, text=True, timeout=60)
    assert "input bytes" in inside.stdout and "LEAK" not in inside.stdout, inside
    run = workspace.run("build", "//p:f")
    assert "sandbox kept" not in run.err


def _tmpfs_dir(tmp_path: Path) -> Path:
    """A fresh directory on /dev/shm, to stand for $XDG_RUNTIME_DIR."""
    from wasmelt.engine.sandbox import _on_tmpfs, _tmpfs_mounts

    if not os.path.isdir("/dev/shm") or not _on_tmpfs("/dev/shm", _tmpfs_mounts()):
        pytest.skip("no tmpfs at /dev/shm")
    path = Path("/dev/shm") / f"wasmelt-test-{os.getpid()}-{tmp_path.name}"
    path.mkdir()
    return path


@pytest.mark.parametrize("mode", ["namespace", "directory"])
def test_sandboxes_live_on_a_private_tmpfs_and_a_killed_builds_are_swept(workspace, tmp_path, mode):
    import fcntl

    if mode == "namespace" and namespace_unavailable():
        pytest.skip(namespace_unavailable())
    runtime = _tmpfs_dir(tmp_path)
    try:
        base = runtime / f"wasmelt-{os.getuid()}"
        base.mkdir(mode=0o700)
        for name in ("pdead", "plive"):  # a killed build's directory, and a running one's
            (base / name / "a-x/p").mkdir(parents=True)
            (base / name / ".lock").touch()
        live = os.open(base / "plive/.lock", os.O_RDONLY)
        fcntl.flock(live, fcntl.LOCK_EX)
        workspace.write("p/BUILD.toml", '[[genrule]]\nname = "w"\nouts = ["o"]\ncmd = "pwd > $(OUT)"\n')
        run = workspace.run("build", "//p:w", f"--sandbox={mode}", env={"XDG_RUNTIME_DIR": str(runtime)})
        os.close(live)
        assert run.code == 0, run.err
        where = Path(workspace.read("wasmelt-out/p/w/o").strip())
        assert where.parent.parent == base and where.name.startswith("a-"), where
        assert not (base / "pdead").exists() and (base / "plive/a-x/p").is_dir()
        assert not where.exists()  # removed once the action was done
        assert sorted(p.name for p in base.iterdir() if p.name != "plive") == [where.parent.name]
        # A directory others can write to is not used: the sandbox goes under the cache.
        base.chmod(0o777)
        workspace.write("p/BUILD.toml", '[[genrule]]\nname = "w"\nouts = ["o"]\ncmd = "pwd > $(OUT); true"\n')
        run = workspace.run("build", "//p:w", f"--sandbox={mode}", env={"XDG_RUNTIME_DIR": str(runtime)})
        assert run.code == 0, run.err
        assert Path(workspace.read("wasmelt-out/p/w/o").strip()).parent == workspace.cache / "sandbox"
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def _no_bubblewrap(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sh").symlink_to(shutil.which("sh"))
    return {"PATH": str(bin_dir)}


def test_without_any_launcher_the_directory_sandbox_is_a_loud_fallback(workspace, tmp_path):
    env = {**_no_bubblewrap(tmp_path), "WASMELT_SANDBOX_LAUNCHER": "bwrap"}  # as where set-up built no launcher
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "echo hi > $(OUT)"\n'
                    '[[genrule]]\nname = "b"\nouts = ["o"]\ncmd = "echo ho > $(OUT)"\n')
    run = workspace.run("build", "//p:all", env=env)
    assert run.code == 0, run.err
    assert run.err.count("WARNING: sandbox: bubblewrap (`bwrap`) is not installed") == 1, run.err
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "echo new > $(OUT)"\n')
    run = workspace.run("build", "//p:a", "--sandbox=namespace", env=env)
    assert run.code == 1 and "--sandbox=namespace: bubblewrap (`bwrap`) is not installed" in run.err, run.err
    assert "Traceback" not in run.err


def test_without_bubblewrap_the_launcher_set_up_built_still_makes_namespaces(workspace, tmp_path):
    from wasmelt.engine.sandbox_probe import launcher_path, own_launcher

    assert launcher_path() == own_launcher(), \
        "scripts/setup builds engine/sandbox_launcher.c into the venv; see .venv/sandbox-build.log"
    workspace.write("p/BUILD.toml", f'[[genrule]]\nname = "a"\nouts = ["o"]\n'
                    f'cmd = "test -e {workspace.root}/BUILD.toml && echo LEAK > $(OUT) || echo hidden > $(OUT)"\n')
    run = workspace.run("build", "//p:a", "--sandbox=namespace", env=_no_bubblewrap(tmp_path))
    assert run.code == 0 and "WARNING" not in run.err, run.err
    assert workspace.read("wasmelt-out/p/a/o") == "hidden\n"


def test_a_launcher_that_cannot_make_namespaces_is_named_in_the_error(workspace):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "echo hi > $(OUT)"\n')
    run = workspace.run("build", "//p:a", "--sandbox=namespace", env={"WASMELT_SANDBOX_LAUNCHER": "false"})
    assert run.code == 1 and "Traceback" not in run.err, run.err
    assert "--sandbox=namespace: `false` cannot create namespaces here (exit 1)" in run.err, run.err


def test_the_launcher_refuses_what_it_does_not_know_in_one_line(tmp_path):
    from wasmelt.engine.sandbox_probe import own_launcher

    if not os.access(own_launcher(), os.X_OK):
        pytest.skip("scripts/setup built no wasmelt-sandbox here")
    for args, said in ((["--unshare-everything", "--", "true"], "unknown option --unshare-everything"),
                       (["--bind", "/usr"], "--bind needs an argument"), (["--unshare-all"], "no command given")):
        run = subprocess.run([own_launcher(), *args], cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert (run.returncode, run.stderr) == (1, f"wasmelt-sandbox: {said}\n"), (args, run)


def test_a_nested_wasmelt_fails_at_once(workspace):
    workspace.write("p/BUILD.toml", f"""
        [[genrule]]
        name = "inner"
        outs = ["o"]
        cmd = "echo x > $(OUT)"

        [[genrule]]
        name = "outer"
        outs = ["o"]
        cmd = "{sys.executable} -m wasmelt build //p:inner > $(OUT) 2>&1; echo exit=$$? >> $(OUT)"
    """)
    # Waiting for the outer build's lock would take until the 600 s action timeout.
    run = workspace.run("build", "//p:outer", timeout=120)
    assert run.code == 0, run.err
    said = workspace.read("wasmelt-out/p/outer/o")
    assert "ERROR: wasmelt cannot run inside an action of another wasmelt build" in said and "exit=2" in said


# -- outputs: regular files only, modes kept, paths normalised ----------------------

@pytest.mark.parametrize("make, why", [
    ("ln -s /etc/passwd $(OUT)", "is a symlink"),
    ("mkdir $(OUT)", "is a directory"),
    ("mkfifo $(OUT)", "not a regular file"),
    ("rmdir $(@D) && ln -s /etc $(@D)", "is not a plain directory (a symlink?)"),
])
def test_an_output_that_is_not_a_regular_file_is_refused(workspace, make, why):
    workspace.write("p/BUILD.toml", f'[[genrule]]\nname = "x"\nouts = ["passwd"]\ncmd = "{make}"\n')
    # The directory sandbox lets the action replace its output directory.
    run = workspace.run("build", "//p:x", "--sandbox=directory", timeout=120)
    assert run.code == 1 and why in run.err and "Traceback" not in run.err, run.err
    passwd = Path("/etc/passwd").read_bytes()
    assert not any(p.read_bytes() == passwd for p in (workspace.cache / "cas").glob("*/*"))
    assert not list((workspace.cache / "ac").glob("*/*"))


def test_executable_outputs_and_tools_stay_executable(workspace):
    tool = workspace.write("p/tool.sh", "#!/bin/sh\necho from-tool > \"$1\"\n")
    tool.chmod(0o755)
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "mk"
        outs = ["gen.sh"]
        cmd = "printf '#!/bin/sh\\\\necho generated > $$1\\\\n' > $(OUT); chmod +x $(OUT)"

        [[genrule]]
        name = "use_gen"
        tools = [":mk"]
        outs = ["o"]
        cmd = "$(location :mk) $(OUT)"

        [[genrule]]
        name = "use_src"
        tools = ["tool.sh"]
        outs = ["o"]
        cmd = "$(location tool.sh) $(OUT)"
    """)
    run = workspace.run("build", "//p:all")
    assert run.code == 0, run.err
    assert workspace.read("wasmelt-out/p/use_gen/o") == "generated\n"
    assert workspace.read("wasmelt-out/p/use_src/o") == "from-tool\n"
    gen = workspace.root / "wasmelt-out/p/mk/gen.sh"
    assert os.stat(gen).st_mode & 0o111
    assert workspace.run("clean").code == 0
    run = workspace.run("build", "//p:all")  # every output back from the cache, modes too
    assert run.code == 0 and run.counts["cached"] == 3, run.err
    assert os.stat(gen).st_mode & 0o111
    assert not os.stat(workspace.root / "wasmelt-out/p/use_gen/o").st_mode & 0o111


def test_output_paths_are_normalised_and_collisions_are_analysis_errors(workspace):
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "dots"
        outs = ["./x.txt", "a//b.txt"]
        cmd = "echo x > wasmelt-out/p/dots/x.txt; echo b > wasmelt-out/p/dots/a/b.txt"
    """)
    run = workspace.run("build", "//p:dots")
    assert run.code == 0, run.err
    assert workspace.read("wasmelt-out/p/dots/a/b.txt") == "b\n"
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "twice"\nouts = ["x", "./x"]\ncmd = "touch $(OUTS)"\n')
    run = workspace.run("build", "//p:twice")
    assert run.code == 2 and "lists the same file twice" in run.err, run.err
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "a"\nouts = ["x"]\ncmd = "touch $(OUT)"\n')
    workspace.write("p/a/BUILD.toml", '[[genrule]]\nname = "x"\nouts = ["y"]\ncmd = "touch $(OUT)"\n')
    run = workspace.run("build", "//...")
    assert run.code == 2 and "ERROR:" in run.err and "lies inside `wasmelt-out/p/a/x`" in run.err, run.err
    assert "//p:a" in run.err and "//p/a:x" in run.err
    for bad in ("../x", "/abs", "d/", "."):
        workspace.write("p/BUILD.toml", f'[[genrule]]\nname = "a"\nouts = ["{bad}"]\ncmd = "true"\n')
        run = workspace.run("build", "//p:a")
        assert run.code == 2 and "ERROR: p/BUILD.toml" in run.err and "Traceback" not in run.err, (bad, run.err)


# -- the store: entries bound to keys, damaged blobs repaired ----------------------

def test_an_entry_copied_under_another_key_is_refused_and_reported(workspace):
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "victim"
        outs = ["o"]
        cmd = "echo good > $(OUT)"

        [[genrule]]
        name = "evil"
        outs = ["o"]
        cmd = "echo EVIL > $(OUT)"
    """)
    assert workspace.run("build", "//p:all").code == 0
    entries = _entries(workspace.cache)
    victim, evil = entries["wasmelt-out/p/victim/o"], entries["wasmelt-out/p/evil/o"]
    shutil.copy(evil["path"], victim["path"])
    run = workspace.run("cache", "verify")
    assert run.code == 1 and "1 damaged" in run.out, run.out
    shutil.copy(evil["path"], victim["path"])  # again, and build from it
    assert workspace.run("clean").code == 0
    run = workspace.run("build", "//p:victim")
    assert run.code == 0 and run.counts["executed"] == 1, run.err
    assert workspace.read("wasmelt-out/p/victim/o") == "good\n"
    assert "damaged cache entry discarded" in run.err
    # A forged body under the right key fails its checksum just the same.
    entry = json.loads(victim["path"].read_bytes())
    entry["result"]["outputs"]["wasmelt-out/p/victim/o"] = evil["entry"]["result"]["outputs"]["wasmelt-out/p/evil/o"]
    victim["path"].write_text(json.dumps(entry))
    assert workspace.run("cache", "verify").code == 1
    assert workspace.run("cache", "verify").code == 0


def test_a_damaged_input_blob_is_repaired_from_its_output_in_the_same_build(workspace):
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "a"
        outs = ["a.txt"]
        cmd = "echo upstream > $(OUT)"

        [[genrule]]
        name = "b"
        srcs = [":a"]
        outs = ["b.txt"]
        cmd = "cat $(SRCS) > $(OUT)"
    """)
    assert workspace.run("build", "//p:b").code == 0
    entry = _entries(workspace.cache)["wasmelt-out/p/a/a.txt"]["entry"]
    digest = entry["result"]["outputs"]["wasmelt-out/p/a/a.txt"]
    blob = workspace.cache / "cas" / digest[:2] / digest[2:]
    blob.write_bytes(b"rotten\n")
    workspace.write("p/BUILD.toml", workspace.read("p/BUILD.toml").replace("cat $(SRCS)", "cat $(SRCS) $(SRCS)"))
    run = workspace.run("build", "//p:b")
    assert run.code == 0, run.err
    assert workspace.read("wasmelt-out/p/b/b.txt") == "upstream\nupstream\n"
    assert blob.read_bytes() == b"upstream\n"
    assert workspace.run("cache", "verify").code == 0


def test_outputs_are_stored_streaming(tmp_path):
    import tracemalloc

    from wasmelt.engine.actions import digest_bytes
    from wasmelt.engine.store import Store

    data = os.urandom(1 << 20) * 48  # 48 MiB
    (tmp_path / "big").write_bytes(data)
    expected = digest_bytes(data)
    del data
    store = Store(tmp_path / "cache")
    tracemalloc.start()
    digest, executable = store.put_output(tmp_path, "big")
    assert store.materialize(digest, tmp_path / "copy")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert digest == expected and not executable
    assert peak < 8 << 20, peak
    assert (tmp_path / "copy").stat().st_size == 48 << 20


# -- careless input: one ERROR line, never a traceback -------------------------------

def _one_error(run, *words: str, code: int = 2) -> None:
    assert run.code == code, (run.code, run.err)
    assert "Traceback" not in run.err and run.err.count("ERROR:") == 1, run.err
    for word in words:
        assert word in run.err, (word, run.err)


@pytest.mark.parametrize("body, words", [
    ('[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "tr\\u0000ue"\n', ["p/BUILD.toml", "`a`", "NUL byte"]),
    ('[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "true"\nenv = {A = "\\u0000"}\n', ["p/BUILD.toml", "NUL bytes"]),
    ('[[genrule]]\nname = "a"\nouts = ["o\\u0000"]\ncmd = "true"\n', ["p/BUILD.toml", "NUL bytes"]),
    ('[[genrule]]\nname = "a"\nsrcs = ["i\\u0000"]\nouts = ["o"]\ncmd = "true"\n', ["p/BUILD.toml", "NUL byte"]),
    ('[[genrule]]\nname = "a b"\nouts = ["o"]\ncmd = "true"\n', ["p/BUILD.toml", "invalid target name `a b`"]),
    ('[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "true"\nnetwork = "yes"\n', ["p/BUILD.toml", "`network`", "boolean"]),
    ('[[component]]\nname = "a"\nsrcs = ["a.c"]\nstack_size = "4096"\n', ["p/BUILD.toml", "`stack_size`"]),
    ('[[component]]\nname = "a"\nsrcs = ["a.c"]\nno_grow = "no"\n', ["p/BUILD.toml", "`no_grow`"]),
    ('[[component]]\nname = "a"\nsrcs = ["a.c"]\nmax_memory_pages = true\n', ["p/BUILD.toml", "`max_memory_pages`"]),
    ("[" + "a." * 20000 + "b]\n", ["p/BUILD.toml"]),
    ('[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "true"\nenv.' + "x." * 5000 + "y = 1\n", ["p/BUILD.toml", "`env.x`"]),
    ('[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "true"\n' + "x." * 5000 + "y = 1\n", ["p/BUILD.toml"]),
])
def test_bad_build_files_give_one_error(workspace, body, words):
    workspace.write("p/a.c", "int f(void) { return 1; }\n")
    (workspace.root / "p/BUILD.toml").write_text(body)
    _one_error(workspace.run("build", "//p:all"), *words)


def test_a_build_file_that_is_a_directory_or_a_symlink_loop(workspace):
    (workspace.root / "p/BUILD.toml").mkdir(parents=True)
    _one_error(workspace.run("build", "//p:all"), "p/BUILD.toml", "Is a directory")
    (workspace.root / "p/BUILD.toml").rmdir()
    (workspace.root / "p/BUILD.toml").symlink_to("BUILD.toml")
    _one_error(workspace.run("build", "//p:all"), "p/BUILD.toml", "symbolic links")


def test_a_cache_that_cannot_be_written(workspace, tmp_path):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "echo a > $(OUT)"\n')
    blocker = tmp_path / "cache-file"
    blocker.write_text("not a directory\n")
    run = workspace.run("build", "//p:a", env={"WASMELT_CACHE": str(blocker / "cache")})
    _one_error(run, str(blocker), "is a file where wasmelt needs a directory", code=1)
    if os.geteuid() == 0:
        return  # root writes through a read-only mode; a read-only mount would be needed
    ro = tmp_path / "ro-cache"
    ro.mkdir(mode=0o555)
    run = workspace.run("build", "//p:a", env={"WASMELT_CACHE": str(ro)})
    _one_error(run, str(ro), "WASMELT_CACHE", code=1)


def test_flags_naming_files_are_checked_before_the_build(workspace, tmp_path):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "echo a > $(OUT)"\n')
    for flag in ("--profile", "--build_event_json_file"):
        run = workspace.run("build", "//p:a", flag, str(tmp_path / "missing" / "x.json"))
        _one_error(run, flag, "does not exist")
        assert not (workspace.root / "wasmelt-out").exists()  # nothing ran
    for size in ("1e400", "-1G", "nan", "lots"):
        _one_error(workspace.run("cache", "gc", f"--max-size={size}"), "--max-size", size)


def test_a_deep_query_and_bad_release_manifests(workspace, tmp_path):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "echo a > $(OUT)"\n')
    _one_error(workspace.run("query", "deps(" * 500 + "//p:a" + ")" * 500), "nested too deeply")
    for manifest, word in (([1, 2], "JSON list"), ({"manifest_version": 1, "patterns": "//...", "artifacts": {},
                                                     "sources": {}}, "`patterns`"),
                           ({"manifest_version": 1, "patterns": ["//..."], "artifacts": [], "sources": {}},
                            "`artifacts`")):
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps(manifest))
        _one_error(workspace.run("verify", str(path)), str(path), word)


def test_remote_text_is_made_safe_for_a_terminal():
    from wasmelt.engine.sandbox import printable

    assert printable("bad\x1b[2J\x07 news\nnext") == "bad\\x1b[2J\\x07 news\nnext"


def test_a_remote_cache_that_trickles_is_cut_off_by_remote_timeout(workspace):
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def trickle(conn):
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                conn.sendall(b"x")
                stop.wait(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "a"\nouts = ["o"]\ncmd = "echo a > $(OUT)"\n')
    try:
        # Each byte comes well within the timeout; the whole answer would take 5.5 hours.
        run = workspace.run("build", "//p:a", f"--remote_cache=http://127.0.0.1:{listener.getsockname()[1]}",
                            "--remote_timeout=1", timeout=120)
    finally:
        stop.set()
        listener.close()
    assert run.code == 0 and run.counts["executed"] == 1, run.err
    assert "--remote_timeout" in run.err and "WARNING: remote:" in run.err, run.err


def test_a_huge_argument_list_is_a_clear_error(workspace):
    srcs = [f"s{i:05d}_{'x' * 200}.txt" for i in range(12000)]
    for name in srcs:
        (workspace.root / "p").mkdir(exist_ok=True)
        (workspace.root / "p" / name).write_text("")
    workspace.write("p/BUILD.toml", f'[[genrule]]\nname = "a"\nsrcs = {json.dumps(srcs)}\nouts = ["o"]\n'
                    'cmd = "touch $(OUT) $(SRCS)"\n')
    run = workspace.run("build", "//p:a", timeout=300)
    _one_error(run, "//p:a", "longer than the system allows", code=1)


@needs_namespaces
@each_launcher
def test_a_full_disk_is_one_error_and_leaves_the_cache_intact(workspace):
    # The cache on a 200 kB tmpfs of its own (a mount namespace of the test's).
    # The output (250 kB) cannot fit: sandboxes are on another tmpfs, the store is not.
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "small"\nouts = ["o"]\ncmd = "echo ok > $(OUT)"\n'
                    '[[genrule]]\nname = "big"\nouts = ["o"]\ncmd = "head -c 250000 /dev/zero > $(OUT)"\n')
    cache = workspace.root.parent / "small-cache"
    cache.mkdir()
    wasmelt = f"env WASMELT_CACHE={cache} {sys.executable} -m wasmelt"
    script = (f"{wasmelt} build //p:small >/dev/null 2>&1 && {wasmelt} build //p:big; echo big=$?; "
              f"{wasmelt} cache verify; echo verify=$?")
    proc = subprocess.run(["bwrap", "--bind", "/", "/", "--dev", "/dev", "--size", "200000", "--tmpfs", str(cache),
                           "--", "sh", "-c", script], cwd=workspace.root, capture_output=True, text=True, timeout=300)
    assert "ERROR: Genrule //p:big: no space left on the device" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "big=1" in proc.stdout, proc.stdout
    assert "0 damaged" in proc.stdout and "verify=0" in proc.stdout, proc.stdout


def test_a_link_left_in_the_working_directory_is_an_undeclared_file(workspace):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "s"\nouts = ["o"]\ncmd = "touch $(OUT); ln -s / root"\n')
    run = workspace.run("build", "//p:s")
    assert run.code == 1 and "wrote undeclared files `root`" in run.err, run.err


def test_only_sandbox_none_passes_the_whole_environment(workspace):
    workspace.write("p/BUILD.toml", '[[genrule]]\nname = "e"\nouts = ["o"]\ncmd = "echo [$$HOST_ONLY] > $(OUT)"\n')
    env = {"HOST_ONLY": "visible"}
    assert workspace.run("build", "//p:e", "--sandbox=directory", env=env).code == 0
    assert workspace.read("wasmelt-out/p/e/o") == "[]\n"
    workspace.run("clean", "--expunge")
    assert workspace.run("build", "//p:e", "--sandbox=none", env=env).code == 0
    assert workspace.read("wasmelt-out/p/e/o") == "[visible]\n"
