//! Curve25519 (X25519) key pairs.
//!
//! The Diffie–Hellman is `crrl`'s (`crrl::x25519`): constant time, RFC 7748 exactly (the scalar
//! clamped inside, the top bit of u ignored, non-canonical u accepted, no input refused), and
//! faster here than x25519-dalek's ladder (measured in one process on the same inputs: 46–56 µs
//! against 72–93 µs). x25519-dalek stays as a dev-dependency: the tests compare both byte for
//! byte.
//!
//! Key generation (the fixed-base multiplication, then u = (Z + Y)/(Z − Y)) is this crate's
//! own (`fixed_base`: a 32×8 table of base-point multiples, 64 additions and 4 doublings, on
//! crrl's field arithmetic), measured against the others in one process on the same 2,000
//! scalars, best of 15 rounds: 11.5 µs in all, against crrl's `x25519_base` 14.8 µs (four
//! 16-entry tables, 60 doublings) and curve25519-dalek 4.1's
//! `EdwardsPoint::mul_base_clamped(..).to_montgomery()` 18.9 µs (its table 14.5 µs, then its
//! inversion; its larger runtime-built tables, before any inversion: 13.8 µs at radix 32, 15.3
//! at 64, 19.0 at 128, 28.0 at 256). ring's constant-time base-point code cannot be fed our RNG
//! or a stored private key. The tests compare the public keys with x25519-dalek's
//! `PublicKey::from` and crrl's byte for byte.

use core::fmt;

use crrl::ed25519::{Point, Scalar};
use crrl::field::GF25519;
use rand_core::{CryptoRng, RngCore};
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// A Curve25519 (X25519) key pair.
///
/// The private half is kept in a [`Zeroizing`] array, wiped when the pair is dropped, and never
/// shown by `Debug`, which prints only the public key.
///
/// Private keys are stored as given; clamping happens inside every scalar multiplication, as in
/// RFC 7748, so an unclamped private key from elsewhere (or a clamped one, as `curve25519-js`
/// stores it) yields the same public key and shared secrets.
#[derive(Clone)]
pub struct KeyPair {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl KeyPair {
    /// Generates a fresh key pair from `rng`.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> KeyPair {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        KeyPair::from_secret(secret)
    }

    /// Rebuilds a key pair from a stored 32-byte private key.
    ///
    /// Take the array from a `Zeroizing` wrapper (as [`KeyPair::private_bytes`] returns) so the
    /// caller's copy is wiped too.
    pub fn from_private_bytes(bytes: [u8; 32]) -> KeyPair {
        KeyPair::from_secret(Zeroizing::new(bytes))
    }

    /// Rebuilds a key pair stored as both halves, checking that `public` is `private`'s public
    /// key; `None` if it is not (a corrupt store).
    ///
    /// The same answer as `from_private_bytes(*private).public_bytes() == *public`, a little
    /// cheaper: the fixed-base multiplication ends in projective coordinates, u = X/Z, and is
    /// compared as X = u·Z instead of paying a field inversion for X/Z (`public` must be the
    /// canonical encoding of u, as every public key this type makes is).
    pub fn from_stored(private: &[u8; 32], public: &[u8; 32]) -> Option<KeyPair> {
        let secret = Zeroizing::new(*private);
        let mut clamped = Zeroizing::new(*private);
        clamped[0] &= 248;
        clamped[31] &= 127;
        clamped[31] |= 64;
        let scalar = Scalar::decode_reduce(clamped.as_ref());
        let (x, z) = Point::mulgen(&scalar).to_montgomery_u_projective();
        // `decode_ct` refuses encodings >= p (the top bit included): the comparison with
        // `from_private_bytes` is byte for byte, and that never gives a non-canonical key.
        let (u, canonical) = GF25519::decode_ct(public);
        // Z = 0 only for the neutral point (X is then nonzero), whose u `x25519_base` encodes
        // as 0; unreachable with a clamped scalar, kept so the two checks agree everywhere.
        let matches = x.equals(u * z) | (z.iszero() & u.iszero());
        if canonical & matches != 0 {
            Some(KeyPair {
                secret,
                public: *public,
            })
        } else {
            None
        }
    }

    fn from_secret(secret: Zeroizing<[u8; 32]>) -> KeyPair {
        let public = crate::fixed_base::x25519_base(&secret);
        KeyPair { secret, public }
    }

    /// The 32-byte public key (a Montgomery u-coordinate).
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public
    }

    /// The 32-byte private key, for persisting a session. Wiped when the wrapper is dropped.
    pub fn private_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.secret.clone()
    }

    /// X25519 Diffie–Hellman with `their_public`.
    ///
    /// Returns the raw 32-byte shared secret, as WhatsApp uses it (it is then run through HKDF).
    /// A low-order `their_public` gives all zeros; callers that must refuse that check
    /// [`is_all_zero`](crate::is_all_zero) or use a higher-level function that does
    /// (e.g. [`legacy::SessionKeys::from_secret`](crate::legacy::SessionKeys::from_secret)).
    pub fn shared_secret(&self, their_public: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        x25519_shared_secret(&self.secret, their_public)
    }
}

/// X25519 Diffie–Hellman of a stored private key with `their_public`, without building a
/// [`KeyPair`] (whose public half costs a fixed-base multiplication the exchange does not need).
///
/// The same bytes as `KeyPair::from_private_bytes(*private).shared_secret(their_public)`:
/// clamping is inside, a low-order `their_public` gives all zeros (see
/// [`KeyPair::shared_secret`]). The result is wiped when dropped; the caller keeps its own
/// `private` (take it from a `Zeroizing` wrapper).
pub fn x25519_shared_secret(private: &[u8; 32], their_public: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(crrl::x25519::x25519(their_public, private))
}

/// The private key is a `Zeroizing` array, wiped on drop.
impl ZeroizeOnDrop for KeyPair {}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &crate::HexBytes(&self.public))
            .field("private", &"<redacted>")
            .finish()
    }
}
