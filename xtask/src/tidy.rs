//! House rules checked as tests.

#[cfg(test)]
mod tests {
    use crate::project_root;

    /// The README's library example is the compiled `examples/readme.rs` (minus its `//!` line),
    /// so the code a newcomer copies always builds.
    #[test]
    fn readme_library_example_is_the_compiled_one() {
        let root = project_root();
        let example = std::fs::read_to_string(root.join("crates/wa-client/examples/readme.rs"))
            .expect("crates/wa-client/examples/readme.rs");
        let body = example
            .split_once('\n')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
        let block = format!("```rust\n{}```", body);
        assert!(
            readme.contains(&block),
            "README.md's library example differs from crates/wa-client/examples/readme.rs: \
             copy the file (without its first line) into the README's ```rust block"
        );
    }
}
