//! `wa decode`: a captured frame or node → its JSON form.
//!
//! The input may be a whole WebSocket message (`tag,` + payload) or only the payload; a legacy
//! encrypted payload in either direction (server → client `HMAC ‖ IV ‖ CT`, client → server
//! `metric ‖ flags ‖ HMAC ‖ IV ‖ CT`); a plaintext node (legacy, or multi-device with its flag byte
//! and maybe zlib); or a text frame `tag,JSON`. When the layout is not given, each plausible one is
//! tried and the HMAC (or the decoder) decides.

use serde_json::{Value, json};
use wa_binary::{Codec, Node};
use wa_core::frame::{Frame, JsonForm};
use wa_crypto::legacy::{Flags, Metric, SessionKeys, open_client_frame, open_server_frame};

use crate::error::CliError;
use crate::style::Style;

/// Which way an encrypted frame travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Server → client: `HMAC ‖ IV ‖ CT`.
    FromServer,
    /// Client → server: `metric ‖ flags ‖ HMAC ‖ IV ‖ CT`.
    FromClient,
}

impl Direction {
    fn describe(self) -> &'static str {
        match self {
            Direction::FromServer => "server → client",
            Direction::FromClient => "client → server",
        }
    }

    fn json_name(self) -> &'static str {
        match self {
            Direction::FromServer => "from-server",
            Direction::FromClient => "from-client",
        }
    }
}

/// The binary dictionary of the node (`--dict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dict {
    /// The legacy (2017–2021) dictionary; the node bytes stand alone.
    Legacy,
    /// The multi-device dictionary; a flag byte comes first (bit 1: zlib-compressed).
    Md,
}

impl Dict {
    fn name(self) -> &'static str {
        match self {
            Dict::Legacy => "legacy",
            Dict::Md => "multi-device",
        }
    }
}

/// How to read the input.
pub struct Options {
    /// Keys to open encrypted frames with; `None`: the node is plaintext.
    pub keys: Option<SessionKeys>,
    /// The direction, if known; `None` tries both.
    pub direction: Option<Direction>,
    /// The dictionary.
    pub dict: Dict,
    /// Whether the input may start with `tag,`.
    pub allow_tag: bool,
}

/// What the input turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// A text frame `tag,JSON`.
    Text {
        /// The tag.
        tag: String,
        /// `tag,JSON` or `tag,,JSON`.
        form: JsonForm,
        /// The body (`null` when empty).
        body: Value,
    },
    /// A pong `!<ms>`.
    Pong {
        /// The server's clock.
        unix_ms: u64,
    },
    /// The keepalive `?,,`.
    Keepalive,
    /// A binary node.
    Node(DecodedNode),
}

/// A binary node and how it was carried.
#[derive(Debug)]
pub struct DecodedNode {
    /// The WebSocket tag, if the input had one.
    pub tag: Option<String>,
    /// The direction, if the payload was encrypted.
    pub direction: Option<Direction>,
    /// The metric byte of a client frame.
    pub metric: Option<u8>,
    /// The flag byte of a client frame.
    pub flags: Option<Flags>,
    /// For multi-device nodes: whether the flag byte said zlib.
    pub compressed: Option<bool>,
    /// The node.
    pub node: Node,
}

/// Decodes `bytes` as `options` say.
pub fn decode(bytes: &[u8], options: &Options) -> Result<Decoded, CliError> {
    if let Some(text) = as_text_frame(bytes) {
        return Ok(text);
    }
    let mut candidates: Vec<(Option<String>, &[u8])> = Vec::with_capacity(2);
    if options.allow_tag {
        if let Some((tag, payload)) = split_tag(bytes) {
            candidates.push((Some(tag), payload));
        }
    }
    candidates.push((None, bytes));
    let mut first_failure = None;
    let mut hmac_failure = None;
    for (tag, payload) in candidates {
        match open_payload(payload, options) {
            Ok(mut node) => {
                node.tag = tag;
                return Ok(Decoded::Node(node));
            }
            // The HMAC verified: this layout is the right one, whatever else went wrong.
            Err(
                e @ CliError::NotANode {
                    decrypted: true, ..
                },
            ) => return Err(e),
            Err(CliError::HmacMismatch { tried }) => {
                let with_tag = |t: String| match &tag {
                    Some(tag) => format!("after tag {tag:?}: {t}"),
                    None => format!("whole input: {t}"),
                };
                let hmac = hmac_failure.get_or_insert_with(Vec::new);
                hmac.extend(tried.into_iter().map(with_tag));
            }
            Err(e) => {
                first_failure.get_or_insert(e);
            }
        }
    }
    if let Some(tried) = hmac_failure {
        return Err(CliError::HmacMismatch { tried });
    }
    Err(first_failure.unwrap_or(CliError::NoInput))
}

