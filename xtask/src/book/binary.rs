//! Generators for the binary node chapter: wire tags, token tables, and annotated encodings made
//! by wa-binary.

use wa_binary::dict::tags;
use wa_binary::{Codec, Dictionary, Node, json};

use super::{Dump, Generator, fenced, hex_spaced, table};

pub(crate) const GENERATORS: [(&str, Generator); 11] = [
    ("decode-errors", decode_errors),
    ("token-growth", token_growth),
    ("wire-tags", wire_tags),
    ("legacy-tokens", legacy_tokens),
    ("md-single-tokens", md_single_tokens),
    ("md-double-tokens", md_double_tokens),
    ("node-query-example", node_query_example),
    ("node-action-example", node_action_example),
    ("string-forms", string_forms),
    ("list16-evidence", list16_evidence),
    ("md-node-example", md_node_example),
];

fn wire_tags() -> Result<String, String> {
    let rows: Vec<(u8, &str, &str)> = vec![
        (
            tags::LIST_EMPTY,
            "LIST_EMPTY",
            "both: empty list, or an empty string (`null`)",
        ),
        (
            tags::STREAM_END,
            "STREAM_END",
            "legacy: end of stream (an error where a node is expected); multi-device: the token `xmlstreamend`",
        ),
        (
            1,
            "tokens",
            "legacy: single-byte tokens at 3-175 (1 and 176-235 unused); multi-device: single-byte tokens at 1-235",
        ),
        (
            tags::DICTIONARY_0,
            "DICTIONARY_0",
            "multi-device: a byte follows, index into double-byte dictionary 0",
        ),
        (
            tags::DICTIONARY_0 + 1,
            "DICTIONARY_1",
            "multi-device: double-byte dictionary 1",
        ),
        (
            tags::DICTIONARY_0 + 2,
            "DICTIONARY_2",
            "multi-device: double-byte dictionary 2",
        ),
        (
            tags::DICTIONARY_3,
            "DICTIONARY_3",
            "multi-device: double-byte dictionary 3",
        ),
        (
            tags::INTEROP_JID,
            "INTEROP_JID",
            "multi-device: user string, u16 device, u16 integrator, server string",
        ),
        (
            tags::FB_JID,
            "FB_JID",
            "multi-device: user string, u16 device, server string",
        ),
        (
            tags::AD_JID,
            "AD_JID",
            "multi-device: domain-type byte, device byte, user string",
        ),
        (
            tags::LIST_8,
            "LIST_8",
            "both: a list, one size byte follows",
        ),
        (
            tags::LIST_16,
            "LIST_16",
            "both: a list, a **16-bit** big-endian size follows",
        ),
        (
            tags::JID_PAIR,
            "JID_PAIR",
            "both: user string (or LIST_EMPTY), then server string; read as `user@server`",
        ),
        (tags::HEX_8, "HEX_8", "both: packed `0-9A-F`, two per byte"),
        (
            tags::BINARY_8,
            "BINARY_8",
            "both: 8-bit length, then raw bytes",
        ),
        (
            tags::BINARY_20,
            "BINARY_20",
            "both: 20-bit length (low 4 bits of the first byte, then 2 bytes), then raw bytes",
        ),
        (
            tags::BINARY_32,
            "BINARY_32",
            "both: 32-bit big-endian length, then raw bytes",
        ),
        (
            tags::NIBBLE_8,
            "NIBBLE_8",
            "both: packed `0-9`, `-`, `.`, two per byte",
        ),
    ];
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(value, name, meaning)| {
            let (byte, hex) = if name == "tokens" {
                (format!("{value}-235"), format!("`0x{value:02x}`-`0xeb`"))
            } else {
                (value.to_string(), format!("`0x{value:02x}`"))
            };
            vec![byte, hex, format!("`{name}`"), meaning.to_owned()]
        })
        .collect();
    Ok(table(&["byte", "hex", "name", "meaning"], &rows))
}

/// Lays `(byte, token)` pairs out four to a table row.
fn token_grid(entries: &[(String, &str)]) -> String {
    let header = [
        "byte", "token", "byte", "token", "byte", "token", "byte", "token",
    ];
    let rows: Vec<Vec<String>> = entries
        .chunks(4)
        .map(|chunk| {
            let mut row = Vec::new();
            for (code, token) in chunk {
                row.push(code.clone());
                row.push(format!("`{token}`"));
            }
            while row.len() < header.len() {
                row.push(String::new());
            }
            row
        })
        .collect();
    table(&header, &rows)
}

