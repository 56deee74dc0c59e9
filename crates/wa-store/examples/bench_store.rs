//! Decrypt-and-commit operations per second (placeholder; see below).
fn main() {}
