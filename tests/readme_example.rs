//! The README's "Using the guard" code block is `examples/embedding/app.rs` verbatim, so
//! the usage it documents is the usage that `cargo xtask test` compiles for wasm32.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The first ```` ```rust ```` block after `heading`.
fn first_rust_block_after(markdown: &str, heading: &str) -> Option<String> {
    let section = &markdown[markdown.find(heading)?..];
    let body = &section[section.find("```rust\n")? + "```rust\n".len()..];
    Some(body[..body.find("```")?].to_string())
}

#[test]
fn readme_usage_block_is_the_compiled_example() {
    let readme = read("README.md");
    let block = first_rust_block_after(&readme, "## Using the guard")
        .expect("README.md has a rust block under \"## Using the guard\"");
    assert_eq!(block, read("examples/embedding/app.rs"));
}
