//! AES-256-GCM, AES-256-CTR and PBKDF2-SHA256: the multi-device protocol's symmetric primitives,
//! as length-checked wrappers over RustCrypto's `aes-gcm`, `ctr` and `pbkdf2`.

use aes::Aes256;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use ctr::cipher::{KeyIvInit, StreamCipher};

use crate::Error;

/// AES-GCM nonce (IV) length.
pub const GCM_NONCE_LEN: usize = 12;
/// AES-GCM authentication tag length (appended to every ciphertext).
pub const GCM_TAG_LEN: usize = 16;
/// AES-CTR IV length (the initial 128-bit big-endian counter block).
pub const CTR_IV_LEN: usize = 16;

/// AES-256-GCM encryption; returns `ciphertext ‖ tag` (16 bytes longer than `plaintext`).
pub fn aes256_gcm_encrypt(
    key: &[u8; 32],
    nonce: &[u8; GCM_NONCE_LEN],
    associated_data: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    gcm_seal(
        &Aes256Gcm::new(key.into()),
        nonce,
        associated_data,
        plaintext,
    )
}

/// AES-256-GCM decryption of `ciphertext ‖ tag`; the tag is checked (by `aes-gcm`, in constant
/// time) before any plaintext is returned.
///
/// # Errors
/// [`Error::TooShort`] under 16 bytes, [`Error::AeadTagMismatch`] if the tag does not verify.
pub fn aes256_gcm_decrypt(
    key: &[u8; 32],
    nonce: &[u8; GCM_NONCE_LEN],
    associated_data: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Vec<u8>, Error> {
    gcm_open(
        &Aes256Gcm::new(key.into()),
        nonce,
        associated_data,
        ciphertext_and_tag,
        "AES-GCM ciphertext",
    )
}

/// Encrypts with a prepared cipher (its key schedule computed once); `ciphertext ‖ tag`.
pub(crate) fn gcm_seal(
    cipher: &Aes256Gcm,
    nonce: &[u8; GCM_NONCE_LEN],
    associated_data: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + GCM_TAG_LEN);
    out.extend_from_slice(plaintext);
    // Fails only for plaintexts over GCM's 64 GiB limit, which a Vec on any supported target
    // holding a frame (at most 16 MiB) never reaches.
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(nonce), associated_data, &mut out)
        .expect("AES-GCM plaintext within the 2^36-byte limit");
    out.extend_from_slice(&tag);
    out
}

/// Decrypts `ciphertext ‖ tag` with a prepared cipher.
pub(crate) fn gcm_open(
    cipher: &Aes256Gcm,
    nonce: &[u8; GCM_NONCE_LEN],
    associated_data: &[u8],
    ciphertext_and_tag: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    let Some(body_len) = ciphertext_and_tag.len().checked_sub(GCM_TAG_LEN) else {
        return Err(Error::TooShort {
            what,
            min: GCM_TAG_LEN,
            actual: ciphertext_and_tag.len(),
        });
    };
    let (body, tag) = ciphertext_and_tag.split_at(body_len);
    let mut out = body.to_vec();
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            associated_data,
            &mut out,
            Tag::from_slice(tag),
        )
        .map_err(|_| Error::AeadTagMismatch { what })?;
    Ok(out)
}

/// AES-256-CTR with a 128-bit big-endian counter starting at `iv` (Node's `aes-256-ctr`, used by
/// pairing-code linking). Encryption and decryption are the same operation.
pub fn aes256_ctr_apply(key: &[u8; 32], iv: &[u8; CTR_IV_LEN], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    // A 128-bit counter cannot run out for any input a Vec can hold.
    ctr::Ctr128BE::<Aes256>::new(key.into(), iv.into()).apply_keystream(&mut out);
    out
}

