//! wa-crypto's authenticated CBC decryption (on x86-64 with SHA and AES instructions, the
//! stitched kernel of `x86_kernels`, the only `unsafe` code) against the same decryption
//! written from wa-crypto's portable one-shot functions (`hmac_sha256` on the `hmac` crate,
//! `aes256_cbc_decrypt_with_iv` on `cbc`): for any key, IV, header, ciphertext, trailer and
//! tag, both give the same plaintext or the same error. Then the input's ciphertext bytes are
//! encrypted after the header the same two ways (the stitched encryption, and the one-shot
//! CBC and HMAC functions): the same bytes and the same tag.
//!
//! Input: byte 0 is the header's length (its low 7 bits) and whether the tag is made
//! authentic here (bit 7); byte 1 the tag's length (1 to 32, from its low 5 bits); byte 2 the
//! trailer's length; then the AES key, the IV and the MAC key; the rest is the header, the
//! trailer, the given tag (when not made here) and the ciphertext. Authentic tags are flipped
//! in one bit when byte 2's top bit says so.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_crypto::{
    Error, HmacSha256, aes256_cbc_decrypt_authenticated, aes256_cbc_decrypt_with_iv,
    aes256_cbc_encrypt_append, aes256_cbc_encrypt_with_iv, hmac_sha256,
};

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Some(head)
}

/// The expected answer, from the portable functions: the tag first, then the decryption.
fn reference(
    key: &[u8; 32],
    iv: &[u8; 16],
    mac_key: &[u8],
    header: &[u8],
    ciphertext: &[u8],
    trailer: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, Error> {
    let full = hmac_sha256(mac_key, &[header, ciphertext, trailer]);
    if full[..tag.len()] != *tag {
        return Err(Error::HmacMismatch { what: "fuzz" });
    }
    aes256_cbc_decrypt_with_iv(key, iv, ciphertext)
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let Some(&[mode, tag_len, trailer_len]) = take(&mut data, 3)
        .map(|b| <[u8; 3]>::try_from(b).unwrap())
        .as_ref()
    else {
        return;
    };
    let (Some(key), Some(iv), Some(mac_key)) = (
        take(&mut data, 32),
        take(&mut data, 16),
        take(&mut data, 32),
    ) else {
        return;
    };
    let key: &[u8; 32] = key.try_into().unwrap();
    let iv: &[u8; 16] = iv.try_into().unwrap();
    let tag_len = usize::from(tag_len % 32) + 1;
    let (Some(header), Some(trailer)) = (
        take(&mut data, usize::from(mode & 0x7f)),
        take(&mut data, usize::from(trailer_len & 0x3f)),
    ) else {
        return;
    };
    let tag = if mode & 0x80 != 0 {
        let mut tag = hmac_sha256(mac_key, &[header, data, trailer]);
        if trailer_len & 0x80 != 0 {
            tag[usize::from(trailer_len) % tag_len] ^= 1;
        }
        tag[..tag_len].to_vec()
    } else {
        match take(&mut data, tag_len) {
            Some(tag) => tag.to_vec(),
            None => return,
        }
    };
    let ciphertext = data;
    let mut mac = HmacSha256::new(mac_key);
    mac.update(header);
    let ours = aes256_cbc_decrypt_authenticated(key, iv, ciphertext, mac, trailer, &tag, "fuzz");
    let expected = reference(key, iv, mac_key, header, ciphertext, trailer, &tag);
    match (&ours, &expected) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(Error::HmacMismatch { .. }), Err(Error::HmacMismatch { .. })) => {}
        // Authentic but not decryptable: the reference's one-shot decryption names the same
        // faults (empty, not whole blocks, bad padding) in its own variants.
        (Err(a), Err(b))
            if !matches!(a, Error::HmacMismatch { .. })
                && !matches!(b, Error::HmacMismatch { .. }) => {}
        _ => panic!("ours {ours:?}, reference {expected:?}"),
    }
    // Encrypting the same bytes: the stitched encryption against the one-shot functions.
    let mut mac = HmacSha256::new(mac_key);
    mac.update(header);
    let mut sealed = header.to_vec();
    aes256_cbc_encrypt_append(key, iv, ciphertext, &mut sealed, Some(&mut mac));
    assert_eq!(
        sealed[header.len()..],
        aes256_cbc_encrypt_with_iv(key, iv, ciphertext)
    );
    assert_eq!(mac.finalize(), hmac_sha256(mac_key, &[&sealed]));
});
