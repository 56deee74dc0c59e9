//! The stored form of every value: a format byte (1), then fixed-size fields and
//! length-prefixed (u32 big-endian) byte strings. Decoding checks every length against what is
//! left before taking it, so a corrupt row is an [`Error::Corrupt`], never a panic or a large
//! allocation (`fuzz/fuzz_targets/store_values.rs` holds it to that).

use wa_core::md::store::{
    AppStateSyncKey, AppStateVersion, Chat, Contact, DecryptedMessage, MAX_RESEND_DEVICES,
    OutboxEntry, OutboxKind, SentMessage,
};
use wa_crypto::KeyPair;
use wa_signal::{PreKey, PublicKey, SignedPreKey};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The value format this version writes and reads.
pub const VALUE_FORMAT: u8 = 1;

/// Builds a stored value.
struct Writer(Zeroizing<Vec<u8>>);

impl Writer {
    fn new() -> Writer {
        Writer(Zeroizing::new(vec![VALUE_FORMAT]))
    }
    fn bytes(mut self, b: &[u8]) -> Writer {
        self.0.extend_from_slice(b);
        self
    }
    fn lp(self, b: &[u8]) -> Writer {
        // Values are far below 4 GiB (the backends refuse larger rows); saturate rather than wrap.
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        self.bytes(&len.to_be_bytes()).bytes(b)
    }
    fn opt(self, s: &Option<String>) -> Writer {
        match s {
            Some(s) => self.bytes(&[1]).lp(s.as_bytes()),
            None => self.bytes(&[0]),
        }
    }
    fn done(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

/// Reads a stored value; every method fails (never panics) on short or malformed input.
struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Result<Reader<'a>> {
        match bytes.split_first() {
            Some((&VALUE_FORMAT, rest)) => Ok(Reader { rest, what }),
            _ => Err(Error::Corrupt { what }),
        }
    }
    fn corrupt(&self) -> Error {
        Error::Corrupt { what: self.what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(self.corrupt());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn bool(&mut self) -> Result<bool> {
        match self.take(1)? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(self.corrupt()),
        }
    }
    fn lp(&mut self) -> Result<&'a [u8]> {
        // The claimed length is checked against what is left before anything is allocated.
        let len = usize::try_from(self.u32()?).map_err(|_| self.corrupt())?;
        self.take(len)
    }
    fn string(&mut self) -> Result<String> {
        let bytes = self.lp()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| self.corrupt())
    }
    fn opt(&mut self) -> Result<Option<String>> {
        Ok(if self.bool()? {
            Some(self.string()?)
        } else {
            None
        })
    }
    fn end(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt())
        }
    }
}

/// Our identity key pair and registration id.
pub fn encode_local_identity(pair: &KeyPair, registration_id: u32) -> Zeroizing<Vec<u8>> {
    Writer::new()
        .bytes(&*pair.private_bytes())
        .bytes(&registration_id.to_be_bytes())
        .done()
}

/// See [`encode_local_identity`].
pub fn decode_local_identity(bytes: &[u8]) -> Result<(KeyPair, u32)> {
    let mut r = Reader::new(bytes, "local identity")?;
    let private = Zeroizing::new(r.array::<32>()?);
    let reg = r.u32()?;
    r.end()?;
    Ok((KeyPair::from_private_bytes(*private), reg))
}

/// A peer's identity key.
pub fn encode_public_key(key: &PublicKey) -> Zeroizing<Vec<u8>> {
    Writer::new().bytes(&key.0).done()
}

/// See [`encode_public_key`].
pub fn decode_public_key(bytes: &[u8]) -> Result<PublicKey> {
    let mut r = Reader::new(bytes, "identity key")?;
    let key = PublicKey(r.array()?);
    r.end()?;
    Ok(key)
}

/// A one-time prekey.
pub fn encode_pre_key(key: &PreKey) -> Zeroizing<Vec<u8>> {
    Writer::new()
        .bytes(&key.id.to_be_bytes())
        .bytes(&*key.key_pair.private_bytes())
        .done()
}

/// See [`encode_pre_key`].
pub fn decode_pre_key(bytes: &[u8]) -> Result<PreKey> {
    let mut r = Reader::new(bytes, "prekey")?;
    let id = r.u32()?;
    let private = Zeroizing::new(r.array::<32>()?);
    r.end()?;
    Ok(PreKey {
        id,
        key_pair: KeyPair::from_private_bytes(*private),
    })
}

