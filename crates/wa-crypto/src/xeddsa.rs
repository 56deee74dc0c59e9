//! XEdDSA signatures over Curve25519 (Montgomery) keys, as Signal and WhatsApp use them to sign
//! prekeys and device identities.
//!
//! Written from Signal's published XEdDSA specification (revision 1, 2016), "XEdDSA" over
//! Curve25519 / Ed25519. The arithmetic is whichever of `crrl` (its `ed25519` module) and
//! `curve25519-dalek` was faster here, measured piece by piece in CPU time: signing is all crrl
//! (constant-time fixed-base multiplications, scalar reduction and arithmetic, encodings);
//! verifying takes y from u with crrl's field inversion, then decodes A and computes `sB − hA`
//! with dalek (its variable-time double-scalar multiplication uses AVX2 where available and beat
//! crrl's). The tests keep the all-dalek implementation as an oracle: the same signatures byte
//! for byte and the same verdicts. The steps, from the spec:
//!
//! - `calculate_key_pair(k)`: `E = kB`; the Edwards public key `A` is `E` with its sign bit forced
//!   to 0, and the private scalar `a` is `k` or `-k` (mod q) so that `aB = A`.
//! - sign: `r = hash1(a ‖ M ‖ Z) mod q`, `R = rB`, `h = SHA-512(R ‖ A ‖ M) mod q`,
//!   `s = r + h·a mod q`; the signature is `R ‖ s`. `hash1(X)` is SHA-512 of the 32-byte
//!   little-endian encoding of `2^256 − 2` (`FE FF … FF`) followed by `X`.
//! - verify: refuse `u ≥ p`, a non-canonical `s` (the spec bounds `s` by `2^253`; we also refuse
//!   `q ≤ s < 2^253`, which no honest signer produces, so signatures are not malleable), turn `u`
//!   into the Edwards point `A`, and accept only if `R` equals the encoding of `sB − hA`.
//!
//! One deviation on the verifying side, forced by the deployed signers: curve25519-js (under npm
//! `libsignal`), npm `libsignal` and whatsapp-rust-bridge do not negate the key to force `A`'s sign
//! bit to 0; they sign with `A = kB` as it is and store its sign bit in the top bit of `s` (bit 255,
//! always 0 in a spec signature since `s < q < 2^253`). So the verifier takes `A`'s sign bit from
//! there and clears it before reading `s`. Spec signatures, which ours are, carry 0 there and
//! verify in all three peers (tested live); theirs verify here (known answers in
//! `tests/vectors/xeddsa.json`).

use crrl::ed25519::{Point, Scalar};
use crrl::field::GF25519;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar as DalekScalar;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::{Error, KeyPair};

/// Length of an XEdDSA signature.
pub const XEDDSA_SIGNATURE_LEN: usize = 64;

/// The prefix of the spec's `hash1`: the 32-byte little-endian encoding of `2^256 − 1 − 1`.
const HASH1_PREFIX: [u8; 32] = {
    let mut prefix = [0xFF; 32];
    prefix[0] = 0xFE;
    prefix
};

/// The field prime p = 2^255 − 19, little-endian, for the `u < p` check.
const FIELD_PRIME: [u8; 32] = {
    let mut p = [0xFF; 32];
    p[0] = 0xED;
    p[31] = 0x7F;
    p
};

/// A secret crrl scalar (`k`, `a`, `r`), overwritten with zero when dropped: crrl's scalars do
/// not implement `Zeroize` (and `unsafe` volatile writes are forbidden here), so the store is
/// kept alive by `black_box`, which the compiler honours on a best-effort basis.
struct SecretScalar(Scalar);

impl Drop for SecretScalar {
    fn drop(&mut self) {
        self.0 = Scalar::ZERO;
        core::hint::black_box(&mut self.0);
    }
}

/// Signs with a Curve25519 (Montgomery) key pair; `random` is the 64 random bytes Z of the spec.
///
/// The same key, message and `random` always give the same signature (for known-answer tests);
/// in production draw `random` fresh each time, or use [`xeddsa_sign_rng`]. A key that signs
/// often is better made into an [`XeddsaSigningKey`] once.
pub fn xeddsa_sign(key: &KeyPair, message: &[u8], random: &[u8; 64]) -> [u8; 64] {
    // Not through `XeddsaSigningKey`: a one-off signature has no use for the X25519 public key
    // that a signing key also computes (a field inversion, a tenth of the signature's cost).
    let (a, edwards_public, _) = edwards_form(&key.private_bytes());
    sign_with(&a, &edwards_public, message, random)
}

/// `calculate_key_pair` of the spec: the scalar `a` (`k` or `−k`, so that `aB` has sign bit 0)
/// encoded, `A = aB` encoded (sign bit 0), and `kB` itself.
fn edwards_form(private: &[u8; 32]) -> (Zeroizing<[u8; 32]>, [u8; 32], Point) {
    let mut clamped = Zeroizing::new(*private);
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    let k = SecretScalar(Scalar::decode_reduce(clamped.as_ref()));
    // Fixed-base multiplication with crrl's precomputed tables, in constant time.
    let point = Point::mulgen(&k.0);
    let mut edwards_public = point.encode();
    let sign_bit = edwards_public[31] >> 7;
    edwards_public[31] &= 0x7F;
    // a = −k when kB's sign bit is 1, chosen without a branch on that (secret) bit.
    let mut a = SecretScalar(k.0);
    a.0.set_cond(&-k.0, u32::from(sign_bit).wrapping_neg());
    (Zeroizing::new(a.0.encode()), edwards_public, point)
}

