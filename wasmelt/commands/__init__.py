"""One module per command: `add_parser(subparsers)` and `run(args) -> int`;
wasmelt.main lists them with the phase each needs."""
