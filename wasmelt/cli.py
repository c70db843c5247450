"""The `wasmelt` console script: registers the rule kinds, then runs the
engine's command line."""

import sys


def main(argv=None) -> int:
    from wasmelt import rules  # noqa: F401  (registers every rule kind)
    from wasmelt.engine import cli

    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