fn legacy_tokens() -> Result<String, String> {
    let dict = Dictionary::Legacy;
    let entries: Vec<(String, &str)> = (0..=255u8)
        .filter_map(|b| dict.single(b).map(|t| (b.to_string(), t)))
        .collect();
    let last = entries.last().map(|(b, _)| b.clone()).unwrap_or_default();
    let mut out = format!(
        "{} tokens, bytes 3 to {last} (wa-binary `Dictionary::Legacy`); every other byte below 236 \
         is not a token in the legacy protocol.\n\n",
        entries.len()
    );
    out.push_str(&token_grid(&entries));
    Ok(out)
}

fn md_single_tokens() -> Result<String, String> {
    let dict = Dictionary::MultiDeviceV3;
    let entries: Vec<(String, &str)> = (0..=255u8)
        .filter_map(|b| dict.single(b).map(|t| (b.to_string(), t)))
        .collect();
    let mut out = format!(
        "{} single-byte tokens (wa-binary `Dictionary::MultiDeviceV3`).\n\n",
        entries.len()
    );
    out.push_str(&token_grid(&entries));
    Ok(out)
}

fn md_double_tokens() -> Result<String, String> {
    let dict = Dictionary::MultiDeviceV3;
    let mut out = String::new();
    for d in 0..4u8 {
        let entries: Vec<(String, &str)> = (0..=255u8)
            .filter_map(|i| dict.double(d, i).map(|t| (format!("{} {i}", 236 + d), t)))
            .collect();
        out.push_str(&format!(
            "\n#### DICTIONARY_{d} (`0x{:02x}`), {} tokens\n\n",
            236 + d,
            entries.len()
        ));
        out.push_str(&token_grid(&entries));
    }
    Ok(out)
}

/// Walks encoded nodes and explains every byte, using wa-binary's own tables for token names.
struct Annotator<'a> {
    bytes: &'a [u8],
    pos: usize,
    dict: Dictionary,
    dump: Dump,
}

