//! Reading a captured frame: hex text (spaces and colons allowed), a text frame, or raw bytes.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use crate::error::CliError;

/// Largest input accepted (the protocol's own frame limit is 16 MiB; hex doubles it).
const MAX_INPUT: u64 = 64 << 20;

/// True if `text` is made only of hex digits, whitespace and colons (with at least one digit),
/// optionally prefixed by `0x`.
pub fn looks_like_hex(text: &str) -> bool {
    let body = strip_0x(text.trim());
    body.chars().any(|c| c.is_ascii_hexdigit())
        && body
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c.is_whitespace() || c == ':')
}

fn strip_0x(text: &str) -> &str {
    text.strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text)
}

/// Parses hex text, ignoring whitespace and colons; `what` names it in errors.
pub fn parse_hex(text: &str, what: &str) -> Result<Vec<u8>, CliError> {
    let body = strip_0x(text.trim());
    let mut digits = String::with_capacity(body.len());
    for (index, c) in body.char_indices() {
        if c.is_ascii_hexdigit() {
            digits.push(c);
        } else if !(c.is_whitespace() || c == ':') {
            return Err(CliError::Hex {
                what: what.to_owned(),
                problem: format!("{c:?} at character {index} is not a hex digit"),
            });
        }
    }
    if digits.len() % 2 != 0 {
        return Err(CliError::Hex {
            what: what.to_owned(),
            problem: format!(
                "odd number of hex digits ({}): a byte is missing a digit",
                digits.len()
            ),
        });
    }
    hex::decode(&digits).map_err(|e| CliError::Hex {
        what: what.to_owned(),
        problem: e.to_string(),
    })
}

/// The frame given on the command line: hex, or a text frame (`tag,JSON`) as is.
pub fn from_argument(text: &str) -> Result<Vec<u8>, CliError> {
    if looks_like_hex(text) {
        return parse_hex(text, "FRAME");
    }
    if text.contains(',') {
        // A text frame typed or pasted as is.
        return Ok(text.as_bytes().to_vec());
    }
    // Neither: report the first non-hex character.
    parse_hex(text, "FRAME")
}

/// Bytes read from a file or standard input: hex if the content is hex text, else raw.
pub fn from_bytes(bytes: Vec<u8>) -> Result<Vec<u8>, CliError> {
    match std::str::from_utf8(&bytes) {
        Ok(text) if looks_like_hex(text) => parse_hex(text, "the input"),
        _ => Ok(bytes),
    }
}

/// Reads `path` (at most [`MAX_INPUT`] bytes).
pub fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    let read_error = |source| CliError::Read {
        what: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    read_limited(file).map_err(read_error)
}

/// Reads standard input, refusing to wait on a terminal.
pub fn read_stdin() -> Result<Vec<u8>, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CliError::NoInput);
    }
    read_limited(stdin.lock()).map_err(|source| CliError::Read {
        what: "standard input".into(),
        source,
    })
}

fn read_limited(reader: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_INPUT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("input is larger than {MAX_INPUT} bytes"),
        ));
    }
    Ok(bytes)
}

/// Parses a 32-byte key: 64 hex digits (spaces and colons allowed) or base64 (as in session files).
pub fn parse_key(text: &str, option: &'static str) -> Result<[u8; 32], CliError> {
    use base64::Engine as _;
    let bytes = if looks_like_hex(text) {
        parse_hex(text, option).map_err(|e| CliError::Key {
            option,
            problem: e.to_string(),
        })?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| CliError::Key {
                option,
                problem: format!("neither hex nor base64 ({e})"),
            })?
    };
    let len = bytes.len();
    <[u8; 32]>::try_from(bytes).map_err(|_| CliError::Key {
        option,
        problem: format!("got {len} bytes"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_with_separators() {
        assert_eq!(
            parse_hex("0a:0B 0c\n0d", "x").unwrap(),
            vec![10, 11, 12, 13]
        );
        assert_eq!(parse_hex("0x0102", "x").unwrap(), vec![1, 2]);
        assert!(matches!(parse_hex("abc", "x"), Err(CliError::Hex { .. })));
        assert!(matches!(parse_hex("zz", "x"), Err(CliError::Hex { .. })));
    }

    #[test]
    fn argument_is_hex_or_text_frame() {
        assert_eq!(from_argument("ff 00").unwrap(), vec![255, 0]);
        assert_eq!(from_argument("1,[1]").unwrap(), b"1,[1]".to_vec());
        assert!(matches!(from_argument("hello"), Err(CliError::Hex { .. })));
    }

    #[test]
    fn keys_hex_or_base64() {
        let hex_key = "11".repeat(32);
        assert_eq!(parse_key(&hex_key, "--enc-key").unwrap(), [0x11; 32]);
        let b64 = "ERERERERERERERERERERERERERERERERERERERERERE=";
        assert_eq!(parse_key(b64, "--enc-key").unwrap(), [0x11; 32]);
        assert!(matches!(
            parse_key("1122", "--mac-key"),
            Err(CliError::Key { .. })
        ));
    }
}