/// The signing equations, in constant time in the secrets (`a`, and `r` derived from it).
fn sign_with(
    a: &[u8; 32],
    edwards_public: &[u8; 32],
    message: &[u8],
    random: &[u8; 64],
) -> [u8; 64] {
    let mut nonce_hash = Sha512::new();
    nonce_hash.update(HASH1_PREFIX);
    nonce_hash.update(a);
    nonce_hash.update(message);
    nonce_hash.update(random);
    let r = SecretScalar(scalar_from_hash(nonce_hash));
    let big_r = Point::mulgen(&r.0).encode();

    let h = challenge(&big_r, edwards_public, message);
    // `a` is canonical (`encode` gives 0..q−1), so this reduction is only a decoding.
    let a = SecretScalar(Scalar::decode_reduce(a));
    let s = r.0 + h * a.0;

    let mut signature = [0u8; XEDDSA_SIGNATURE_LEN];
    signature[..32].copy_from_slice(&big_r);
    signature[32..].copy_from_slice(&s.encode());
    signature
}

/// A Curve25519 private key with its XEdDSA Edwards form computed once (`calculate_key_pair`):
/// the scalar `a` and the public point `A`. Signing with it then costs one fixed-base scalar
/// multiplication (`R = rB`) instead of two.
///
/// The scalar and the private key are wiped on drop and never shown by `Debug`.
#[derive(Clone)]
pub struct XeddsaSigningKey {
    private: Zeroizing<[u8; 32]>,
    /// `a`, little-endian, canonical (below q).
    a: Zeroizing<[u8; 32]>,
    /// `A`, sign bit 0.
    edwards_public: [u8; 32],
    /// The X25519 public key of the same private key (`E` on the Montgomery curve).
    montgomery_public: [u8; 32],
}

impl XeddsaSigningKey {
    /// From a key pair.
    pub fn new(key: &KeyPair) -> XeddsaSigningKey {
        XeddsaSigningKey::from_private_bytes(&key.private_bytes())
    }

    /// From a stored 32-byte X25519 private key (clamped here, as X25519 uses it). One
    /// fixed-base scalar multiplication gives both `A` and the X25519 public key.
    pub fn from_private_bytes(private: &[u8; 32]) -> XeddsaSigningKey {
        let (a, edwards_public, point) = edwards_form(private);
        XeddsaSigningKey {
            private: Zeroizing::new(*private),
            a,
            edwards_public,
            // u = (1 + y)/(1 − y); kB is never the neutral point (k is clamped, below 8q).
            montgomery_public: point.to_montgomery_u().encode(),
        }
    }

    /// The X25519 (Montgomery) public key: what verifiers are given.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.montgomery_public
    }

    /// The 32-byte private key, for persisting. Wiped when the wrapper is dropped.
    pub fn private_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.private.clone()
    }

    /// Signs `message`; `random` is the spec's Z (see [`xeddsa_sign`]).
    pub fn sign(&self, message: &[u8], random: &[u8; 64]) -> [u8; 64] {
        sign_with(&self.a, &self.edwards_public, message, random)
    }

    /// Signs `message` with Z drawn from `rng`.
    pub fn sign_rng<R: RngCore + CryptoRng>(&self, message: &[u8], rng: &mut R) -> [u8; 64] {
        let mut random = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(random.as_mut());
        self.sign(message, &random)
    }
}

impl core::fmt::Debug for XeddsaSigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("XeddsaSigningKey")
            .field("public", &crate::HexBytes(&self.montgomery_public))
            .field("private", &"<redacted>")
            .finish()
    }
}

/// Same as [`xeddsa_sign`], drawing Z from the RNG.
pub fn xeddsa_sign_rng<R: RngCore + CryptoRng>(
    key: &KeyPair,
    message: &[u8],
    rng: &mut R,
) -> [u8; 64] {
    let mut random = Zeroizing::new([0u8; 64]);
    rng.fill_bytes(random.as_mut());
    xeddsa_sign(key, message, &random)
}