/// A signed prekey.
pub fn encode_signed_pre_key(key: &SignedPreKey) -> Zeroizing<Vec<u8>> {
    Writer::new()
        .bytes(&key.id.to_be_bytes())
        .bytes(&*key.key_pair.private_bytes())
        .bytes(&key.signature)
        .done()
}

/// See [`encode_signed_pre_key`].
pub fn decode_signed_pre_key(bytes: &[u8]) -> Result<SignedPreKey> {
    let mut r = Reader::new(bytes, "signed prekey")?;
    let id = r.u32()?;
    let private = Zeroizing::new(r.array::<32>()?);
    let signature = r.array()?;
    r.end()?;
    Ok(SignedPreKey {
        id,
        key_pair: KeyPair::from_private_bytes(*private),
        signature,
    })
}

/// A UTF-8 string value (LID mappings, the device blob is raw bytes instead).
pub fn encode_string(s: &str) -> Zeroizing<Vec<u8>> {
    Writer::new().lp(s.as_bytes()).done()
}

/// See [`encode_string`].
pub fn decode_string(bytes: &[u8]) -> Result<String> {
    let mut r = Reader::new(bytes, "string")?;
    let s = r.string()?;
    r.end()?;
    Ok(s)
}

/// An opaque blob (the device credentials).
pub fn encode_blob(b: &[u8]) -> Zeroizing<Vec<u8>> {
    Writer::new().lp(b).done()
}

/// See [`encode_blob`].
pub fn decode_blob(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut r = Reader::new(bytes, "blob")?;
    let b = r.lp()?.to_vec();
    r.end()?;
    Ok(b)
}

/// A counter (the outbox sequence).
pub fn encode_u64(v: u64) -> Zeroizing<Vec<u8>> {
    Writer::new().bytes(&v.to_be_bytes()).done()
}

/// See [`encode_u64`].
pub fn decode_u64(bytes: &[u8]) -> Result<u64> {
    let mut r = Reader::new(bytes, "counter")?;
    let v = r.u64()?;
    r.end()?;
    Ok(v)
}

/// An app-state sync key.
pub fn encode_sync_key(key: &AppStateSyncKey) -> Zeroizing<Vec<u8>> {
    Writer::new()
        .lp(&key.data)
        .lp(&key.fingerprint)
        .bytes(&key.timestamp.to_be_bytes())
        .done()
}

/// See [`encode_sync_key`].
pub fn decode_sync_key(bytes: &[u8]) -> Result<AppStateSyncKey> {
    let mut r = Reader::new(bytes, "app-state sync key")?;
    let key = AppStateSyncKey {
        data: r.lp()?.to_vec(),
        fingerprint: r.lp()?.to_vec(),
        timestamp: r.i64()?,
    };
    r.end()?;
    Ok(key)
}

/// An app-state collection version.
pub fn encode_app_state_version(v: &AppStateVersion) -> Zeroizing<Vec<u8>> {
    Writer::new()
        .bytes(&v.version.to_be_bytes())
        .bytes(&v.hash)
        .done()
}

/// See [`encode_app_state_version`].
pub fn decode_app_state_version(bytes: &[u8]) -> Result<AppStateVersion> {
    let mut r = Reader::new(bytes, "app-state version")?;
    let v = AppStateVersion {
        version: r.u64()?,
        hash: r.array()?,
    };
    r.end()?;
    Ok(v)
}

/// A decrypt-buffer entry: delivered flag, sender, id, plaintext, then (since the hand-over
/// contract) the handed flag and the delivery time.
pub fn encode_decrypted(m: &DecryptedMessage) -> Zeroizing<Vec<u8>> {
    Writer::new()
        .bytes(&[u8::from(m.delivered)])
        .lp(m.sender.as_bytes())
        .lp(m.id.as_bytes())
        .lp(&m.plaintext)
        .bytes(&[u8::from(m.handed)])
        .bytes(&m.delivered_at.to_be_bytes())
        .done()
}

