//! The encoder: writes WhatsApp's string forms in WhatsApp's order of preference.

use bytes::BufMut;

use crate::dict::{Dictionary, Token, tags};
use crate::error::EncodeError;
use crate::node::{Content, Node};

pub(crate) struct Encoder {
    pub(crate) dict: Dictionary,
    pub(crate) max_depth: usize,
}

/// How a string containing `@` is written when it can be written as a JID without changing it.
enum JidForm<'s> {
    /// `AD_JID domain device user`.
    Ad {
        domain: u8,
        device: u8,
        user: &'s str,
    },
    /// `JID_PAIR user server` (an empty user is written as LIST_EMPTY).
    Pair { user: &'s str, server: &'s str },
}

/// Whether `s` is a canonical decimal in 1..=255 (what reads back unchanged from an AD_JID).
fn ad_device(s: &str) -> Option<u8> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 3 || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse().ok()
}

impl Encoder {
    /// The JID form Baileys 7 would write for `s`, but only when reading it back gives `s` again;
    /// otherwise `None` and the string is written raw (Baileys would silently alter it, e.g. drop
    /// an agent or a second `:`).
    fn jid_form<'s>(&self, s: &'s str) -> Option<JidForm<'s>> {
        let (user_part, server) = s.split_once('@')?;
        // Like Baileys, a server holding `@` is itself written as a JID, one nested pair per `@`;
        // past the depth limit the decoder refuses that nesting, so such a string is written raw
        // (which also bounds this recursion).
        if server.is_empty() || server.bytes().filter(|&b| b == b'@').count() >= self.max_depth {
            return None;
        }
        match self.dict {
            Dictionary::Legacy => {
                // Baileys 3.5.3 writes `@x` raw; its decoder rejects an empty user.
                if user_part.is_empty() {
                    return None;
                }
                Some(JidForm::Pair {
                    user: user_part,
                    server,
                })
            }
            Dictionary::MultiDeviceV3 => {
                if user_part.contains('_') {
                    return None;
                }
                match user_part.split_once(':') {
                    None => Some(JidForm::Pair {
                        user: user_part,
                        server,
                    }),
                    Some((user, device)) => {
                        let device = ad_device(device)?;
                        let domain = match server {
                            "s.whatsapp.net" => 0,
                            "lid" => 1,
                            "hosted" => 128,
                            "hosted.lid" => 129,
                            _ => return None,
                        };
                        Some(JidForm::Ad {
                            domain,
                            device,
                            user,
                        })
                    }
                }
            }
        }
    }

    pub(crate) fn node<B: BufMut>(
        &self,
        out: &mut B,
        node: &Node,
        depth: usize,
    ) -> Result<(), EncodeError> {
        if depth > self.max_depth {
            return Err(EncodeError::TooDeep {
                limit: self.max_depth,
            });
        }
        if node.tag.is_empty() {
            return Err(EncodeError::EmptyTag);
        }
        let has_content = !matches!(node.content, Content::None);
        let size = 2 * node.attrs.len() + 1 + usize::from(has_content);
        self.list_start(out, size, &node.tag)?;
        self.string(out, &node.tag);
        for (key, value) in node.attrs.as_slice() {
            self.string(out, key);
            self.string(out, value);
        }
        match &node.content {
            Content::None => {}
            Content::Text(text) => {
                check_len(text.len(), &node.tag)?;
                self.string(out, text);
            }
            Content::Bytes(bytes) => {
                check_len(bytes.len(), &node.tag)?;
                byte_length(out, bytes.len());
                out.put_slice(bytes);
            }
            Content::Nodes(children) => {
                self.list_start(out, children.len(), &node.tag)?;
                for child in children {
                    self.node(out, child, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn list_start<B: BufMut>(
        &self,
        out: &mut B,
        size: usize,
        tag: &str,
    ) -> Result<(), EncodeError> {
        match size {
            0 => out.put_u8(tags::LIST_EMPTY),
            1..=255 => out.put_slice(&[tags::LIST_8, size as u8]),
            256..=65535 => {
                out.put_u8(tags::LIST_16);
                out.put_u16(size as u16);
            }
            _ => {
                return Err(EncodeError::ListTooLong {
                    tag: tag.to_owned(),
                    count: size,
                });
            }
        }
        Ok(())
    }

    /// Writes a string: empty, token, double-byte token, nibbles, hex, JID, raw, in that order.
    pub(crate) fn string<B: BufMut>(&self, out: &mut B, s: &str) {
        if s.is_empty() {
            out.put_slice(&[tags::BINARY_8, 0]);
            return;
        }
        if self.dict == Dictionary::Legacy && s == "c.us" {
            out.put_u8(crate::dict::LEGACY_WHATSAPP_NET);
            return;
        }
        match self.dict.token(s) {
            Some(Token::Single(byte)) => return out.put_u8(byte),
            Some(Token::Double { dict, index }) => {
                return out.put_slice(&[tags::DICTIONARY_0 + dict, index]);
            }
            None => {}
        }
        let bytes = s.as_bytes();
        if bytes.len() <= tags::PACKED_MAX {
            let mut class = PACKABLE_NIBBLE | PACKABLE_HEX;
            for &b in bytes {
                class &= PACKABLE[usize::from(b)];
                if class == 0 {
                    break;
                }
            }
            if class & PACKABLE_NIBBLE != 0 {
                return pack(out, tags::NIBBLE_8, bytes, nibble_value);
            }
            if class & PACKABLE_HEX != 0 {
                return pack(out, tags::HEX_8, bytes, hex_value);
            }
        }
        if let Some(form) = self.jid_form(s) {
            match form {
                JidForm::Ad {
                    domain,
                    device,
                    user,
                } => {
                    out.put_slice(&[tags::AD_JID, domain, device]);
                    self.string(out, user);
                }
                JidForm::Pair { user, server } => {
                    out.put_u8(tags::JID_PAIR);
                    if user.is_empty() {
                        out.put_u8(tags::LIST_EMPTY);
                    } else {
                        self.string(out, user);
                    }
                    self.string(out, server);
                }
            }
            return;
        }
        byte_length(out, bytes.len());
        out.put_slice(bytes);
    }
}

/// An estimate of the encoded size, meant to be at or above it (a string costs at most its length
/// plus a 5-byte header, barring nested JIDs), so that a fresh buffer is allocated once.
pub(crate) fn size_hint(node: &Node) -> usize {
    let strings: usize = node.tag.len()
        + 5
        + node
            .attrs
            .iter()
            .map(|(k, v)| k.len() + v.len() + 10)
            .sum::<usize>();
    let content = match &node.content {
        Content::None => 0,
        Content::Text(t) => t.len() + 5,
        Content::Bytes(b) => b.len() + 5,
        Content::Nodes(children) => 3 + children.iter().map(size_hint).sum::<usize>(),
    };
    3 + strings + content
}

fn check_len(len: usize, tag: &str) -> Result<(), EncodeError> {
    if u32::try_from(len).is_err() {
        return Err(EncodeError::TooLong {
            tag: tag.to_owned(),
            len,
        });
    }
    Ok(())
}

/// BINARY_8 / BINARY_20 / BINARY_32 by size (callers check the 32-bit bound).
fn byte_length<B: BufMut>(out: &mut B, len: usize) {
    if len >= 1 << 20 {
        out.put_u8(tags::BINARY_32);
        out.put_u32(len as u32);
    } else if len >= 256 {
        out.put_slice(&[
            tags::BINARY_20,
            (len >> 16) as u8 & 0x0f,
            (len >> 8) as u8,
            len as u8,
        ]);
    } else {
        out.put_slice(&[tags::BINARY_8, len as u8]);
    }
}

/// Byte fits NIBBLE_8 (`0-9`, `-`, `.`).
const PACKABLE_NIBBLE: u8 = 1;
/// Byte fits HEX_8 (`0-9`, `A-F`).
const PACKABLE_HEX: u8 = 2;

/// Which packings each byte allows.
static PACKABLE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_digit() {
            table[b] = PACKABLE_NIBBLE | PACKABLE_HEX;
        } else if c == b'-' || c == b'.' {
            table[b] = PACKABLE_NIBBLE;
        } else if c >= b'A' && c <= b'F' {
            table[b] = PACKABLE_HEX;
        }
        b += 1;
    }
    table
};

fn nibble_value(b: u8) -> u8 {
    match b {
        b'-' => 10,
        b'.' => 11,
        _ => b - b'0',
    }
}

fn hex_value(b: u8) -> u8 {
    if b.is_ascii_digit() {
        b - b'0'
    } else {
        b - b'A' + 10
    }
}

/// Packs two characters a byte; an odd length sets bit 7 of the count and pads with 15.
fn pack<B: BufMut>(out: &mut B, tag: u8, bytes: &[u8], value: fn(u8) -> u8) {
    let odd = bytes.len() % 2;
    out.put_slice(&[tag, ((bytes.len() / 2 + odd) as u8) | ((odd as u8) << 7)]);
    let mut pairs = bytes.chunks_exact(2);
    for pair in &mut pairs {
        out.put_u8((value(pair[0]) << 4) | value(pair[1]));
    }
    if let [last] = pairs.remainder() {
        out.put_u8((value(*last) << 4) | 0x0f);
    }
}
