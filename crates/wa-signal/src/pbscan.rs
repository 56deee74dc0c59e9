//! A borrowing protobuf reader for the messages on the per-message path, SignalMessage (here)
//! and the stored session record (`record_decode`): prost copies every `bytes` field out of the
//! input (twice, through `Bytes`), which for a 10-KiB message costs as much as the AES-CBC
//! decryption. This reader hands out slices of the input instead, or copies a 32-byte key
//! straight into its place; its callers match whole keys (`tag << 3 | wire type`).
//!
//! It accepts and refuses exactly what prost 0.14 does for a message of optional scalar and
//! `bytes` fields (checked against prost on random and mutated input in the `scan_agrees_with_prost`
//! property test): varints of at most 10 bytes (the 10th at most 1), keys within `u32` with a
//! wire type 0 to 5 and a tag of at least 1, lengths within the input, unknown fields skipped
//! (groups to a nesting depth of 100), a later occurrence of a field replacing an earlier one,
//! a `uint32` being the low 32 bits of its varint.

/// Why the input is not a protobuf message (the caller reports it in its own terms).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invalid;

/// prost's recursion limit, which bounds the nesting of skipped groups.
const RECURSION_LIMIT: u32 = 100;

/// The fields of a message, in input order.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Fields<'a> {
        Fields { rest: input }
    }

    /// A varint. Keys, lengths, registration ids and chain indexes (below 2²¹) take one to
    /// three bytes: those are read without the loop (inlined into the field loops of the
    /// callers).
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, Invalid> {
        match *self.rest {
            [byte, ref rest @ ..] if byte < 0x80 => {
                self.rest = rest;
                Ok(u64::from(byte))
            }
            [low, high, ref rest @ ..] if high < 0x80 => {
                self.rest = rest;
                Ok(u64::from(low & 0x7F) | u64::from(high) << 7)
            }
            [low, mid, high, ref rest @ ..] if high < 0x80 => {
                self.rest = rest;
                Ok(u64::from(low & 0x7F) | u64::from(mid & 0x7F) << 7 | u64::from(high) << 14)
            }
            _ => self.varint_long(),
        }
    }

    /// [`Fields::varint`] of four bytes or more (or a truncated or over-long one).
    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64, Invalid> {
        let mut value = 0u64;
        for (count, &byte) in self.rest.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7F) << (count * 7);
            if byte < 0x80 {
                // The tenth byte holds bit 63 alone.
                if count == 9 && byte >= 0x02 {
                    return Err(Invalid);
                }
                self.rest = &self.rest[count + 1..];
                return Ok(value);
            }
        }
        Err(Invalid)
    }

    /// The number of bytes left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether the whole input has been read.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next key, checked as [`Fields::key`] checks it, whole (`tag << 3 | wire type`): a
    /// caller matches it against its fields' keys in one comparison each.
    #[inline(always)]
    pub(crate) fn raw_key(&mut self) -> Result<u32, Invalid> {
        let key = u32::try_from(self.varint()?).map_err(|_| Invalid)?;
        // A wire type above 5, or tag 0.
        if key & 7 > 5 || key < 8 {
            return Err(Invalid);
        }
        Ok(key)
    }

    /// A `bytes` value (its key read).
    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Invalid> {
        let len = self.varint()?;
        self.take(len)
    }

    /// A `bytes` value (its key read) copied into `out` if it is 32 bytes long: then `true`;
    /// another length leaves `out` as it was and gives `false` (the caller's field is then
    /// invalid unless a later occurrence replaces it).
    #[inline(always)]
    pub(crate) fn bytes32_into(&mut self, out: &mut [u8; 32]) -> Result<bool, Invalid> {
        // The usual encoding: a one-byte length, then the key copied straight in.
        if let [32, ref rest @ ..] = *self.rest
            && let Some((value, rest)) = rest.split_first_chunk::<32>()
        {
            out.copy_from_slice(value);
            self.rest = rest;
            return Ok(true);
        }
        let value = self.bytes()?;
        match <&[u8; 32]>::try_from(value) {
            Ok(value) => {
                out.copy_from_slice(value);
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    /// The field `key` (a one-byte key) with a 32-byte value in its usual form (a one-byte
    /// length) copied into `out`, if it comes next. Anything else (another field, another
    /// form, too short an input) is left unread, for the caller's general loop: `None`.
    #[inline(always)]
    pub(crate) fn next_key32(&mut self, key: u8, out: &mut [u8; 32]) -> Option<()> {
        if let [next, 32, ref rest @ ..] = *self.rest
            && next == key
            && let Some((value, rest)) = rest.split_first_chunk::<32>()
        {
            out.copy_from_slice(value);
            self.rest = rest;
            return Some(());
        }
        None
    }

    /// The varint field `key` (a one-byte key), if it comes next with a value of one to three
    /// bytes; anything else is left unread (`None`), as in [`Fields::next_key32`].
    #[inline(always)]
    pub(crate) fn next_key_varint(&mut self, key: u8) -> Option<u64> {
        match *self.rest {
            [next, byte, ref rest @ ..] if next == key && byte < 0x80 => {
                self.rest = rest;
                Some(u64::from(byte))
            }
            [next, low, high, ref rest @ ..] if next == key && high < 0x80 => {
                self.rest = rest;
                Some(u64::from(low & 0x7F) | u64::from(high) << 7)
            }
            [next, low, mid, high, ref rest @ ..] if next == key && high < 0x80 => {
                self.rest = rest;
                Some(u64::from(low & 0x7F) | u64::from(mid & 0x7F) << 7 | u64::from(high) << 14)
            }
            _ => None,
        }
    }

    /// Skips the value of a field no caller knows (its key, from [`Fields::raw_key`], read) in
    /// a message nested `level` deep (0 = the top): prost spends one level of its recursion
    /// limit per nested message, leaving fewer for skipped groups.
    #[inline(never)]
    pub(crate) fn skip(&mut self, key: u32, level: u32) -> Result<(), Invalid> {
        let depth = RECURSION_LIMIT.saturating_sub(level);
        self.skip_value(key >> 3, (key & 7) as u8, depth)
    }

    /// `(tag, wire type)`.
    fn key(&mut self) -> Result<(u32, u8), Invalid> {
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| Invalid)?;
        let wire_type = (key & 7) as u8;
        let tag = key >> 3;
        if wire_type > 5 || tag == 0 {
            return Err(Invalid);
        }
        Ok((tag, wire_type))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], Invalid> {
        let len = usize::try_from(len).map_err(|_| Invalid)?;
        if len > self.rest.len() {
            return Err(Invalid);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    /// Skips a field's value after its key; `depth` is the group nesting left.
    fn skip_value(&mut self, tag: u32, wire_type: u8, depth: u32) -> Result<(), Invalid> {
        if depth == 0 {
            return Err(Invalid);
        }
        match wire_type {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => {
                let len = self.varint()?;
                self.take(len).map(|_| ())
            }
            3 => loop {
                let (inner_tag, inner_type) = self.key()?;
                if inner_type == 4 {
                    if inner_tag != tag {
                        return Err(Invalid);
                    }
                    return Ok(());
                }
                self.skip_value(inner_tag, inner_type, depth - 1)?;
            },
            4 => Err(Invalid),
            _ => self.take(4).map(|_| ()),
        }
    }
}

/// The fields of a SignalMessage, as prost would decode them (`None` = absent).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SignalMessageFields<'a> {
    pub(crate) ratchet_key: Option<&'a [u8]>,
    pub(crate) counter: Option<u32>,
    pub(crate) previous_counter: Option<u32>,
    pub(crate) ciphertext: Option<&'a [u8]>,
}

impl<'a> SignalMessageFields<'a> {
    /// Reads a SignalMessage protobuf (tags 1 `bytes`, 2 and 3 `uint32`, 4 `bytes`).
    pub(crate) fn read(input: &'a [u8]) -> Result<SignalMessageFields<'a>, Invalid> {
        // Dispatched on the whole key, each value read where its field is matched (one
        // comparison per field, not a `Field` built and matched again).
        let mut fields = Fields::new(input);
        let mut out = SignalMessageFields::default();
        while !fields.is_empty() {
            match fields.raw_key()? {
                0x0A => out.ratchet_key = Some(fields.bytes()?),
                0x10 => out.counter = Some(fields.varint()? as u32),
                0x18 => out.previous_counter = Some(fields.varint()? as u32),
                0x22 => out.ciphertext = Some(fields.bytes()?),
                // A known field with another wire type.
                key if key >> 3 <= 4 => return Err(Invalid),
                key => fields.skip(key, 0)?,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use wa_proto::prost::Message as _;
    use wa_proto::signal as pb;

    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Input built from protobuf-ish pieces: keys of every tag and wire type (valid or not),
    /// varints (also over-long or over-wide), lengths that fit or not, groups, raw bytes.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (0u64..12, 0u64..8, any::<u64>()).prop_map(|(tag, wt, v)| {
                let mut out = Vec::new();
                varint((tag << 3) | wt, &mut out);
                varint(v >> (v % 64), &mut out);
                out
            }),
            (
                1u64..6,
                proptest::collection::vec(any::<u8>(), 0..40),
                0u8..3
            )
                .prop_map(|(tag, body, skew)| {
                    let mut out = Vec::new();
                    varint((tag << 3) | 2, &mut out);
                    varint(body.len() as u64 + u64::from(skew == 2), &mut out);
                    out.extend_from_slice(&body);
                    out
                }),
            (1u64..8, 0usize..4).prop_map(|(tag, depth)| {
                let mut out = Vec::new();
                for _ in 0..=depth {
                    varint((tag << 3) | 3, &mut out);
                }
                for _ in 0..=depth {
                    varint((tag << 3) | 4, &mut out);
                }
                out
            }),
            proptest::collection::vec(any::<u8>(), 0..12),
            Just(vec![0xFF; 10]),
            Just(vec![
                0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01
            ]),
            Just(vec![
                0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01
            ]),
            Just(vec![
                0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02
            ]),
        ]
    }

    fn agree(input: &[u8]) {
        let ours = SignalMessageFields::read(input);
        match (pb::SignalMessage::decode(input), ours) {
            (Ok(theirs), Ok(ours)) => {
                assert_eq!(ours.ratchet_key, theirs.ratchet_key.as_deref());
                assert_eq!(ours.counter, theirs.counter);
                assert_eq!(ours.previous_counter, theirs.previous_counter);
                assert_eq!(ours.ciphertext, theirs.ciphertext.as_deref());
            }
            (Err(_), Err(Invalid)) => {}
            (theirs, ours) => panic!("prost {theirs:?}, ours {ours:?} on {input:02x?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn scan_agrees_with_prost(pieces in proptest::collection::vec(piece(), 0..8)) {
            agree(&pieces.concat());
        }

        #[test]
        fn scan_agrees_with_prost_on_mutated_messages(
            counter in any::<u32>(),
            ciphertext in proptest::collection::vec(any::<u8>(), 0..300),
            at in any::<usize>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let message = pb::SignalMessage {
                ratchet_key: Some(vec![5; 33]),
                counter: Some(counter),
                previous_counter: Some(counter / 3),
                ciphertext: Some(ciphertext),
            };
            let mut bytes = message.encode_to_vec();
            agree(&bytes);
            let at = at % bytes.len();
            if cut {
                bytes.truncate(at);
            } else {
                bytes[at] = byte;
            }
            agree(&bytes);
        }
    }

    #[test]
    fn group_nesting_stops_where_prosts_does() {
        for depth in [98, 99, 100, 101] {
            let mut input = Vec::new();
            input.extend(std::iter::repeat_n(0x2Bu8, depth)); // tag 5, start group
            input.extend(std::iter::repeat_n(0x2Cu8, depth)); // tag 5, end group
            agree(&input);
        }
    }
}
