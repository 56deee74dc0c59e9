//! Legacy WhatsApp Web frames: one WebSocket message each.
//!
//! | WebSocket message | Frame |
//! |---|---|
//! | text `tag,JSON` | [`Frame::Json`] with [`JsonForm::OneComma`] |
//! | text `tag,,JSON` | [`Frame::Json`] with [`JsonForm::TwoCommas`] |
//! | text `tag,` / `tag,,` (no body) | [`Frame::Json`] with body [`Value::Null`], see below |
//! | binary `tag,` + payload | [`Frame::Binary`] |
//! | text `!<unix-ms>` | [`Frame::Pong`] |
//! | text `?,,` | [`Frame::Keepalive`] |
//!
//! A tag ends at the first comma, so tags never contain commas; they also never start with `!`,
//! which marks a pong. A text frame whose body is empty parses as JSON `null`: the legacy clients
//! accept such frames and treat the body as absent, and `Frame::Json` with a `Null` body serializes
//! back to the same empty body.
//!
//! Parsing checks the length against a limit before looking at the content, and never panics on
//! any input. Binary payloads are opaque here (the session layer decrypts them).

use std::fmt;

use serde_json::Value;

use crate::time::Timestamp;

/// The default maximum length of one frame, in bytes (WebSocket payload).
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// The maximum length of a tag, in bytes.
pub const MAX_TAG_LEN: usize = 128;

/// Why a WebSocket message is not a valid frame.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The message is longer than the configured limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// Length of the message.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The message has no comma, so it has no tag (and is not a pong).
    #[error("frame has no tag: no comma found")]
    MissingComma,
    /// The tag is empty, too long or contains a forbidden character.
    #[error("invalid tag: {0}")]
    InvalidTag(#[from] TagError),
    /// A binary message's tag is not UTF-8.
    #[error("binary frame tag is not UTF-8")]
    TagNotUtf8,
    /// A pong (`!…`) does not carry a decimal millisecond timestamp.
    #[error("pong does not carry a decimal timestamp")]
    InvalidPong,
    /// The body after the tag is not valid JSON.
    #[error("invalid JSON body at line {line} column {column}: {message}")]
    InvalidJson {
        /// serde_json's description of the problem.
        message: String,
        /// 1-based line of the problem in the body.
        line: usize,
        /// 1-based column of the problem in the body.
        column: usize,
    },
}

/// Why a string is not a valid tag.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum TagError {
    /// The tag is empty.
    #[error("tag is empty")]
    Empty,
    /// The tag is longer than [`MAX_TAG_LEN`].
    #[error("tag of {0} bytes is longer than {MAX_TAG_LEN}")]
    TooLong(usize),
    /// The tag contains a comma (which would end it early).
    #[error("tag contains a comma")]
    Comma,
    /// The tag starts with `!`, which marks a pong.
    #[error("tag starts with '!'")]
    Bang,
    /// The tag contains a control character.
    #[error("tag contains a control character")]
    Control,
}

/// A frame tag: the text before the first comma, used to match responses to requests.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Validates `tag`: non-empty, at most [`MAX_TAG_LEN`] bytes, no comma, no control
    /// characters, not starting with `!`.
    pub fn new(tag: impl Into<String>) -> Result<Tag, TagError> {
        let tag = tag.into();
        Self::check(&tag)?;
        Ok(Tag(tag))
    }

    fn check(tag: &str) -> Result<(), TagError> {
        if tag.is_empty() {
            return Err(TagError::Empty);
        }
        if tag.len() > MAX_TAG_LEN {
            return Err(TagError::TooLong(tag.len()));
        }
        if tag.starts_with('!') {
            return Err(TagError::Bang);
        }
        if tag.contains(',') {
            return Err(TagError::Comma);
        }
        if tag.chars().any(char::is_control) {
            return Err(TagError::Control);
        }
        Ok(())
    }

    /// The tag as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Tag {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Tag {
    type Err = TagError;

    fn from_str(s: &str) -> Result<Tag, TagError> {
        Tag::new(s)
    }
}

impl TryFrom<&str> for Tag {
    type Error = TagError;

    fn try_from(s: &str) -> Result<Tag, TagError> {
        Tag::new(s)
    }
}

impl TryFrom<String> for Tag {
    type Error = TagError;

    fn try_from(s: String) -> Result<Tag, TagError> {
        Tag::new(s)
    }
}

/// How a JSON frame separates its tag from its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JsonForm {
    /// `tag,JSON`: admin init, login, challenge and reref; and what servers send.
    OneComma,
    /// `tag,,JSON`: every other client JSON request.
    TwoCommas,
}