/// PBKDF2-HMAC-SHA256 of `password` and `salt` with `rounds` iterations into `out` (pairing
/// codes use 131,072 rounds and 32 bytes).
///
/// # Errors
/// [`Error::InvalidParameter`] for zero rounds or an empty `out`.
pub fn pbkdf2_sha256(
    password: &[u8],
    salt: &[u8],
    rounds: u32,
    out: &mut [u8],
) -> Result<(), Error> {
    if rounds == 0 || out.is_empty() {
        return Err(Error::InvalidParameter {
            what: "PBKDF2-SHA256 needs at least one round and one output byte",
        });
    }
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn gcm_matches_nist_test_case_16() {
        // McGrew & Viega, "The GCM Mode of Operation", test case 16 (AES-256, 60-byte
        // plaintext, 20-byte AD, 96-bit IV).
        let key: [u8; 32] =
            unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
                .try_into()
                .unwrap();
        let iv: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
        let plaintext = unhex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let ad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let sealed = aes256_gcm_encrypt(&key, &iv, &ad, &plaintext);
        assert_eq!(
            hex::encode(&sealed),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b"
        );
        assert_eq!(
            aes256_gcm_decrypt(&key, &iv, &ad, &sealed).unwrap(),
            plaintext
        );
    }

    #[test]
    fn gcm_rejects_any_flipped_bit_and_short_input() {
        let key = [7u8; 32];
        let iv = [1u8; 12];
        let sealed = aes256_gcm_encrypt(&key, &iv, b"ad", b"hello");
        for i in 0..sealed.len() * 8 {
            let mut bad = sealed.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(matches!(
                aes256_gcm_decrypt(&key, &iv, b"ad", &bad),
                Err(Error::AeadTagMismatch { .. })
            ));
        }
        assert!(matches!(
            aes256_gcm_decrypt(&key, &iv, b"other ad", &sealed),
            Err(Error::AeadTagMismatch { .. })
        ));
        assert!(matches!(
            aes256_gcm_decrypt(&key, &iv, b"ad", &sealed[..15]),
            Err(Error::TooShort {
                min: 16,
                actual: 15,
                ..
            })
        ));
        // An empty plaintext still has its tag checked.
        let empty = aes256_gcm_encrypt(&key, &iv, b"", b"");
        assert_eq!(empty.len(), 16);
        assert_eq!(aes256_gcm_decrypt(&key, &iv, b"", &empty).unwrap(), b"");
    }

    #[test]
    fn ctr_matches_nist_sp800_38a_f5_5() {
        // NIST SP 800-38A, F.5.5 CTR-AES256.Encrypt (first two blocks).
        let key: [u8; 32] =
            unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
                .try_into()
                .unwrap();
        let iv: [u8; 16] = unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
            .try_into()
            .unwrap();
        let plaintext = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let ciphertext = aes256_ctr_apply(&key, &iv, &plaintext);
        assert_eq!(
            hex::encode(&ciphertext),
            "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
        );
        assert_eq!(aes256_ctr_apply(&key, &iv, &ciphertext), plaintext);
    }

    #[test]
    fn ctr_counter_carries_across_all_128_bits() {
        // With IV = ff..ff the second block's counter is 00..00 (a 128-bit big-endian carry),
        // which is what Node's aes-256-ctr does; a 64-bit counter would differ.
        let key = [3u8; 32];
        let data = [0u8; 32];
        let keystream = aes256_ctr_apply(&key, &[0xff; 16], &data);
        let from_zero = aes256_ctr_apply(&key, &[0; 16], &data[..16]);
        assert_eq!(keystream[16..], from_zero[..]);
    }

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64).
        let mut out = [0u8; 64];
        pbkdf2_sha256(b"passwd", b"salt", 1, &mut out).unwrap();
        assert_eq!(
            hex::encode(out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        assert!(matches!(
            pbkdf2_sha256(b"p", b"s", 0, &mut out),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            pbkdf2_sha256(b"p", b"s", 1, &mut []),
            Err(Error::InvalidParameter { .. })
        ));
    }
}