/// Verifies against a 32-byte Montgomery public key. A signature whose length is not 64 is
/// `Err(Error::SignatureLength{..})`; a wrong signature `Err(Error::BadSignature)`.
///
/// Runs in variable time: every input is public.
pub fn xeddsa_verify(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<(), Error> {
    let signature: &[u8; XEDDSA_SIGNATURE_LEN] =
        signature.try_into().map_err(|_| Error::SignatureLength {
            expected: XEDDSA_SIGNATURE_LEN,
            actual: signature.len(),
        })?;
    if !less_than_le(public_key, &FIELD_PRIME) {
        return Err(Error::BadSignature);
    }
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    let sign_bit = s_bytes[31] >> 7;
    s_bytes[31] &= 0x7F;
    // Canonical s only (s < q; this implies the spec's s < 2^253).
    let s = Option::<DalekScalar>::from(DalekScalar::from_canonical_bytes(s_bytes))
        .ok_or(Error::BadSignature)?;
    let (a, a_encoded) = convert_mont(public_key, sign_bit).ok_or(Error::BadSignature)?;
    let mut big_r = [0u8; 32];
    big_r.copy_from_slice(&signature[..32]);
    let mut hash = Sha512::new();
    hash.update(big_r);
    hash.update(a_encoded);
    hash.update(message);
    let h = DalekScalar::from_bytes_mod_order_wide(&hash.finalize().into());
    // sB − hA: curve25519-dalek's double-scalar multiplication, faster here than crrl's (its
    // AVX2 backend, chosen at run time).
    let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-h, &a, &s).compress();
    // Public values: an ordinary comparison is fine. A non-canonical R never equals the canonical
    // encoding that `compress` gives, so it is refused here.
    if r_check.as_bytes() == &big_r {
        Ok(())
    } else {
        Err(Error::BadSignature)
    }
}

/// convert_mont(u) of the spec with the signature's sign bit (0 from spec signers): the Edwards
/// point with y = (u − 1)/(u + 1), and its canonical encoding. `u < p` is checked before.
/// `None` for u = −1 (the division fails; not a curve point) and for a y with no x.
///
/// y from crrl (its field inversion is faster than dalek's), the point from dalek's decoding,
/// for dalek's double-scalar multiplication.
fn convert_mont(u: &[u8; 32], sign_bit: u8) -> Option<(EdwardsPoint, [u8; 32])> {
    let (u, _) = GF25519::decode32(u);
    let denominator = u + GF25519::ONE;
    if denominator.iszero() != 0 {
        return None;
    }
    let mut encoded = ((u - GF25519::ONE) / denominator).encode();
    encoded[31] |= sign_bit << 7;
    let point = CompressedEdwardsY(encoded).decompress()?;
    // y is reduced, so `encoded` is the point's encoding, except for x = 0 (u = 0, y = −1) with
    // sign bit 1: "−0" is 0, the point (0, −1), encoded with sign bit 0.
    if u.iszero() != 0 {
        encoded[31] &= 0x7F;
    }
    Some((point, encoded))
}

/// `h = SHA-512(R ‖ A ‖ M) mod q`.
fn challenge(big_r: &[u8; 32], public: &[u8; 32], message: &[u8]) -> Scalar {
    let mut hash = Sha512::new();
    hash.update(big_r);
    hash.update(public);
    hash.update(message);
    scalar_from_hash(hash)
}

/// A SHA-512 digest read as a 512-bit little-endian integer, reduced mod q. The digest is wiped:
/// for `hash1` it is the nonce `r`.
fn scalar_from_hash(hash: Sha512) -> Scalar {
    let digest = Zeroizing::new(<[u8; 64]>::from(hash.finalize()));
    Scalar::decode_reduce(digest.as_ref())
}

/// `a < b` for 32-byte little-endian integers.
fn less_than_le(a: &[u8; 32], b: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::{EdwardsPoint, Scalar, scalar::clamp_integer};

    fn key(seed: u8) -> KeyPair {
        KeyPair::from_private_bytes([seed; 32])
    }

    #[test]
    fn sign_then_verify_both_sign_bits() {
        // Keys whose Edwards form has either sign bit: the negation branch is taken for some.
        let mut negated = 0;
        for seed in 1..=16u8 {
            let key = key(seed);
            let clamped = clamp_integer(*key.private_bytes());
            let e = EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order(clamped)).compress();
            negated += usize::from(e.as_bytes()[31] >> 7);
            let sig = xeddsa_sign(&key, b"message", &[seed; 64]);
            xeddsa_verify(&key.public_bytes(), b"message", &sig).expect("verifies");
        }
        assert!(
            negated > 0 && negated < 16,
            "both branches exercised ({negated}/16)"
        );
    }

    #[test]
    fn signing_key_matches_key_pair() {
        for seed in 1..=8u8 {
            let key = key(seed);
            let signing = XeddsaSigningKey::new(&key);
            assert_eq!(signing.public_bytes(), key.public_bytes());
            assert_eq!(*signing.private_bytes(), *key.private_bytes());
            assert_eq!(
                signing.sign(b"m", &[seed; 64]),
                xeddsa_sign(&key, b"m", &[seed; 64])
            );
            let private_hex: String = key
                .private_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let shown = format!("{signing:?}");
            assert!(shown.contains("<redacted>") && !shown.contains(&private_hex));
        }
    }

    #[test]
    fn field_prime_bound() {
        assert!(less_than_le(&[0; 32], &FIELD_PRIME));
        assert!(!less_than_le(&FIELD_PRIME, &FIELD_PRIME));
        let mut below = FIELD_PRIME;
        below[0] -= 1;
        assert!(less_than_le(&below, &FIELD_PRIME));
    }
}
