//! The `wa` command.

fn main() {
    println!("wa {}", env!("CARGO_PKG_VERSION"));
}
