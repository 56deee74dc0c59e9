//! The crrl-based XEdDSA against the curve25519-dalek implementation it replaced, kept here as an
//! oracle: the same signatures byte for byte, and the same verdict on valid, corrupted and
//! crafted signatures and on every kind of public key (low order, u = 0, u = −1, u ≥ p).

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::{Scalar, clamp_integer};
use curve25519_dalek::traits::IsIdentity;
use proptest::prelude::*;
use sha2::{Digest, Sha512};
use wa_crypto::{KeyPair, XeddsaSigningKey, xeddsa_sign, xeddsa_verify};

const HASH1_PREFIX: [u8; 32] = {
    let mut prefix = [0xFF; 32];
    prefix[0] = 0xFE;
    prefix
};

/// p = 2^255 − 19, little-endian.
const FIELD_PRIME: [u8; 32] = {
    let mut p = [0xFF; 32];
    p[0] = 0xED;
    p[31] = 0x7F;
    p
};

fn wide(hash: Sha512) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

fn challenge(big_r: &[u8; 32], public: &[u8; 32], message: &[u8]) -> Scalar {
    wide(
        Sha512::new()
            .chain_update(big_r)
            .chain_update(public)
            .chain_update(message),
    )
}

/// The former signer (spec XEdDSA on dalek).
fn oracle_sign(private: &[u8; 32], message: &[u8], random: &[u8; 64]) -> [u8; 64] {
    let k = Scalar::from_bytes_mod_order(clamp_integer(*private));
    let mut public = EdwardsPoint::mul_base(&k).compress().to_bytes();
    let sign_bit = public[31] >> 7;
    public[31] &= 0x7F;
    let a = if sign_bit == 1 { -k } else { k };
    let r = wide(
        Sha512::new()
            .chain_update(HASH1_PREFIX)
            .chain_update(a.as_bytes())
            .chain_update(message)
            .chain_update(random),
    );
    let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
    let s = r + challenge(&big_r, &public, message) * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&big_r);
    signature[32..].copy_from_slice(s.as_bytes());
    signature
}

/// The former verifier, step for step.
fn oracle_verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    if public_key.iter().rev().cmp(FIELD_PRIME.iter().rev()) != core::cmp::Ordering::Less {
        return false;
    }
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    let sign_bit = s_bytes[31] >> 7;
    s_bytes[31] &= 0x7F;
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let Some(a) = MontgomeryPoint(*public_key).to_edwards(sign_bit) else {
        return false;
    };
    let mut big_r = [0u8; 32];
    big_r.copy_from_slice(&signature[..32]);
    let h = challenge(&big_r, a.compress().as_bytes(), message);
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&-h, &a, &s).compress()
        == CompressedEdwardsY(big_r)
}

fn both_verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> (bool, bool) {
    (
        xeddsa_verify(public_key, message, signature).is_ok(),
        oracle_verify(public_key, message, signature),
    )
}

/// Public keys whose Edwards point is special or missing.
fn special_public_keys() -> Vec<[u8; 32]> {
    let from_hex = |text: &str| -> [u8; 32] {
        let mut bytes: [u8; 32] = hex::decode(text).unwrap().try_into().unwrap();
        bytes.reverse();
        bytes
    };
    let mut keys = vec![[0u8; 32], [0xFF; 32]];
    let mut one = [0u8; 32];
    one[0] = 1;
    keys.push(one);
    // p − 1 (u = −1, refused), p, p + 1 (not below p).
    for low in [0xEC, 0xED, 0xEE] {
        let mut key = FIELD_PRIME;
        key[0] = low;
        keys.push(key);
    }
    // The Montgomery points of order 8.
    keys.push(from_hex(
        "00b8495f16056286fdb1329ceb8d09da6ac49ff1fae35616aeb8413b7c7aebe0",
    ));
    keys.push(from_hex(
        "57119fd0dd4e22d8868e1c58c45c44045bef839c55b1d0b1248c50a3bc959c5f",
    ));
    keys
}