impl JsonForm {
    fn separator(self) -> &'static str {
        match self {
            JsonForm::OneComma => ",",
            JsonForm::TwoCommas => ",,",
        }
    }
}

/// One legacy WhatsApp Web frame (one WebSocket message).
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// A tagged JSON text frame.
    Json {
        /// The tag.
        tag: Tag,
        /// Which separator the frame used (or will use).
        form: JsonForm,
        /// The JSON body; `Null` for an empty body.
        body: Value,
    },
    /// A tagged binary frame; the payload is everything after `tag,`.
    Binary {
        /// The tag.
        tag: Tag,
        /// The (encrypted) payload.
        payload: Vec<u8>,
    },
    /// An untagged pong, `!<unix-ms>`, the server's answer to a keepalive.
    Pong {
        /// The server's clock, in milliseconds since the Unix epoch.
        unix_ms: u64,
    },
    /// The client keepalive, `?,,`.
    Keepalive,
}

/// A WebSocket message as the transport sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireMessage {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Frame {
    /// A tagged JSON frame.
    pub fn json(tag: Tag, form: JsonForm, body: Value) -> Frame {
        Frame::Json { tag, form, body }
    }

    /// A tagged binary frame.
    pub fn binary(tag: Tag, payload: Vec<u8>) -> Frame {
        Frame::Binary { tag, payload }
    }

    /// A pong for `now`.
    pub fn pong(now: Timestamp) -> Frame {
        Frame::Pong {
            unix_ms: now.unix_ms(),
        }
    }

    /// The frame's tag, if it has one (pongs and keepalives have none).
    pub fn tag(&self) -> Option<&Tag> {
        match self {
            Frame::Json { tag, .. } | Frame::Binary { tag, .. } => Some(tag),
            Frame::Pong { .. } | Frame::Keepalive => None,
        }
    }

    /// Parses a WebSocket message with the default length limit.
    pub fn parse(message: &WireMessage) -> Result<Frame, FrameError> {
        Self::parse_with_limit(message, DEFAULT_MAX_FRAME_LEN)
    }

    /// Parses a WebSocket message, rejecting it if longer than `max_len` bytes.
    pub fn parse_with_limit(message: &WireMessage, max_len: usize) -> Result<Frame, FrameError> {
        match message {
            WireMessage::Text(text) => Self::parse_text_with_limit(text, max_len),
            WireMessage::Binary(bytes) => Self::parse_binary_with_limit(bytes, max_len),
        }
    }

    /// Parses a text WebSocket message with the default length limit.
    pub fn parse_text(text: &str) -> Result<Frame, FrameError> {
        Self::parse_text_with_limit(text, DEFAULT_MAX_FRAME_LEN)
    }

    /// Parses a text WebSocket message, rejecting it if longer than `max_len` bytes.
    pub fn parse_text_with_limit(text: &str, max_len: usize) -> Result<Frame, FrameError> {
        check_len(text.len(), max_len)?;
        if let Some(digits) = text.strip_prefix('!') {
            return parse_pong(digits);
        }
        if text == "?,," {
            return Ok(Frame::Keepalive);
        }
        let (tag, rest) = text.split_once(',').ok_or(FrameError::MissingComma)?;
        let tag = Tag::new(tag)?;
        let (form, body) = match rest.strip_prefix(',') {
            Some(body) => (JsonForm::TwoCommas, body),
            None => (JsonForm::OneComma, rest),
        };
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).map_err(|e| FrameError::InvalidJson {
                message: e.to_string(),
                line: e.line(),
                column: e.column(),
            })?
        };
        Ok(Frame::Json { tag, form, body })
    }

    /// Parses a binary WebSocket message with the default length limit.
    pub fn parse_binary(bytes: &[u8]) -> Result<Frame, FrameError> {
        Self::parse_binary_with_limit(bytes, DEFAULT_MAX_FRAME_LEN)
    }

    /// Parses a binary WebSocket message, rejecting it if longer than `max_len` bytes.
    ///
    /// The payload is everything after the first comma, taken as is (a payload may itself start
    /// with a comma byte).
    pub fn parse_binary_with_limit(bytes: &[u8], max_len: usize) -> Result<Frame, FrameError> {
        check_len(bytes.len(), max_len)?;
        let comma = bytes
            .iter()
            .position(|&b| b == b',')
            .ok_or(FrameError::MissingComma)?;
        let (tag, rest) = bytes.split_at(comma);
        let tag = std::str::from_utf8(tag).map_err(|_| FrameError::TagNotUtf8)?;
        let tag = Tag::new(tag)?;
        let payload = rest.get(1..).unwrap_or_default().to_vec();
        Ok(Frame::Binary { tag, payload })
    }

    /// Serializes the frame into the WebSocket message that carries it.
    pub fn to_wire(&self) -> WireMessage {
        match self {
            Frame::Json { tag, form, body } => {
                let body = if body.is_null() {
                    String::new()
                } else {
                    body.to_string()
                };
                WireMessage::Text(format!("{tag}{}{body}", form.separator()))
            }
            Frame::Binary { tag, payload } => {
                let mut out = Vec::with_capacity(tag.as_str().len() + 1 + payload.len());
                out.extend_from_slice(tag.as_str().as_bytes());
                out.push(b',');
                out.extend_from_slice(payload);
                WireMessage::Binary(out)
            }
            Frame::Pong { unix_ms } => WireMessage::Text(format!("!{unix_ms}")),
            Frame::Keepalive => WireMessage::Text("?,,".to_owned()),
        }
    }
}