/// See [`encode_decrypted`]. An entry written before the trailer existed still reads: it counts
/// as handed once delivered (it was), with an unknown delivery time (0).
pub fn decode_decrypted(bytes: &[u8]) -> Result<DecryptedMessage> {
    let mut r = Reader::new(bytes, "decrypt-buffer entry")?;
    let delivered = r.bool()?;
    let sender = r.string()?;
    let id = r.string()?;
    let plaintext = r.lp()?.to_vec();
    let (handed, delivered_at) = if r.rest.is_empty() {
        (delivered, 0)
    } else {
        (r.bool()?, r.u64()?)
    };
    r.end()?;
    Ok(DecryptedMessage {
        sender,
        id,
        plaintext,
        delivered,
        handed,
        delivered_at,
    })
}

/// An outbox entry.
pub fn encode_outbox(e: &OutboxEntry) -> Zeroizing<Vec<u8>> {
    let kind = match e.kind {
        OutboxKind::Message => 1,
        OutboxKind::Receipt => 2,
    };
    Writer::new()
        .bytes(&[kind])
        .lp(e.to.as_bytes())
        .lp(&e.payload)
        .done()
}

/// See [`encode_outbox`].
pub fn decode_outbox(bytes: &[u8]) -> Result<OutboxEntry> {
    let mut r = Reader::new(bytes, "outbox entry")?;
    let kind = match r.take(1)? {
        [1] => OutboxKind::Message,
        [2] => OutboxKind::Receipt,
        _ => return Err(r.corrupt()),
    };
    let e = OutboxEntry {
        kind,
        to: r.string()?,
        payload: r.lp()?.to_vec(),
    };
    r.end()?;
    Ok(e)
}

/// A sent message kept for retry receipts: recipient, plaintext, send time, then the count of
/// devices answered and, per device, its JID and the highest retry count answered.
pub fn encode_sent(m: &SentMessage) -> Zeroizing<Vec<u8>> {
    let count = u32::try_from(m.resends.len()).unwrap_or(u32::MAX);
    let mut w = Writer::new()
        .lp(m.to.as_bytes())
        .lp(&m.message)
        .bytes(&m.sent_at.to_be_bytes())
        .bytes(&count.to_be_bytes());
    for (device, retries) in &m.resends {
        w = w.lp(device.as_bytes()).bytes(&retries.to_be_bytes());
    }
    w.done()
}

/// See [`encode_sent`]. A device count above [`MAX_RESEND_DEVICES`] is corrupt (checked before
/// anything is allocated for it).
pub fn decode_sent(bytes: &[u8]) -> Result<SentMessage> {
    let mut r = Reader::new(bytes, "sent message")?;
    let to = r.string()?;
    let message = r.lp()?.to_vec();
    let mut m = SentMessage {
        to,
        message,
        sent_at: r.u64()?,
        resends: Vec::new(),
    };
    let count = usize::try_from(r.u32()?).map_err(|_| r.corrupt())?;
    if count > MAX_RESEND_DEVICES {
        return Err(r.corrupt());
    }
    for _ in 0..count {
        let device = r.string()?;
        m.resends.push((device, r.u32()?));
    }
    r.end()?;
    Ok(m)
}

/// A message secret.
pub fn encode_secret(s: &[u8; 32]) -> Zeroizing<Vec<u8>> {
    Writer::new().bytes(s).done()
}

/// See [`encode_secret`].
pub fn decode_secret(bytes: &[u8]) -> Result<[u8; 32]> {
    let mut r = Reader::new(bytes, "message secret")?;
    let s = r.array()?;
    r.end()?;
    Ok(s)
}

/// A contact.
pub fn encode_contact(c: &Contact) -> Zeroizing<Vec<u8>> {
    Writer::new().opt(&c.name).opt(&c.notify).done()
}

/// See [`encode_contact`].
pub fn decode_contact(bytes: &[u8]) -> Result<Contact> {
    let mut r = Reader::new(bytes, "contact")?;
    let c = Contact {
        name: r.opt()?,
        notify: r.opt()?,
    };
    r.end()?;
    Ok(c)
}

/// A chat.
pub fn encode_chat(c: &Chat) -> Zeroizing<Vec<u8>> {
    Writer::new()
        .opt(&c.name)
        .bytes(&c.unread.to_be_bytes())
        .bytes(&[u8::from(c.archived)])
        .bytes(&c.muted_until.to_be_bytes())
        .bytes(&c.last_message_at.to_be_bytes())
        .done()
}

/// See [`encode_chat`].
pub fn decode_chat(bytes: &[u8]) -> Result<Chat> {
    let mut r = Reader::new(bytes, "chat")?;
    let c = Chat {
        name: r.opt()?,
        unread: r.u32()?,
        archived: r.bool()?,
        muted_until: r.i64()?,
        last_message_at: r.i64()?,
    };
    r.end()?;
    Ok(c)
}

