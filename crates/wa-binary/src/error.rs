//! Errors of the codec.

/// Why decoding failed, with the byte offset (into the decoded buffer) where it did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("binary node decode failed at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Offset of the byte where the problem was found.
    pub offset: usize,
    /// What went wrong, and what was expected.
    pub kind: DecodeErrorKind,
}

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended where more was expected.
    #[error("input ended; expected {expected}")]
    UnexpectedEnd {
        /// What was being read.
        expected: &'static str,
    },
    /// A length field claims more bytes than remain.
    #[error("{expected} claims {claimed} bytes but only {available} remain")]
    LengthPastEnd {
        /// What was being read.
        expected: &'static str,
        /// The length the field claims.
        claimed: u64,
        /// The bytes actually left.
        available: usize,
    },
    /// A tag byte that cannot appear here.
    #[error("unexpected tag {tag}; expected {expected}")]
    UnexpectedTag {
        /// The byte found.
        tag: u8,
        /// What was expected.
        expected: &'static str,
    },
    /// A single-byte token index outside the dictionary.
    #[error("byte {byte} is not a token of this dictionary")]
    UnknownToken {
        /// The token byte.
        byte: u8,
    },
    /// A double-byte token outside the dictionary (or any, for the legacy dictionary).
    #[error("double-byte token {dict}/{index} is not in this dictionary")]
    UnknownDoubleToken {
        /// Which double-byte dictionary (0..=3).
        dict: u8,
        /// The index in it.
        index: u8,
    },
    /// A packed nibble that is not a digit, `-` or `.` (15, the padding, only ends an odd
    /// string).
    #[error("nibble {value} is not a digit, `-` or `.` (15 only pads the end of an odd string)")]
    BadNibble {
        /// The 4-bit value.
        value: u8,
    },
    /// A packed string that is empty or longer than the 127 characters writers pack (such a
    /// string is written raw, so it could not be re-encoded in the same form).
    #[error("packed string of {chars} characters; writers pack 1 to 127")]
    PackedLength {
        /// Its length in characters.
        chars: usize,
    },
    /// A string that is not UTF-8.
    #[error("{expected} is not valid UTF-8")]
    InvalidUtf8 {
        /// What was being read.
        expected: &'static str,
    },
    /// A JID whose server is empty.
    #[error("JID without a server")]
    JidWithoutServer,
    /// A node whose list size is 0.
    #[error("node with an empty list; expected a list of at least the tag")]
    EmptyNode,
    /// A node whose tag is the empty string.
    #[error("node with an empty tag")]
    EmptyTag,
    /// STREAM_END where a node's tag was expected (legacy).
    #[error("stream end where a node tag was expected")]
    StreamEnd,
    /// Nesting deeper than the configured limit.
    #[error("nodes nested deeper than the limit of {limit}")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// Input longer than the configured limit.
    #[error("input of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Bytes left after the root node.
    #[error("{count} bytes left after the node")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// An empty frame (no flag byte).
    #[error("empty frame; expected a flag byte")]
    EmptyFrame,
    /// A compressed frame whose zlib stream is corrupt.
    #[error("compressed frame is not a valid zlib stream")]
    Inflate,
    /// A compressed frame that inflates past the configured limit.
    #[error("compressed frame inflates past the limit of {limit} bytes")]
    InflatedTooLarge {
        /// The limit.
        limit: usize,
    },
}

/// Why encoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A node's tag is empty (it would not decode).
    #[error("node with an empty tag cannot be encoded")]
    EmptyTag,
    /// A node with more attributes or children than a 16-bit list size holds.
    #[error("<{tag}> has a list of {count} items; at most 65535 fit")]
    ListTooLong {
        /// The node's tag.
        tag: String,
        /// The list size it would need.
        count: usize,
    },
    /// Bytes or a string longer than a 32-bit length holds.
    #[error("<{tag}> holds {len} bytes; at most 4294967295 fit")]
    TooLong {
        /// The node's tag.
        tag: String,
        /// The length.
        len: usize,
    },
    /// Nesting deeper than the configured limit (so that the peer would accept it).
    #[error("nodes nested deeper than the limit of {limit}")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
}
