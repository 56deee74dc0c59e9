//! Encrypting a 1:1 message straight into its wire form.
//!
//! The bytes are exactly what prost writes for `signal.SignalMessage` (and, before the peer has
//! answered, `signal.PreKeySignalMessage` around it): fields in tag number order, every present
//! optional field written. Writing them here instead of through prost's structs lets one buffer,
//! sized up front, take the headers, the ciphertext (encrypted into it in place, no copy) and the
//! MAC, which is computed over the ciphertext as it is produced (see
//! [`wa_crypto::aes256_cbc_encrypt_append`]). The `sealed_bytes_are_prosts` tests check the
//! equality with prost's encoding.

use wa_crypto::{AES_BLOCK_LEN, HmacSha256, aes256_cbc_encrypt_append};

use crate::keys::PublicKey;
use crate::session::MessageKeys;
use crate::wire::{MAC_LEN, VERSION_BYTE};

/// A 33-byte public key's field: tag, length, key.
const KEY_FIELD_LEN: usize = 2 + 33;

/// What a SignalMessage says besides its ciphertext, and the identities its MAC covers.
pub(crate) struct SealHeader<'a> {
    pub(crate) sender_identity: &'a PublicKey,
    pub(crate) receiver_identity: &'a PublicKey,
    pub(crate) ratchet_key: &'a PublicKey,
    pub(crate) counter: u32,
    pub(crate) previous_counter: u32,
}

/// The X3DH header of a PreKeySignalMessage.
pub(crate) struct PreKeyHeader<'a> {
    pub(crate) registration_id: u32,
    pub(crate) pre_key_id: Option<u32>,
    pub(crate) signed_pre_key_id: u32,
    pub(crate) base_key: &'a PublicKey,
    pub(crate) identity_key: &'a PublicKey,
}

fn varint_len(value: u64) -> usize {
    // 7 bits per byte; zero still takes one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A varint field (wire type 0): tag byte, then the value.
fn put_uint(out: &mut Vec<u8>, tag: u8, value: u32) {
    out.push(tag << 3);
    put_varint(out, u64::from(value));
}

fn put_key(out: &mut Vec<u8>, tag: u8, key: &PublicKey) {
    out.push((tag << 3) | 2);
    out.push(33);
    out.extend_from_slice(&key.to_wire());
}

/// Encrypts `plaintext` under `keys` and frames it: `0x33 ‖ SignalMessage ‖ MAC[..8]`, the MAC
/// being `HMAC(mac key, sender identity ‖ receiver identity ‖ 0x33 ‖ SignalMessage)` with the
/// identities in their 33-byte form; wrapped as `0x33 ‖ PreKeySignalMessage` when `pre_key`
/// is given.
pub(crate) fn seal(
    keys: &MessageKeys,
    header: &SealHeader<'_>,
    pre_key: Option<&PreKeyHeader<'_>>,
    plaintext: &[u8],
) -> Vec<u8> {
    let ciphertext_len = (plaintext.len() / AES_BLOCK_LEN + 1) * AES_BLOCK_LEN;
    let message_len = 1
        + KEY_FIELD_LEN
        + 1
        + varint_len(header.counter.into())
        + 1
        + varint_len(header.previous_counter.into())
        + 1
        + varint_len(ciphertext_len as u64)
        + ciphertext_len
        + MAC_LEN;
    let outer_len = pre_key.map_or(0, |p| {
        1 + p.pre_key_id.map_or(0, |id| 1 + varint_len(id.into()))
            + 2 * KEY_FIELD_LEN
            + 1
            + varint_len(message_len as u64)
            + 1
            + varint_len(p.registration_id.into())
            + 1
            + varint_len(p.signed_pre_key_id.into())
    });
    let mut out = Vec::with_capacity(outer_len + message_len);
    if let Some(p) = pre_key {
        // Tags 1 to 4 before the inner message, 5 and 6 after it.
        out.push(VERSION_BYTE);
        if let Some(id) = p.pre_key_id {
            put_uint(&mut out, 1, id);
        }
        put_key(&mut out, 2, p.base_key);
        put_key(&mut out, 3, p.identity_key);
        out.push((4 << 3) | 2);
        put_varint(&mut out, message_len as u64);
    }
    let message_start = out.len();
    out.push(VERSION_BYTE);
    put_key(&mut out, 1, header.ratchet_key);
    put_uint(&mut out, 2, header.counter);
    put_uint(&mut out, 3, header.previous_counter);
    out.push((4 << 3) | 2);
    put_varint(&mut out, ciphertext_len as u64);
    let mut mac = HmacSha256::new(&keys.mac);
    mac.update(&header.sender_identity.to_wire());
    mac.update(&header.receiver_identity.to_wire());
    mac.update(&out[message_start..]);
    aes256_cbc_encrypt_append(&keys.cipher, &keys.iv, plaintext, &mut out, Some(&mut mac));
    out.extend_from_slice(&mac.finalize()[..MAC_LEN]);
    debug_assert_eq!(out.len() - message_start, message_len);
    if let Some(p) = pre_key {
        put_uint(&mut out, 5, p.registration_id);
        put_uint(&mut out, 6, p.signed_pre_key_id);
    }
    debug_assert_eq!(out.len(), outer_len + message_len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_writer() {
        for value in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX.into(), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
        }
    }
}
