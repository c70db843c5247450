"""wasmelt: a Bazel-style build tool for MCU firmware made of WebAssembly components."""