/// A signature valid under the cofactorless equation for a public key whose Edwards point has
/// small order: R = sB with (−h mod q)·A = 0, found by trying small s.
fn low_order_signature(public_key: &[u8; 32], sign_bit: u8, message: &[u8]) -> Option<[u8; 64]> {
    let a = MontgomeryPoint(*public_key).to_edwards(sign_bit)?;
    for seed in 1..=200u64 {
        let s = Scalar::from(seed);
        let big_r = EdwardsPoint::mul_base(&s).compress().to_bytes();
        let h = challenge(&big_r, a.compress().as_bytes(), message);
        // The verifiers multiply A by −h mod q, whose residue mod 8 is not that of −h.
        if (-h * a).is_identity() {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&big_r);
            signature[32..].copy_from_slice(s.as_bytes());
            signature[63] |= sign_bit << 7;
            return Some(signature);
        }
    }
    None
}

#[test]
fn special_public_keys_get_the_same_verdicts() {
    let mut accepted = 0;
    for key in special_public_keys() {
        for sign_bit in [0u8, 1] {
            if let Some(signature) = low_order_signature(&key, sign_bit, b"small order") {
                let verdicts = both_verify(&key, b"small order", &signature);
                assert_eq!(verdicts.0, verdicts.1, "{key:02x?} sign bit {sign_bit}");
                accepted += usize::from(verdicts.0);
            }
            let signature = oracle_sign(&[7; 32], b"m", &[sign_bit; 64]);
            let verdicts = both_verify(&key, b"m", &signature);
            assert_eq!(verdicts.0, verdicts.1, "{key:02x?}");
        }
    }
    // u = 0 with either sign bit (x = 0, "−0" included), u = 1 and the order-8 points.
    assert!(
        accepted >= 6,
        "crafted low-order signatures accepted: {accepted}"
    );
}

fn corrupt(
    signature: &mut [u8; 64],
    public_key: &mut [u8; 32],
    kind: u8,
    position: usize,
    value: u8,
) {
    match kind % 6 {
        0 => {}
        1 => signature[position % 64] ^= 1 << (value % 8),
        2 => signature[position % 64] = value,
        3 => signature[63] ^= 0x80,
        4 => public_key[position % 32] ^= 1 << (value % 8),
        _ => {
            // s + q: the same residue, not canonical (q is (q − 1) + 1).
            let s = Scalar::from_canonical_bytes(signature[32..].try_into().unwrap());
            if let Some(s) = Option::<Scalar>::from(s) {
                let q = (-Scalar::ONE).to_bytes();
                let mut carry = 1u16;
                for i in 0..32 {
                    let sum = u16::from(s.as_bytes()[i]) + u16::from(q[i]) + carry;
                    signature[32 + i] = sum as u8;
                    carry = sum >> 8;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn crrl_signs_as_dalek_did(
        private: [u8; 32],
        message in proptest::collection::vec(any::<u8>(), 0..100),
        random in proptest::array::uniform32(any::<u8>()),
        random_high in proptest::array::uniform32(any::<u8>()),
    ) {
        let mut z = [0u8; 64];
        z[..32].copy_from_slice(&random);
        z[32..].copy_from_slice(&random_high);
        let key = KeyPair::from_private_bytes(private);
        let expected = oracle_sign(&private, &message, &z);
        prop_assert_eq!(xeddsa_sign(&key, &message, &z), expected);
        let signing = XeddsaSigningKey::new(&key);
        prop_assert_eq!(signing.sign(&message, &z), expected);
        prop_assert_eq!(signing.public_bytes(), key.public_bytes());
    }

    #[test]
    fn crrl_verifies_as_dalek_did(
        private: [u8; 32],
        message in proptest::collection::vec(any::<u8>(), 0..100),
        random in proptest::array::uniform32(any::<u8>()),
        kind: u8,
        position: usize,
        value: u8,
    ) {
        let mut z = [0u8; 64];
        z[..32].copy_from_slice(&random);
        let mut public_key = KeyPair::from_private_bytes(private).public_bytes();
        let mut signature = oracle_sign(&private, &message, &z);
        corrupt(&mut signature, &mut public_key, kind, position, value);
        let (ours, theirs) = both_verify(&public_key, &message, &signature);
        prop_assert_eq!(ours, theirs);
        if kind % 6 == 0 {
            prop_assert!(ours);
        }
    }

    #[test]
    fn arbitrary_keys_and_signatures_get_the_same_verdicts(
        public_key: [u8; 32],
        r: [u8; 32],
        s: [u8; 32],
        message in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r);
        signature[32..].copy_from_slice(&s);
        // Mostly a canonical s, so the curve arithmetic is reached.
        signature[63] &= 0x8F;
        let (ours, theirs) = both_verify(&public_key, &message, &signature);
        prop_assert_eq!(ours, theirs);
    }
}
