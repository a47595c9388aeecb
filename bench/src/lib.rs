//! The benchmarks are examples of this package (bench/README.md); it has no library code.