impl<'a> Annotator<'a> {
    fn new(bytes: &'a [u8], dict: Dictionary) -> Annotator<'a> {
        Annotator {
            bytes,
            pos: 0,
            dict,
            dump: Dump::new(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let slice = self
            .bytes
            .get(self.pos..self.pos + n)
            .ok_or_else(|| format!("annotator ran past the end at {}", self.pos))?;
        self.pos += n;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn peek(&self) -> Result<u8, String> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| "annotator ran past the end".to_owned())
    }

    fn emit(&mut self, start: usize, meaning: String) {
        let bytes = &self.bytes[start..self.pos];
        self.dump.add(bytes, meaning);
    }

    /// A list header; returns the size.
    fn list(&mut self, indent: &str, what: &str) -> Result<usize, String> {
        let start = self.pos;
        let tag = self.byte()?;
        let (size, name) = match tag {
            tags::LIST_EMPTY => (0, "LIST_EMPTY"),
            tags::LIST_8 => (usize::from(self.byte()?), "LIST_8"),
            tags::LIST_16 => {
                let b = self.take(2)?;
                (usize::from(u16::from_be_bytes([b[0], b[1]])), "LIST_16")
            }
            other => return Err(format!("expected a list tag at {start}, found {other}")),
        };
        self.emit(start, format!("{indent}{name}, size {size}: {what}"));
        Ok(size)
    }

    fn node(&mut self, depth: usize) -> Result<(), String> {
        let indent = "  ".repeat(depth);
        let start = self.pos;
        let size = {
            // Explain the size once we know the node's shape.
            let size = self.list(&indent, "")?;
            self.dump.rows_mut_last_meaning(|m| {
                let attrs = (size - 1) / 2;
                let content = if size % 2 == 0 {
                    "content"
                } else {
                    "no content"
                };
                format!("{m}node = tag + {attrs} attribute(s) + {content}")
            });
            size
        };
        let _ = start;
        self.string(&format!("{indent}tag: "))?;
        for _ in 0..(size - 1) / 2 {
            self.string(&format!("{indent}  key: "))?;
            self.string(&format!("{indent}  value: "))?;
        }
        if size % 2 == 0 {
            match self.peek()? {
                tags::LIST_EMPTY | tags::LIST_8 | tags::LIST_16 => {
                    let children = self.list(&format!("{indent}  "), "child nodes")?;
                    for _ in 0..children {
                        self.node(depth + 2)?;
                    }
                }
                tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => {
                    let len = self.binary_len(&format!("{indent}  content: "))?;
                    let start = self.pos;
                    self.take(len)?;
                    self.emit(start, format!("{indent}    {len} content bytes"));
                }
                _ => self.string(&format!("{indent}  content: "))?,
            }
        }
        Ok(())
    }

    fn binary_len(&mut self, prefix: &str) -> Result<usize, String> {
        let start = self.pos;
        let tag = self.byte()?;
        let (len, name) = match tag {
            tags::BINARY_8 => (usize::from(self.byte()?), "BINARY_8"),
            tags::BINARY_20 => {
                let b = self.take(3)?;
                (
                    (usize::from(b[0] & 0x0f) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]),
                    "BINARY_20",
                )
            }
            tags::BINARY_32 => {
                let b = self.take(4)?;
                (
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                    "BINARY_32",
                )
            }
            other => return Err(format!("expected a binary tag, found {other}")),
        };
        self.emit(start, format!("{prefix}{name}, length {len}"));
        Ok(len)
    }

    fn string(&mut self, prefix: &str) -> Result<(), String> {
        let start = self.pos;
        let tag = self.peek()?;
        match tag {
            tags::LIST_EMPTY => {
                self.byte()?;
                self.emit(start, format!("{prefix}LIST_EMPTY (empty)"));
            }
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => {
                let len = self.binary_len(prefix)?;
                let from = self.pos;
                let raw = self.take(len)?;
                let text = String::from_utf8_lossy(raw).into_owned();
                self.emit(from, format!("{prefix}  raw {text:?}"));
            }
            tags::NIBBLE_8 | tags::HEX_8 => {
                self.byte()?;
                let count = self.byte()?;
                let packed = self.take(usize::from(count & 0x7f))?;
                let mut text = String::new();
                for b in packed {
                    for nibble in [b >> 4, b & 0x0f] {
                        text.push(match (tag, nibble) {
                            (tags::HEX_8, n) => char::from(b"0123456789ABCDEF"[usize::from(n)]),
                            (_, 0..=9) => char::from(b'0' + nibble),
                            (_, 10) => '-',
                            (_, 11) => '.',
                            _ => '_',
                        });
                    }
                }
                if count & 0x80 != 0 {
                    text.pop();
                }
                let name = if tag == tags::HEX_8 {
                    "HEX_8"
                } else {
                    "NIBBLE_8"
                };
                let odd = if count & 0x80 != 0 {
                    ", odd length: last nibble is padding"
                } else {
                    ""
                };
                self.emit(
                    start,
                    format!("{prefix}{name}, {} byte(s){odd} → {text:?}", count & 0x7f),
                );
            }
            tags::JID_PAIR => {
                self.byte()?;
                self.emit(start, format!("{prefix}JID_PAIR (user, then server)"));
                let pad = padding(prefix);
                self.string(&format!("{pad}  user: "))?;
                self.string(&format!("{pad}  server: "))?;
            }
            tags::AD_JID if self.dict == Dictionary::MultiDeviceV3 => {
                self.byte()?;
                let domain = self.byte()?;
                let device = self.byte()?;
                self.emit(
                    start,
                    format!("{prefix}AD_JID, domain type {domain}, device {device}"),
                );
                self.string(&format!("{}  user: ", padding(prefix)))?;
            }
            tags::DICTIONARY_0..=tags::DICTIONARY_3 => {
                self.byte()?;
                let index = self.byte()?;
                let d = tag - tags::DICTIONARY_0;
                let token = self.dict.double(d, index).unwrap_or("?");
                self.emit(
                    start,
                    format!("{prefix}DICTIONARY_{d} token {index} {token:?}"),
                );
            }
            byte => {
                self.byte()?;
                let token = self
                    .dict
                    .single(byte)
                    .ok_or_else(|| format!("byte {byte} at {start} is not a token"))?;
                let note = if self.dict == Dictionary::Legacy && token == "s.whatsapp.net" {
                    " (read back as \"c.us\")"
                } else {
                    ""
                };
                self.emit(start, format!("{prefix}token {byte} {token:?}{note}"));
            }
        }
        Ok(())
    }
}

/// The indentation of a prefix.
fn padding(prefix: &str) -> String {
    prefix.chars().take_while(|c| *c == ' ').collect()
}

impl Dump {
    /// Rewrites the meaning of the last row.
    fn rows_mut_last_meaning(&mut self, f: impl FnOnce(&str) -> String) {
        if let Some(row) = self.rows.last_mut() {
            row.2 = f(&row.2);
        }
    }
}

/// Encodes `node`, checks it decodes back to itself, and explains every byte.
pub(crate) fn annotated(node: &Node, codec: Codec) -> Result<(Vec<u8>, String), String> {
    let bytes = codec.encode(node).map_err(|e| e.to_string())?;
    let decoded = codec.decode(&bytes).map_err(|e| e.to_string())?;
    let mut annotator = Annotator::new(&bytes, codec.dictionary);
    annotator.node(0)?;
    if annotator.pos != bytes.len() {
        return Err(format!(
            "annotator stopped at {} of {} bytes",
            annotator.pos,
            bytes.len()
        ));
    }
    let mut out = format!("node: {}\n", json::to_string(node));
    if decoded != *node {
        out.push_str(&format!("reads back as: {}\n", json::to_string(&decoded)));
    }
    out.push_str(&format!("{} bytes:\n\n", bytes.len()));
    out.push_str(&annotator.dump.render());
    Ok((bytes, out))
}

fn node_query_example() -> Result<String, String> {
    let node = Node::new("query")
        .attr("type", "contacts")
        .attr("epoch", "1");
    let (_, text) = annotated(&node, Codec::legacy())?;
    Ok(fenced("text", &text))
}

fn node_action_example() -> Result<String, String> {
    let read = Node::new("read")
        .attr("jid", "15551234567@c.us")
        .attr("index", "3EB0C431C26A1916E07E")
        .attr("owner", "false")
        .attr("count", "1");
    let node = Node::new("action")
        .attr("type", "set")
        .attr("epoch", "5")
        .children([read]);
    let (_, text) = annotated(&node, Codec::legacy())?;
    Ok(fenced("text", &text))
}

fn string_forms() -> Result<String, String> {
    let codec = Codec::legacy();
    let samples = [
        ("", "empty string"),
        ("message", "a token"),
        ("c.us", "legacy: written as the `s.whatsapp.net` token"),
        ("1606147375", "digits, even length"),
        ("15551234567", "digits, odd length"),
        ("1.5-2", "digits with `.` and `-`"),
        ("3EB0C431", "uppercase hex"),
        ("3eb0c431", "lowercase: not hex, written raw"),
        ("hello", "free text"),
        ("15551234567@c.us", "a JID"),
    ];
    let mut rows = Vec::new();
    for (text, what) in samples {
        // An attribute value is a bare string: encode `["x",{"v":text}]` and cut out the value.
        let node = Node::new("id").attr("id", text);
        let bytes = codec.encode(&node).map_err(|e| e.to_string())?;
        let back = codec.decode(&bytes).map_err(|e| e.to_string())?;
        let value = bytes
            .get(4..)
            .ok_or("encoded node shorter than its header")?;
        let read = back.attrs.get("id").unwrap_or_default().to_owned();
        rows.push(vec![
            format!("`{text:?}`"),
            what.to_owned(),
            format!("`{}`", hex_spaced(value)),
            format!("`{read:?}`"),
        ]);
    }
    Ok(table(
        &["string", "case", "legacy encoding", "reads back as"],
        &rows,
    ))
}

fn list16_evidence() -> Result<String, String> {
    let codec = Codec::legacy();
    let children = (0..300).map(|_| Node::new("user"));
    let node = Node::new("contacts").children(children);
    let bytes = codec.encode(&node).map_err(|e| e.to_string())?;
    let decoded = codec.decode(&bytes).map_err(|e| e.to_string())?;
    if decoded.child_nodes().len() != 300 {
        return Err("LIST_16 example did not read back 300 children".into());
    }
    let mut annotator = Annotator::new(&bytes, Dictionary::Legacy);
    annotator.list("", "node = tag + content")?;
    annotator.string("tag: ")?;
    annotator.list("  ", "child nodes (0x012c = 300)")?;
    annotator.node(2)?;
    let shown = annotator.pos;
    let mut out =
        String::from("node: [\"contacts\",null,[[\"user\",null,null], ... 300 times]]\n\n");
    out.push_str(&annotator.dump.render());
    out.push_str(&format!(
        "...   ({} more bytes: 299 more children)\n\nwa-binary reads it back with {} children.\n",
        bytes.len() - shown,
        decoded.child_nodes().len()
    ));

    // The same bytes with a one-byte size after LIST_16 (300 & 0xff), as a writer with the bug
    // produces them.
    let mut buggy = bytes.clone();
    buggy.remove(4);
    let error = codec
        .decode(&buggy)
        .err()
        .ok_or("a one-byte LIST_16 size decoded without error")?;
    out.push_str(&format!(
        "\nWritten with a one-byte size instead ({} ...), the reader takes `{}` as the size \
         ({} children) and fails:\n  {error}\n",
        hex_spaced(&buggy[..6]),
        hex_spaced(&buggy[4..6]),
        u16::from_be_bytes([buggy[4], buggy[5]])
    ));
    Ok(fenced("text", &out))
}

fn md_node_example() -> Result<String, String> {
    let codec = Codec::multi_device();
    let node = Node::new("to").attr("jid", "15559998888:2@s.whatsapp.net");
    let frame = codec.encode_frame(&node).map_err(|e| e.to_string())?;
    let (bytes, text) = annotated(&node, codec)?;
    if frame.get(1..) != Some(bytes.as_slice()) || frame.first() != Some(&0) {
        return Err("encode_frame is not 0x00 followed by the node".into());
    }
    let mut out = format!(
        "frame: {}\n(flag byte 0x00, then the node)\n\n",
        hex_spaced(&frame)
    );
    out.push_str(&text);
    Ok(fenced("text", &out))
}

fn token_growth() -> Result<String, String> {
    let dict = Dictionary::Legacy;
    let count = (0..=255u8).filter(|&b| dict.single(b).is_some()).count();
    let last = (0..=255u8)
        .filter(|&b| dict.single(b).is_some())
        .max()
        .ok_or("no legacy tokens")?;
    let mut lines = vec![
        format!(
            "wa-binary Dictionary::Legacy: {} entries (bytes 0-2 unused, {count} tokens at bytes 3-{last})",
            usize::from(last) + 1
        ),
        String::new(),
    ];
    for (from, to, note) in [
        (148u8, 150u8, "the seed's list ends here (151 entries)"),
        (151, 161, "added by the seed project's code (162 entries)"),
        (162, 175, "added in Baileys 2.x-4.x (176 entries)"),
    ] {
        let tokens: Vec<String> = (from..=to)
            .map(|b| format!("{b} {:?}", dict.single(b).unwrap_or("?")))
            .collect();
        lines.push(format!("{note}:"));
        for chunk in tokens.chunks(4) {
            lines.push(format!("  {}", chunk.join(", ")));
        }
    }
    let codec = Codec::legacy();
    let node = Node::new("recent");
    let bytes = codec.encode(&node).map_err(|e| e.to_string())?;
    lines.push(String::new());
    lines.push(format!(
        "[\"recent\",null,null] encodes as {}: the tag is the single byte {last}",
        hex_spaced(&bytes)
    ));
    lines.push(format!(
        "byte {} is not a token: {}",
        usize::from(last) + 1,
        codec
            .decode(&[tags::LIST_8, 1, last + 1])
            .err()
            .map(|e| e.to_string())
            .ok_or("byte 176 decoded as a token")?
    ));
    Ok(fenced("text", &lines.join("\n")))
}

fn decode_errors() -> Result<String, String> {
    let codec = Codec::legacy();
    let good = codec
        .encode(&Node::new("query").attr("type", "contacts"))
        .map_err(|e| e.to_string())?;
    let mut truncated = good.clone();
    truncated.pop();
    let mut trailing = good.clone();
    trailing.push(0);
    let cases: [(&str, Vec<u8>); 8] = [
        ("a valid node", good),
        ("its last byte missing", truncated),
        ("a byte after the node", trailing),
        ("an empty list where a node belongs", vec![tags::LIST_EMPTY]),
        ("byte 200, not a legacy token", vec![tags::LIST_8, 1, 200]),
        (
            "STREAM_END as the tag",
            vec![tags::LIST_8, 1, tags::STREAM_END],
        ),
        (
            "BINARY_8 claiming 200 bytes, 3 present",
            vec![tags::LIST_8, 2, 9, tags::BINARY_8, 200, 1, 2, 3],
        ),
        (
            "nibble 12 in NIBBLE_8",
            vec![tags::LIST_8, 1, tags::NIBBLE_8, 1, 0x1c],
        ),
    ];
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|(what, bytes)| {
            let outcome = match codec.decode(bytes) {
                Ok(node) => format!("`{}`", json::to_string(&node)),
                Err(e) => e.to_string(),
            };
            vec![
                (*what).to_owned(),
                format!("`{}`", hex_spaced(bytes)),
                outcome,
            ]
        })
        .collect();
    Ok(table(&["input", "bytes", "wa-binary (legacy)"], &rows))
}