fn check_len(len: usize, max: usize) -> Result<(), FrameError> {
    if len > max {
        Err(FrameError::TooLong { len, max })
    } else {
        Ok(())
    }
}

fn parse_pong(digits: &str) -> Result<Frame, FrameError> {
    // `u64::from_str` accepts a leading '+'; a pong is plain digits only.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FrameError::InvalidPong);
    }
    let unix_ms = digits.parse().map_err(|_| FrameError::InvalidPong)?;
    Ok(Frame::Pong { unix_ms })
}

/// Generates request tags the way WhatsApp's web client does.
///
/// Long tags `<unix-seconds>.--<n>` are used for admin commands; short tags
/// `<unix-seconds % 1000>.--<n>` for other requests. Both share one counter, so every tag a
/// generator yields is distinct from the previous ones at the same second.
#[derive(Clone, Debug, Default)]
pub struct TagGenerator {
    counter: u64,
}

impl TagGenerator {
    /// A generator whose counter starts at 0.
    pub fn new() -> TagGenerator {
        TagGenerator::default()
    }

    /// A generator whose counter starts at `counter`.
    pub fn with_counter(counter: u64) -> TagGenerator {
        TagGenerator { counter }
    }

    /// The counter value the next tag will use.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// The next long tag, `<unix-seconds>.--<n>`.
    pub fn next_long(&mut self, now: Timestamp) -> Tag {
        self.make(now.unix_secs())
    }

    /// The next short tag, `<unix-seconds % 1000>.--<n>`.
    pub fn next_short(&mut self, now: Timestamp) -> Tag {
        self.make(now.unix_secs() % 1000)
    }

