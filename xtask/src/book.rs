//! `cargo xtask book`: fills the generated regions of the protocol book (`docs/protocol/*.md`)
//! from our own crates, so that every byte dump, node listing and table in the book is what the
//! code produces.
//!
//! A region is delimited in the Markdown by
//!
//! ```text
//! <!-- generated:NAME -->
//! ...replaced by the generator NAME...
//! <!-- /generated:NAME -->
//! ```
//!
//! Generators are plain functions (see [`generators`]) that call wa-binary, wa-crypto, wa-proto,
//! wa-media, wa-core and wa-sim with fixed seeds, keys and clocks, so their output is the same on
//! every run. `cargo xtask book --check` (and the `protocol_book_is_fresh` test) fails when a
//! region differs from what its generator produces now, when a region names no generator (or a
//! generator has no region), when the prose cites a test name that no longer exists, or when a
//! link between chapters points to a missing file or heading.

mod binary;
mod crypto;
mod md;
mod md_lid;
mod md_messages;
mod md_pairing;
mod md_receipts;
mod md_send;
mod md_sim;
mod media;
mod proto;
mod session;
mod signal;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::project_root;

/// Whether to rewrite the book or only compare it with what the generators produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Rewrite the chapters whose generated regions differ.
    Write,
    /// Fail if any generated region differs.
    Check,
}

/// A generator: the Markdown that goes between the region's markers.
type Generator = fn() -> Result<String, String>;

/// Every generator, by region name.
fn generators() -> Vec<(&'static str, Generator)> {
    let mut all: Vec<(&'static str, Generator)> = Vec::new();
    all.extend(session::GENERATORS);
    all.extend(crypto::GENERATORS);
    all.extend(binary::GENERATORS);
    all.extend(proto::GENERATORS);
    all.extend(media::GENERATORS);
    all.extend(md::GENERATORS);
    all.extend(md_messages::GENERATORS);
    all.extend(md_send::GENERATORS);
    all.extend(md_lid::GENERATORS);
    all.extend(md_pairing::GENERATORS);
    all.extend(md_receipts::GENERATORS);
    all.extend(md_sim::GENERATORS);
    all.extend(signal::GENERATORS);
    all.extend(store::GENERATORS);
    all
}

/// Regenerates (or checks) every generated region under `docs/protocol/`.
pub fn book(mode: Mode) -> Result<(), String> {
    let dir = project_root().join("docs/protocol");
    let mut registry: BTreeMap<&'static str, Generator> = BTreeMap::new();
    for (name, generator) in generators() {
        if registry.insert(name, generator).is_some() {
            return Err(format!("two book generators are named `{name}`"));
        }
    }
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|x| x == "md"))
        .collect();
    chapters.sort();

    let mut cache: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut used = BTreeSet::new();
    let mut stale = Vec::new();
    for path in &chapters {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let filled = fill(&text, path, &mut |name| {
            let Some((&key, generator)) = registry.get_key_value(name) else {
                return Err(format!("no book generator is named `{name}`"));
            };
            used.insert(key);
            if !cache.contains_key(key) {
                let body = generator().map_err(|e| format!("generator `{name}`: {e}"))?;
                cache.insert(key, body);
            }
            Ok(cache[key].clone())
        })?;
        if filled == text {
            continue;
        }
        match mode {
            Mode::Check => stale.push(relative(path)),
            Mode::Write => {
                std::fs::write(path, &filled).map_err(|e| format!("{}: {e}", path.display()))?;
                eprintln!("book: wrote {}", relative(path));
            }
        }
    }
    let unused: Vec<&str> = registry
        .keys()
        .filter(|name| !used.contains(*name))
        .copied()
        .collect();
    if !unused.is_empty() {
        return Err(format!(
            "book generators not used by any chapter: {}",
            unused.join(", ")
        ));
    }
    check_cited_tests(&chapters)?;
    check_links(&chapters)?;
    if !stale.is_empty() {
        return Err(format!(
            "the protocol book is stale: {}\nrun `cargo xtask book` and commit the result",
            stale.join(", ")
        ));
    }
    if mode == Mode::Write {
        eprintln!(
            "book: {} chapters, {} generated regions up to date",
            chapters.len(),
            used.len()
        );
    }
    Ok(())
}