fn as_text_frame(bytes: &[u8]) -> Option<Decoded> {
    let text = std::str::from_utf8(bytes).ok()?;
    match Frame::parse_text(text.trim_end()).ok()? {
        Frame::Json { tag, form, body } => Some(Decoded::Text {
            tag: tag.into_string(),
            form,
            body,
        }),
        Frame::Pong { unix_ms } => Some(Decoded::Pong { unix_ms }),
        Frame::Keepalive => Some(Decoded::Keepalive),
        Frame::Binary { .. } => None,
    }
}

/// `tag,payload` if the input starts with something that looks like a tag: printable ASCII.
fn split_tag(bytes: &[u8]) -> Option<(String, &[u8])> {
    let comma = bytes.iter().take(129).position(|&b| b == b',')?;
    let (tag, rest) = bytes.split_at(comma);
    if tag.is_empty() || !tag.iter().all(u8::is_ascii_graphic) || tag.first() == Some(&b'!') {
        return None;
    }
    let tag = std::str::from_utf8(tag).ok()?.to_owned();
    Some((tag, rest.get(1..).unwrap_or_default()))
}

fn open_payload(payload: &[u8], options: &Options) -> Result<DecodedNode, CliError> {
    let Some(keys) = &options.keys else {
        let (node, compressed) = decode_plain(payload, options.dict, false, false)?;
        return Ok(DecodedNode {
            tag: None,
            direction: None,
            metric: None,
            flags: None,
            compressed,
            node,
        });
    };
    let directions = match options.direction {
        Some(direction) => vec![direction],
        None => vec![Direction::FromServer, Direction::FromClient],
    };
    let mut tried = Vec::new();
    let mut other = None;
    for direction in directions {
        let opened = match direction {
            Direction::FromServer => open_server_frame(keys, payload).map(|p| (None, None, p)),
            Direction::FromClient => open_client_frame(keys, payload)
                .map(|f| (Some(f.metric_byte), Some(f.flags), f.plaintext)),
        };
        match opened {
            Ok((metric, flags, plaintext)) => {
                let plaintext = zeroize::Zeroizing::new(plaintext);
                let (node, compressed) = decode_plain(&plaintext, options.dict, true, true)?;
                return Ok(DecodedNode {
                    tag: None,
                    direction: Some(direction),
                    metric,
                    flags,
                    compressed,
                    node,
                });
            }
            Err(wa_crypto::Error::HmacMismatch { .. }) => tried.push(direction.describe().into()),
            Err(source) => {
                other.get_or_insert(CliError::Crypto {
                    layout: format!("a {} payload", direction.describe()),
                    source,
                });
            }
        }
    }
    match (tried.is_empty(), other) {
        (false, _) => Err(CliError::HmacMismatch { tried }),
        (true, Some(error)) => Err(error),
        (true, None) => Err(CliError::HmacMismatch { tried }),
    }
}

fn decode_plain(
    bytes: &[u8],
    dict: Dict,
    decrypted: bool,
    had_keys: bool,
) -> Result<(Node, Option<bool>), CliError> {
    let not_a_node = |source| CliError::NotANode {
        dict: dict.name(),
        decrypted,
        had_keys,
        source,
    };
    match dict {
        Dict::Legacy => Codec::legacy()
            .decode(bytes)
            .map(|node| (node, None))
            .map_err(not_a_node),
        Dict::Md => {
            let compressed = bytes.first().map(|flag| flag & 0x02 != 0);
            Codec::multi_device()
                .decode_frame(bytes)
                .map(|node| (node, compressed))
                .map_err(not_a_node)
        }
    }
}

fn flag_names(flags: Flags) -> Vec<&'static str> {
    [
        (Flags::EXPECTS_RESPONSE, "EXPECTS_RESPONSE"),
        (Flags::ACK_REQUEST, "ACK_REQUEST"),
        (Flags::AVAILABLE, "AVAILABLE"),
        (Flags::UNAVAILABLE, "UNAVAILABLE"),
        (Flags::EXPIRES, "EXPIRES"),
        (Flags::SKIP_OFFLINE, "SKIP_OFFLINE"),
    ]
    .into_iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .map(|(_, name)| name)
    .collect()
}

fn metric_name(byte: u8) -> Option<&'static str> {
    Metric::try_from(byte).ok().map(Metric::wire_name)
}

