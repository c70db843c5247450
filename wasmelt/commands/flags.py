"""Every flag a building command takes, in one place, and what the remote flags
turn into; build, test, watch, release and size share them."""

from __future__ import annotations

import argparse


def seconds(text: str) -> float:
    """A positive number of seconds (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: '{text}'") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not '{text}'")
    return value


def jobs(text: str) -> int:
    """A positive number of jobs (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of jobs: '{text}' (a whole number, e.g. -j 4)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not '{text}'")
    return value


def build_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("patterns", nargs="*", help="labels or patterns: //pkg:name, //pkg/..., //pkg:all, :name (patterns skip targets tagged \"manual\")")
    p.add_argument("-j", "--jobs", type=jobs, default=None, help="actions to run at once (default: CPU cores)")
    p.add_argument("-k", "--keep_going", "--keep-going", action="store_true",
                   help="after a failure, go on building what does not depend on it")
    p.add_argument("-v", "--verbose", action="store_true", help="print cached actions and tool output")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary")
    p.add_argument("--action_timeout", type=seconds, default=600.0, help="seconds before an action is killed")
    p.add_argument("--progress", choices=["auto", "tty", "plain"], default="auto",
                   help="live status block on a terminal (auto), always (tty), or plain lines")
    p.add_argument("--build_event_json_file", metavar="FILE", help="write one JSON event per line (docs/build-events.md)")
    p.add_argument("--profile", metavar="FILE", help="write a Chrome trace (Perfetto, chrome://tracing) of the build")
    p.add_argument("--remote_cache", metavar="URL", help="shared cache: grpc://host:port (REAPI) or http://host/path (Bazel HTTP cache)")
    p.add_argument("--remote_executor", metavar="URL", help="run actions remotely over REAPI: grpc://host:port")
    p.add_argument("--remote_instance_name", default="", help="REAPI instance name")
    p.add_argument("--remote_header", action="append", default=[], metavar="NAME=VALUE",
                   help="header sent to the remote cache/executor (e.g. authorization); never logged")
    p.add_argument("--remote_timeout", type=seconds, default=60.0, help="seconds to wait for one remote cache call")
    p.add_argument("--sandbox", choices=["namespace", "directory", "none"], default=None,
                   help="how actions are contained: own namespaces seeing only their inputs (namespace, the "
                        "default on Linux; needs bubblewrap), a plain directory of their inputs (directory), "
                        "or as directory with the host's whole environment (none)")
    p.add_argument("--sandbox_debug", action="store_true",
                   help="keep a failed action's sandbox and print how to re-enter it")
    p.add_argument("--tls_certificate", metavar="FILE", help="CA certificates (PEM) that sign the remote's TLS certificate")
    p.add_argument("--tls_client_certificate", metavar="FILE", help="client certificate (PEM) for mutual TLS with the remote")
    p.add_argument("--tls_client_key", metavar="FILE", help="key (PEM) of --tls_client_certificate")


def test_flags(p: argparse.ArgumentParser) -> None:
    """The flags of running tests (test, and watch --test)."""
    p.add_argument("--test_output", choices=["summary", "errors", "all"], default="errors",
                   help="print test logs: never, for failures (default), or always")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--test_filter", metavar="GLOBS",
                   help="run only the cases whose name matches one of these comma-separated globs: a firmware_test "
                        "case is named by the export it calls (`tick`) and by its call (`tick(3)`)")
    p.add_argument("--test_timeout", type=seconds, metavar="SECONDS",
                   help="seconds before a test is killed and fails (default: --action_timeout)")
    p.add_argument("--nocache_test_results", action="store_true",
                   help="run the tests again even where a result for the same inputs is cached")


def remote(args):
    """The remote backend the flags ask for, or None."""
    if not (args.remote_cache or args.remote_executor):
        return None
    from wasmelt.engine.errors import ConfigError
    from wasmelt.engine.remote import connect

    headers = {}
    for item in args.remote_header:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--remote_header takes NAME=VALUE, got `{name}`")
        headers[name.strip().lower()] = value.strip()
    return connect(cache=args.remote_cache, executor=args.remote_executor,
                   instance_name=args.remote_instance_name, headers=headers, timeout=args.remote_timeout,
                   tls={"ca": args.tls_certificate, "cert": args.tls_client_certificate, "key": args.tls_client_key})
