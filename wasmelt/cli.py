"""The `wasmelt` console script: answers an up-to-date build from its record
(importing almost nothing), else registers the rule kinds and runs the
engine's command line."""

import sys


def main(argv=None) -> int:
    from wasmelt.engine.uptodate import try_null_build

    code = try_null_build(sys.argv[1:] if argv is None else list(argv))
    if code is not None:
        return code
    from wasmelt import rules  # noqa: F401  (registers every rule kind)
    from wasmelt.engine import cli

    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