/// The result as one JSON document (`--json`).
pub fn to_json(decoded: &Decoded) -> Value {
    match decoded {
        Decoded::Text { tag, form, body } => json!({
            "kind": "text",
            "tag": tag,
            "separator": match form { JsonForm::OneComma => ",", JsonForm::TwoCommas => ",," },
            "body": body,
        }),
        Decoded::Pong { unix_ms } => json!({ "kind": "pong", "unix_ms": unix_ms }),
        Decoded::Keepalive => json!({ "kind": "keepalive" }),
        Decoded::Node(n) => json!({
            "kind": "binary",
            "tag": n.tag,
            "direction": n.direction.map(Direction::json_name),
            "metric": n.metric,
            "metric_name": n.metric.and_then(metric_name),
            "flags": n.flags.map(Flags::bits),
            "flag_names": n.flags.map(flag_names),
            "compressed": n.compressed,
            "node": serde_json::to_value(&n.node).unwrap_or(Value::Null),
        }),
    }
}

/// The result for people: a few labelled lines, then the JSON.
pub fn render(decoded: &Decoded, style: Style) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("{} {value}\n", style.dim(format!("{label:<10}"))));
    };
    match decoded {
        Decoded::Text { tag, form, body } => {
            line("frame", "text (JSON)".into());
            line("tag", style.accent(tag));
            if *form == JsonForm::TwoCommas {
                line("separator", "\",,\" (client request)".into());
            }
            let body = serde_json::to_string_pretty(body).unwrap_or_default();
            out.push_str(&body);
            out.push('\n');
        }
        Decoded::Pong { unix_ms } => {
            line("frame", format!("pong (server clock {unix_ms} ms)"));
        }
        Decoded::Keepalive => line("frame", "keepalive (?,,)".into()),
        Decoded::Node(n) => {
            let frame = match n.direction {
                Some(direction) => format!("binary, {}, HMAC verified", direction.describe()),
                None => "binary, plaintext node".into(),
            };
            line("frame", frame);
            if let Some(tag) = &n.tag {
                line("tag", style.accent(tag));
            }
            if let Some(metric) = n.metric {
                let name = match metric {
                    0 => "none".to_owned(),
                    m => metric_name(m).unwrap_or("unknown").to_owned(),
                };
                line("metric", format!("{metric} ({name})"));
            }
            if let Some(flags) = n.flags {
                let names = flag_names(flags);
                let names = if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(" | ")
                };
                line("flags", format!("{:#04x} ({names})", flags.bits()));
            }
            if let Some(compressed) = n.compressed {
                line("zlib", if compressed { "yes" } else { "no" }.to_owned());
            }
            out.push_str(&wa_binary::json::to_string_pretty(&n.node));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_crypto::legacy::seal_client_frame;

    struct CountingRng(u64);
    impl wa_crypto::RngCore for CountingRng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            self.0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                *b = self.next_u64() as u8;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), wa_crypto::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl wa_crypto::CryptoRng for CountingRng {}

    fn options(keys: Option<SessionKeys>) -> Options {
        Options {
            keys,
            direction: None,
            dict: Dict::Legacy,
            allow_tag: true,
        }
    }

    #[test]
    fn client_frame_with_tag_is_found_without_a_direction() {
        let keys = SessionKeys::new([1; 32], [2; 32]);
        let node = Node::new("action").attr("type", "set").attr("epoch", "3");
        let plain = Codec::legacy().encode(&node).unwrap();
        let payload = seal_client_frame(
            &keys,
            Some(Metric::Message),
            Flags::EXPECTS_RESPONSE,
            &plain,
            &mut CountingRng(7),
        );
        let mut frame = b"3EB0.--1,".to_vec();
        frame.extend_from_slice(&payload);
        let Decoded::Node(n) = decode(&frame, &options(Some(keys))).unwrap() else {
            panic!("not a node");
        };
        assert_eq!(n.node, node);
        assert_eq!(n.tag.as_deref(), Some("3EB0.--1"));
        assert_eq!(n.direction, Some(Direction::FromClient));
        assert_eq!(n.metric, Some(16));
        assert_eq!(n.flags, Some(Flags::EXPECTS_RESPONSE));
    }

    #[test]
    fn wrong_keys_say_hmac() {
        let keys = SessionKeys::new([1; 32], [2; 32]);
        let payload =
            wa_crypto::legacy::seal_server_frame(&keys, b"\xf8\x01\x05", &mut CountingRng(1));
        let wrong = SessionKeys::new([1; 32], [3; 32]);
        let error = decode(&payload, &options(Some(wrong))).unwrap_err();
        assert!(matches!(error, CliError::HmacMismatch { .. }), "{error:?}");
    }

    #[test]
    fn text_frames_and_garbage() {
        let decoded = decode(b"123.--4,[\"admin\",\"init\"]\n", &options(None)).unwrap();
        assert!(matches!(decoded, Decoded::Text { ref tag, .. } if tag == "123.--4"));
        let error = decode(&[0xde, 0xad, 0xbe, 0xef], &options(None)).unwrap_err();
        assert!(
            matches!(
                error,
                CliError::NotANode {
                    decrypted: false,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