/// A key made of several strings: each length-prefixed, so no separator can be forged.
pub fn composite_key(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Decodes every kind of value from the same bytes; what the fuzz target drives. Returns how
/// many decoded (the count is only there so the work is not optimised away).
pub fn decode_any(bytes: &[u8]) -> usize {
    [
        decode_local_identity(bytes).is_ok(),
        decode_public_key(bytes).is_ok(),
        decode_pre_key(bytes).is_ok(),
        decode_signed_pre_key(bytes).is_ok(),
        decode_string(bytes).is_ok(),
        decode_blob(bytes).is_ok(),
        decode_u64(bytes).is_ok(),
        decode_sync_key(bytes).is_ok(),
        decode_app_state_version(bytes).is_ok(),
        decode_decrypted(bytes).is_ok(),
        decode_outbox(bytes).is_ok(),
        decode_sent(bytes).is_ok(),
        decode_secret(bytes).is_ok(),
        decode_contact(bytes).is_ok(),
        decode_chat(bytes).is_ok(),
        wa_signal::SessionRecord::from_bytes(bytes).is_ok(),
        wa_signal::SenderKeyRecord::from_bytes(bytes).is_ok(),
    ]
    .into_iter()
    .filter(|ok| *ok)
    .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_truncations_are_corrupt() {
        let chat = Chat {
            name: Some("g".into()),
            unread: 3,
            archived: true,
            muted_until: -1,
            last_message_at: 7,
        };
        let bytes = encode_chat(&chat);
        assert_eq!(decode_chat(&bytes).unwrap(), chat);
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    decode_chat(&bytes[..cut]),
                    Err(Error::Corrupt { what: "chat" })
                ),
                "truncated at {cut}"
            );
        }
        let mut m = DecryptedMessage::new("a@s.whatsapp.net", "ID", vec![1, 2, 3]);
        assert_eq!(decode_decrypted(&encode_decrypted(&m)).unwrap(), m);
        m.handed = true;
        m.delivered_at = 1_700_000_000;
        assert_eq!(decode_decrypted(&encode_decrypted(&m)).unwrap(), m);
        let sent = SentMessage {
            to: "b@lid".into(),
            message: vec![10, 2, 104, 105],
            sent_at: 9,
            resends: vec![("b:2@lid".into(), 2)],
        };
        let bytes = encode_sent(&sent);
        assert_eq!(decode_sent(&bytes).unwrap(), sent);
        for cut in 0..bytes.len() {
            assert!(decode_sent(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
    }

    #[test]
    fn a_decrypt_buffer_entry_from_before_the_hand_over_trailer_still_reads() {
        // As the previous build wrote it: format, delivered, sender, id, plaintext; no trailer.
        let mut old = vec![VALUE_FORMAT, 1];
        for field in [&b"a@s.whatsapp.net"[..], b"ID", b""] {
            old.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
            old.extend_from_slice(field);
        }
        let m = decode_decrypted(&old).unwrap();
        assert!(
            m.delivered && m.handed,
            "a delivered legacy entry was handed over"
        );
        assert_eq!((m.id.as_str(), m.delivered_at), ("ID", 0));
        // A trailer cut short is corrupt, not a legacy entry.
        let mut cut = encode_decrypted(&m).to_vec();
        cut.pop();
        assert!(decode_decrypted(&cut).is_err());
    }

    #[test]
    fn a_sent_message_claiming_too_many_devices_is_corrupt() {
        let mut bytes = encode_sent(&SentMessage {
            to: "b@lid".into(),
            message: Vec::new(),
            sent_at: 0,
            resends: Vec::new(),
        })
        .to_vec();
        // The device count is the last field of an entry without resends.
        let at = bytes.len() - 4;
        bytes[at..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode_sent(&bytes), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn claimed_lengths_beyond_the_row_are_refused() {
        // format 1, then a length prefix of 4 GiB - 1 and two bytes.
        let bytes = [1, 0xff, 0xff, 0xff, 0xff, b'a', b'b'];
        assert!(matches!(decode_string(&bytes), Err(Error::Corrupt { .. })));
        assert!(matches!(
            decode_blob(&[2, 0, 0, 0, 0]),
            Err(Error::Corrupt { .. })
        ));
    }
}
