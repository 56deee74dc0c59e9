//! Curve25519 (X25519) key pairs.

use core::fmt;

use rand_core::{CryptoRng, RngCore};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// A Curve25519 (X25519) key pair.
///
/// The private half is zeroized when the pair is dropped (x25519-dalek's `StaticSecret` with the
/// `zeroize` feature) and never shown by `Debug`, which prints only the public key.
///
/// Private keys are stored as given; clamping happens inside every scalar multiplication, as in
/// RFC 7748, so an unclamped private key from elsewhere (or a clamped one, as `curve25519-js`
/// stores it) yields the same public key and shared secrets.
#[derive(Clone)]
pub struct KeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl KeyPair {
    /// Generates a fresh key pair from `rng`.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> KeyPair {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        KeyPair::from_private_bytes(*bytes)
    }

    /// Rebuilds a key pair from a stored 32-byte private key.
    ///
    /// Take the array from a `Zeroizing` wrapper (as [`KeyPair::private_bytes`] returns) so the
    /// caller's copy is wiped too.
    pub fn from_private_bytes(bytes: [u8; 32]) -> KeyPair {
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret);
        KeyPair { secret, public }
    }

    /// The 32-byte public key (a Montgomery u-coordinate).
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// The 32-byte private key, for persisting a session. Wiped when the wrapper is dropped.
    pub fn private_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// X25519 Diffie–Hellman with `their_public`.
    ///
    /// Returns the raw 32-byte shared secret, as WhatsApp uses it (it is then run through HKDF).
    /// A low-order `their_public` gives all zeros; callers that must refuse that check
    /// [`is_all_zero`](crate::is_all_zero) or use a higher-level function that does
    /// (e.g. [`legacy::SessionKeys::from_secret`](crate::legacy::SessionKeys::from_secret)).
    pub fn shared_secret(&self, their_public: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*their_public));
        Zeroizing::new(shared.to_bytes())
    }
}

/// The private key is x25519-dalek's `StaticSecret`, which zeroizes itself on drop.
impl ZeroizeOnDrop for KeyPair {}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &crate::HexBytes(self.public.as_bytes()))
            .field("private", &"<redacted>")
            .finish()
    }
}