/// Fails when the prose (outside generated regions) cites, in backticks, a test or function name
/// (an identifier with four or more underscores) that no `fn` in `crates/` or `xtask/` defines.
fn check_cited_tests(chapters: &[PathBuf]) -> Result<(), String> {
    let root = project_root();
    let mut defined = BTreeSet::new();
    let mut dirs = vec![root.join("crates"), root.join("xtask")];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for rest in text.split("fn ").skip(1) {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    defined.insert(name);
                }
            }
        }
    }
    let mut missing = Vec::new();
    for path in chapters {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut in_region = false;
        for line in text.lines() {
            if marker(line, "generated:").is_some() {
                in_region = true;
            } else if marker(line, "/generated:").is_some() {
                in_region = false;
            } else if !in_region {
                for name in line.split('`').skip(1).step_by(2) {
                    let cited = name.matches('_').count() >= 4
                        && name
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if cited && !defined.contains(name) {
                        missing.push(format!("{} cites `{name}`", relative(path)));
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the protocol book cites tests that do not exist (renamed?):\n  {}",
            missing.join("\n  ")
        ))
    }
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Fails when a relative link between chapters names a missing file or heading.
fn check_links(chapters: &[PathBuf]) -> Result<(), String> {
    let mut anchors: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in chapters {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut in_code = false;
        let mut slugs = BTreeSet::new();
        for line in text.lines() {
            if line.starts_with("```") {
                in_code = !in_code;
            } else if !in_code && line.starts_with('#') {
                slugs.insert(slug(line.trim_start_matches('#')));
            }
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        anchors.insert(name, slugs);
    }
    let mut broken = Vec::new();
    for path in chapters {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for piece in text.split("](").skip(1) {
            let Some(target) = piece.split(')').next() else {
                continue;
            };
            if target.contains("://") || target.contains(' ') {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let file = if file.is_empty() { name.as_str() } else { file };
            match anchors.get(file) {
                None => broken.push(format!("{}: link to missing {target}", relative(path))),
                Some(slugs) if !anchor.is_empty() && !slugs.contains(anchor) => {
                    broken.push(format!(
                        "{}: link to missing heading {target}",
                        relative(path)
                    ));
                }
                Some(_) => {}
            }
        }
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "broken links in the protocol book:\n  {}",
            broken.join("\n  ")
        ))
    }
}

fn relative(path: &Path) -> String {
    let root = project_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Replaces the body of every generated region of `text` with `generate(name)`.
fn fill(
    text: &str,
    path: &Path,
    generate: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split_inclusive('\n').enumerate();
    while let Some((number, line)) = lines.next() {
        out.push_str(line);
        let Some(name) = marker(line, "generated:") else {
            if marker(line, "/generated:").is_some() {
                return Err(format!(
                    "{}:{}: end marker without a start marker",
                    relative(path),
                    number + 1
                ));
            }
            continue;
        };
        let end = format!("<!-- /generated:{name} -->");
        let mut closed = None;
        for (_, inner) in lines.by_ref() {
            if inner.trim() == end {
                closed = Some(inner);
                break;
            }
            if marker(inner, "generated:").is_some() {
                break;
            }
        }
        let Some(end_line) = closed else {
            return Err(format!(
                "{}:{}: region `{name}` has no `{end}` before the next region or the end",
                relative(path),
                number + 1
            ));
        };
        let body = generate(name).map_err(|e| format!("{}:{}: {e}", relative(path), number + 1))?;
        out.push('\n');
        out.push_str(body.trim());
        out.push_str("\n\n");
        out.push_str(end_line);
    }
    Ok(out)
}

/// The region name of a `<!-- {prefix}NAME -->` line.
fn marker<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let inner = line.trim().strip_prefix("<!-- ")?.strip_suffix(" -->")?;
    let name = inner.strip_prefix(prefix)?;
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then_some(name)
}

// ----- formatting helpers shared by the generators ------------------------------------------

/// Lowercase hex without separators.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Lowercase hex, one space between bytes.
pub(crate) fn hex_spaced(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(" ")
}

/// A fenced code block.
pub(crate) fn fenced(lang: &str, body: &str) -> String {
    format!("```{lang}\n{}\n```", body.trim_end())
}

/// An annotated hex dump: offset, up to 16 bytes per line, and what the bytes mean.
#[derive(Default)]
pub(crate) struct Dump {
    rows: Vec<(usize, String, String)>,
    offset: usize,
}

/// Bytes shown per dump line.
const DUMP_WIDTH: usize = 16;

impl Dump {
    pub(crate) fn new() -> Dump {
        Dump::default()
    }

    /// Appends `bytes` (wrapped every 16) with `meaning` on their first line.
    pub(crate) fn add(&mut self, bytes: &[u8], meaning: impl Into<String>) {
        let mut meaning = Some(meaning.into());
        if bytes.is_empty() {
            self.rows
                .push((self.offset, String::new(), meaning.unwrap_or_default()));
            return;
        }
        for chunk in bytes.chunks(DUMP_WIDTH) {
            self.rows.push((
                self.offset,
                hex_spaced(chunk),
                meaning.take().unwrap_or_default(),
            ));
            self.offset += chunk.len();
        }
    }

    /// The dump as text lines.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for (offset, bytes, meaning) in &self.rows {
            let line = format!("{offset:04x}  {bytes:<47}  {meaning}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A Markdown table.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!(
        "|{}\n",
        header.iter().map(|_| "---|").collect::<String>()
    ));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Mode, book, fill, marker};
    use std::path::Path;

    #[test]
    fn protocol_book_is_fresh() {
        if let Err(message) = book(Mode::Check) {
            panic!("{message}");
        }
    }

    #[test]
    fn regions_are_replaced_between_their_markers_only() {
        let text = "a\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nb\n";
        let out = fill(text, Path::new("t.md"), &mut |name| {
            Ok(format!("new {name}"))
        })
        .unwrap();
        assert_eq!(
            out,
            "a\n<!-- generated:x -->\n\nnew x\n\n<!-- /generated:x -->\nb\n"
        );
        let again = fill(&out, Path::new("t.md"), &mut |name| {
            Ok(format!("new {name}"))
        })
        .unwrap();
        assert_eq!(again, out, "filling is idempotent");
    }

    #[test]
    fn every_generator_gives_the_same_output_twice() {
        for (name, generator) in super::generators() {
            let first = generator().unwrap_or_else(|e| panic!("{name}: {e}"));
            let second = generator().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(first, second, "generator `{name}` is not deterministic");
        }
    }

    #[test]
    fn headings_slug_like_github() {
        assert_eq!(
            super::slug(" `reref`: a new QR code"),
            "reref-a-new-qr-code"
        );
        assert_eq!(
            super::slug(" Flag bit 7 means \"expects a response\""),
            "flag-bit-7-means-expects-a-response"
        );
        assert_eq!(
            super::slug(" LIST_16 carries a 16-bit size"),
            "list_16-carries-a-16-bit-size"
        );
    }

    #[test]
    fn unclosed_and_stray_markers_are_errors() {
        let unclosed = "<!-- generated:x -->\nold\n";
        let error = fill(unclosed, Path::new("t.md"), &mut |_| Ok(String::new())).unwrap_err();
        assert!(
            error.contains("t.md:1") && error.contains("/generated:x"),
            "{error}"
        );
        let stray = "text\n<!-- /generated:x -->\n";
        let error = fill(stray, Path::new("t.md"), &mut |_| Ok(String::new())).unwrap_err();
        assert!(error.contains("t.md:2"), "{error}");
        assert_eq!(
            marker("<!-- generated:a-b_1 -->\n", "generated:"),
            Some("a-b_1")
        );
        assert_eq!(marker("<!-- generated: -->", "generated:"), None);
    }
}