    fn make(&mut self, prefix: u64) -> Tag {
        let n = self.counter;
        self.counter = self.counter.wrapping_add(1);
        // Digits, a dot and dashes: always a valid tag, so no validation is needed.
        Tag(format!("{prefix}.--{n}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tag(s: &str) -> Tag {
        Tag::new(s).unwrap()
    }

    #[test]
    fn parses_one_comma_json() {
        let f = Frame::parse_text(r#"1603.--0,["admin","init",[2,2142,12]]"#).unwrap();
        assert_eq!(
            f,
            Frame::Json {
                tag: tag("1603.--0"),
                form: JsonForm::OneComma,
                body: json!(["admin", "init", [2, 2142, 12]]),
            }
        );
    }

    #[test]
    fn parses_two_comma_json() {
        let f = Frame::parse_text(r#"goodbye,,["admin","Conn","disconnect"]"#).unwrap();
        assert_eq!(
            f,
            Frame::Json {
                tag: tag("goodbye"),
                form: JsonForm::TwoCommas,
                body: json!(["admin", "Conn", "disconnect"]),
            }
        );
    }

    #[test]
    fn round_trips_both_forms() {
        for text in [
            r#"s1,["Conn",{"wid":"1@c.us","battery":80}]"#,
            r#"123.--4,,["query","exist","1@c.us"]"#,
            r#"t,{"status":200}"#,
            "t,",
            "t,,",
        ] {
            let f = Frame::parse_text(text).unwrap();
            assert_eq!(f.to_wire(), WireMessage::Text(text.to_owned()), "{text}");
        }
    }

    #[test]
    fn numbers_survive_a_round_trip() {
        // Found by the json_frame fuzz target: without correctly rounded float parsing, a long
        // integer came back as a different f64 after re-serialization.
        let text = format!("t,{{\"ttl\":2{}00}}", "7".repeat(97));
        let frame = Frame::parse_text(&text).unwrap();
        assert_eq!(Frame::parse(&frame.to_wire()).unwrap(), frame);
        let frame =
            Frame::parse_text("t,[0.1,1e308,-0.0,18446744073709551615,-9223372036854775808]")
                .unwrap();
        assert_eq!(Frame::parse(&frame.to_wire()).unwrap(), frame);
    }

    #[test]
    fn empty_body_is_null() {
        let f = Frame::parse_text("abc,").unwrap();
        assert_eq!(f, Frame::json(tag("abc"), JsonForm::OneComma, Value::Null));
    }

    #[test]
    fn third_comma_belongs_to_the_body() {
        // `t,,,` has body "," which is not JSON.
        assert!(matches!(
            Frame::parse_text("t,,,"),
            Err(FrameError::InvalidJson { .. })
        ));
    }

    #[test]
    fn parses_pong_and_keepalive() {
        assert_eq!(
            Frame::parse_text("!1606147375151").unwrap(),
            Frame::Pong {
                unix_ms: 1_606_147_375_151
            }
        );
        assert_eq!(Frame::parse_text("?,,").unwrap(), Frame::Keepalive);
        assert_eq!(Frame::Keepalive.to_wire(), WireMessage::Text("?,,".into()));
        assert_eq!(
            Frame::pong(Timestamp::from_unix_ms(42)).to_wire(),
            WireMessage::Text("!42".into())
        );
    }

    #[test]
    fn rejects_bad_pongs() {
        for text in ["!", "!+1", "!12a", "!1,", "!99999999999999999999999"] {
            assert_eq!(
                Frame::parse_text(text),
                Err(FrameError::InvalidPong),
                "{text}"
            );
        }
    }

    #[test]
    fn parses_binary_and_keeps_leading_comma_in_payload() {
        let f = Frame::parse_binary(b"preempt-1,,\x00\xff").unwrap();
        assert_eq!(f, Frame::binary(tag("preempt-1"), b",\x00\xff".to_vec()));
        assert_eq!(
            f.to_wire(),
            WireMessage::Binary(b"preempt-1,,\x00\xff".to_vec())
        );
        assert_eq!(
            Frame::parse_binary(b"x,").unwrap(),
            Frame::binary(tag("x"), Vec::new())
        );
    }

    #[test]
    fn typed_errors_for_malformed_input() {
        assert_eq!(Frame::parse_text("nocomma"), Err(FrameError::MissingComma));
        assert_eq!(Frame::parse_text(""), Err(FrameError::MissingComma));
        assert_eq!(
            Frame::parse_text(",{}"),
            Err(FrameError::InvalidTag(TagError::Empty))
        );
        assert_eq!(
            Frame::parse_text("a\nb,{}"),
            Err(FrameError::InvalidTag(TagError::Control))
        );
        assert_eq!(
            Frame::parse_binary(b"\xff\xfe,x"),
            Err(FrameError::TagNotUtf8)
        );
        assert_eq!(Frame::parse_binary(b"abc"), Err(FrameError::MissingComma));
        let long = format!("{},1", "a".repeat(MAX_TAG_LEN + 1));
        assert_eq!(
            Frame::parse_text(&long),
            Err(FrameError::InvalidTag(TagError::TooLong(MAX_TAG_LEN + 1)))
        );
        match Frame::parse_text("t,{\"a\":") {
            Err(FrameError::InvalidJson { line, column, .. }) => {
                assert_eq!((line, column), (1, 5));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn enforces_the_size_limit_before_parsing() {
        assert_eq!(
            Frame::parse_text_with_limit("t,[1,2,3]", 8),
            Err(FrameError::TooLong { len: 9, max: 8 })
        );
        assert!(Frame::parse_text_with_limit("t,[1,2,3]", 9).is_ok());
        assert_eq!(
            Frame::parse_with_limit(&WireMessage::Binary(vec![b','; 10]), 9),
            Err(FrameError::TooLong { len: 10, max: 9 })
        );
    }

    #[test]
    fn tag_validation() {
        assert_eq!(Tag::new("a,b"), Err(TagError::Comma));
        assert_eq!(Tag::new("!1"), Err(TagError::Bang));
        assert_eq!(Tag::new(""), Err(TagError::Empty));
        assert_eq!(tag("s1").as_str(), "s1");
    }

    #[test]
    fn tag_generator_long_and_short() {
        let now = Timestamp::from_unix_ms(1_606_147_375_151);
        let mut g = TagGenerator::new();
        assert_eq!(g.next_long(now).as_str(), "1606147375.--0");
        assert_eq!(g.next_short(now).as_str(), "375.--1");
        assert_eq!(g.next_long(now).as_str(), "1606147375.--2");
        assert_eq!(g.counter(), 3);
        let mut g = TagGenerator::with_counter(41);
        assert_eq!(g.next_short(now).as_str(), "375.--41");
    }
}
