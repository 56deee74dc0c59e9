//! Session state: X3DH's result and the Double Ratchet over it, with bounded skipped keys,
//! receiver chains and previous sessions.
//!
//! KDFs (Signal's, as WhatsApp runs them):
//! - root: `HKDF(salt = root key, ikm = DH(ours, theirs), info = "WhisperRatchet")` → 64 bytes:
//!   the next root key, then the new chain key;
//! - chain: message key seed `HMAC(chain key, 0x01)`, next chain key `HMAC(chain key, 0x02)`;
//! - message keys: `HKDF(salt = 0³², ikm = seed, info = "WhisperMessageKeys")` → 80 bytes: AES-256
//!   key, HMAC key, CBC IV.

use wa_crypto::{
    CryptoRng, HmacSha256Key, KeyPair, RngCore, hkdf_sha256, is_all_zero, x25519_shared_secret,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::wire::{PreKeyHeader, SealHeader, SignalMessageRef, seal};

/// How far ahead of its chain a message may be (keys derived and kept for the skipped ones).
pub const MAX_FORWARD_JUMP: u32 = 2000;
/// Skipped message keys kept per session, over all its receiver chains (oldest dropped first).
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// Receiver chains kept per session (the peer's last ratchet keys).
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// Previous sessions kept per peer besides the current one (a peer may still send in them).
pub const MAX_PREVIOUS_SESSIONS: usize = 10;

/// Wipes secret bytes with one bulk write: zeroize's wipe of a slice (a fill the optimiser must
/// keep). Its wipe of an array writes each byte on its own, volatile: a 32-byte key costs 32
/// stores, and the per-message path drops some 300 bytes of keys.
pub(crate) fn wipe(bytes: &mut [u8]) {
    bytes.zeroize();
}

/// 32 secret bytes (a root key, a ratchet private key, a message key seed), wiped on drop with
/// one bulk write ([`wipe`]) where `Zeroizing<[u8; 32]>` stores each byte on its own.
#[derive(Clone)]
pub(crate) struct Secret32(pub(crate) [u8; 32]);

impl Drop for Secret32 {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl ZeroizeOnDrop for Secret32 {}

impl core::ops::Deref for Secret32 {
    type Target = [u8; 32];
    fn deref(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::ops::DerefMut for Secret32 {
    fn deref_mut(&mut self) -> &mut [u8; 32] {
        &mut self.0
    }
}

/// A 32-byte chain key and the index of the next message key it gives.
#[derive(Clone)]
pub(crate) struct ChainKey {
    pub(crate) key: [u8; 32],
    pub(crate) index: u32,
}

impl Drop for ChainKey {
    fn drop(&mut self) {
        wipe(&mut self.key);
    }
}

impl ZeroizeOnDrop for ChainKey {}

impl ChainKey {
    /// The message key seed at this index; the chain moves to the next key. Both outputs come
    /// from one keyed HMAC state (keying is half of a short HMAC's cost), computed side by side
    /// (two independent chains of compressions, which the processor overlaps).
    pub(crate) fn advance(&mut self) -> Secret32 {
        let keyed = HmacSha256Key::new(&self.key);
        let (seed, next) = keyed.mac_pair(&[0x01], &[0x02]);
        let seed = Secret32(seed);
        self.key = next;
        self.index = self.index.wrapping_add(1);
        seed
    }
}

/// The AES key, HMAC key and IV of one message.
pub(crate) struct MessageKeys {
    pub(crate) cipher: [u8; 32],
    pub(crate) mac: [u8; 32],
    pub(crate) iv: [u8; 16],
}

impl Drop for MessageKeys {
    fn drop(&mut self) {
        wipe(&mut self.cipher);
        wipe(&mut self.mac);
        wipe(&mut self.iv);
    }
}

impl ZeroizeOnDrop for MessageKeys {}

impl MessageKeys {
    pub(crate) fn from_seed(seed: &[u8; 32]) -> MessageKeys {
        let mut keys = MessageKeys {
            cipher: [0; 32],
            mac: [0; 32],
            iv: [0; 16],
        };
        let mut out = [0u8; 80];
        let derived = hkdf_sha256(seed, None, b"WhisperMessageKeys", &mut out);
        keys.cipher.copy_from_slice(&out[..32]);
        keys.mac.copy_from_slice(&out[32..64]);
        keys.iv.copy_from_slice(&out[64..]);
        wipe(&mut out);
        derived.expect("80 bytes is in range");
        keys
    }
}

/// `DH(ours, theirs)`, refusing a low-order peer key (all-zero output).
pub(crate) fn dh(ours: &KeyPair, theirs: &PublicKey) -> Result<Zeroizing<[u8; 32]>> {
    contributory(ours.shared_secret(&theirs.0))
}

/// [`dh`] from our private key alone (a ratchet step's: its public half is not needed).
pub(crate) fn dh_private(ours: &[u8; 32], theirs: &PublicKey) -> Result<Zeroizing<[u8; 32]>> {
    contributory(x25519_shared_secret(ours, &theirs.0))
}

fn contributory(shared: Zeroizing<[u8; 32]>) -> Result<Zeroizing<[u8; 32]>> {
    if is_all_zero(shared.as_ref()) {
        return Err(Error::Crypto(wa_crypto::Error::NonContributoryKey {
            what: "peer ratchet key",
        }));
    }
    Ok(shared)
}

/// The root KDF step, from our ratchet private key.
pub(crate) fn root_step(
    root: &[u8; 32],
    ours: &[u8; 32],
    theirs: &PublicKey,
) -> Result<([u8; 32], ChainKey)> {
    let shared = dh_private(ours, theirs)?;
    let mut out = [0u8; 64];
    let derived = hkdf_sha256(shared.as_ref(), Some(root), b"WhisperRatchet", &mut out);
    let mut new_root = [0u8; 32];
    new_root.copy_from_slice(&out[..32]);
    let mut chain = ChainKey {
        key: [0; 32],
        index: 0,
    };
    chain.key.copy_from_slice(&out[32..]);
    wipe(&mut out);
    derived.expect("64 bytes is in range");
    Ok((new_root, chain))
}

/// Our current ratchet key as a record keeps it: the public half, sent in every message, and
/// the private half, needed only for the Diffie–Hellman of the next ratchet step.
///
/// The halves are not checked against each other on the way to a decrypted message: loading a
/// record must not cost a curve operation (a record is loaded for every message), and neither
/// must a ratchet step, whose Diffie–Hellman uses the private half alone. A stored pair whose
/// halves differ still cannot go unnoticed: a wrong private half gives a wrong chain, so the
/// message that needed it fails its MAC, and only then are the halves compared
/// ([`RatchetKey::halves_match`]) to answer [`Error::CorruptRecord`] instead of
/// [`Error::BadMac`] (the stored record untouched either way). A wrong public half alone is
/// harmless to receiving (the peer answered the key we sent) and is discarded by the step.
#[derive(Clone)]
pub(crate) struct RatchetKey {
    pub(crate) public: PublicKey,
    pub(crate) private: Secret32,
}

impl RatchetKey {
    /// A freshly made (or loaded and checked) key pair.
    pub(crate) fn from_pair(pair: &KeyPair) -> RatchetKey {
        RatchetKey {
            public: PublicKey::of(pair),
            private: Secret32(*pair.private_bytes()),
        }
    }

    /// Whether the public half is the private half's (one fixed-base multiplication, compared
    /// without its final inversion: `KeyPair::from_stored`). Diagnostic only: asked after a
    /// message failed to authenticate, to tell a corrupt record from a bad message.
    pub(crate) fn halves_match(&self) -> bool {
        KeyPair::from_stored(&self.private, &self.public.0).is_some()
    }
}

/// Our sending chain: our current ratchet key and chain key.
#[derive(Clone)]
pub(crate) struct SenderChain {
    pub(crate) ratchet: RatchetKey,
    pub(crate) chain: ChainKey,
}

/// A chain of the peer's: its ratchet key, chain key, and keys kept for messages not yet seen.
#[derive(Clone)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet: PublicKey,
    pub(crate) chain: ChainKey,
    /// (index, message key seed), oldest first.
    pub(crate) skipped: Vec<(u32, Secret32)>,
}

/// Set by the initiator until the peer answers: every message goes out as a `pkmsg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingPreKey {
    pub(crate) pre_key_id: Option<u32>,
    pub(crate) signed_pre_key_id: u32,
    pub(crate) base_key: PublicKey,
}

/// One session with a peer.
#[derive(Clone)]
pub(crate) struct SessionState {
    pub(crate) local_identity: PublicKey,
    pub(crate) remote_identity: PublicKey,
    pub(crate) local_registration_id: u32,
    pub(crate) remote_registration_id: u32,
    pub(crate) root_key: Secret32,
    pub(crate) base_key: PublicKey,
    pub(crate) sender: SenderChain,
    /// Most recent first.
    pub(crate) receivers: Vec<ReceiverChain>,
    pub(crate) previous_counter: u32,
    pub(crate) pending: Option<PendingPreKey>,
}

/// What `encrypt` made.
pub(crate) struct Encrypted {
    pub(crate) pre_key: bool,
    pub(crate) bytes: Vec<u8>,
}

impl SessionState {
    /// Encrypts with the next key of the sending chain and advances it.
    pub(crate) fn encrypt(&mut self, plaintext: &[u8]) -> Encrypted {
        let counter = self.sender.chain.index;
        let seed = self.sender.chain.advance();
        let keys = MessageKeys::from_seed(&seed);
        let header = SealHeader {
            sender_identity: &self.local_identity,
            receiver_identity: &self.remote_identity,
            ratchet_key: &self.sender.ratchet.public,
            counter,
            previous_counter: self.previous_counter,
        };
        // Until the peer answers, the message goes inside a PreKeySignalMessage, framed in
        // the same buffer.
        let pre_key = self.pending.as_ref().map(|pending| PreKeyHeader {
            registration_id: self.local_registration_id,
            pre_key_id: pending.pre_key_id,
            signed_pre_key_id: pending.signed_pre_key_id,
            base_key: &pending.base_key,
            identity_key: &self.local_identity,
        });
        Encrypted {
            pre_key: pre_key.is_some(),
            bytes: seal(&keys, &header, pre_key.as_ref(), plaintext),
        }
    }

    /// Decrypts in place. On error `self` may be half-changed: callers work on a copy and keep it
    /// only on success.
    pub(crate) fn decrypt<R: RngCore + CryptoRng>(
        &mut self,
        message: &SignalMessageRef<'_>,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let (position, replaced) = match self
            .receivers
            .iter()
            .position(|c| c.ratchet == message.ratchet_key)
        {
            Some(position) => (position, None),
            None => (0, Some(self.ratchet_step(&message.ratchet_key, rng)?)),
        };
        let seed = self.take_message_seed(position, message.counter)?;
        let keys = MessageKeys::from_seed(&seed);
        let plaintext = match message.open(&keys, &self.remote_identity, &self.local_identity) {
            Ok(plaintext) => plaintext,
            // The step's key came from a private half that may not be the stored public
            // half's: a corrupt record, if so, is the answer (see `RatchetKey`).
            Err(Error::BadMac) if replaced.as_ref().is_some_and(|old| !old.halves_match()) => {
                return Err(Error::CorruptRecord {
                    what: "session record (ratchet key halves differ)",
                });
            }
            Err(e) => return Err(e),
        };
        // The peer has our messages: stop sending the X3DH header.
        self.pending = None;
        Ok(plaintext)
    }

    /// A new ratchet key from the peer: a receiving chain for it, then a new sending chain.
    /// Returns our ratchet key it replaced.
    fn ratchet_step<R: RngCore + CryptoRng>(
        &mut self,
        theirs: &PublicKey,
        rng: &mut R,
    ) -> Result<RatchetKey> {
        let (root, receiving) = root_step(&self.root_key, &self.sender.ratchet.private, theirs)?;
        let ours = KeyPair::generate(rng);
        let (root, sending) = root_step(&root, &ours.private_bytes(), theirs)?;
        self.receivers.insert(
            0,
            ReceiverChain {
                ratchet: *theirs,
                chain: receiving,
                skipped: Vec::new(),
            },
        );
        self.receivers.truncate(MAX_RECEIVER_CHAINS);
        self.previous_counter = self.sender.chain.index.saturating_sub(1);
        let replaced = core::mem::replace(
            &mut self.sender,
            SenderChain {
                ratchet: RatchetKey::from_pair(&ours),
                chain: sending,
            },
        );
        *self.root_key = root;
        Ok(replaced.ratchet)
    }

    /// The message key seed for `counter` on receiver chain `position`: a kept one, or derived
    /// forward (keeping the skipped ones, within the bounds).
    fn take_message_seed(&mut self, position: usize, counter: u32) -> Result<Secret32> {
        let chain = &mut self.receivers[position];
        if counter < chain.chain.index {
            return match chain.skipped.iter().position(|(i, _)| *i == counter) {
                Some(found) => Ok(chain.skipped.remove(found).1),
                None => Err(Error::DuplicateMessage { counter }),
            };
        }
        let current = chain.chain.index;
        if counter - current > MAX_FORWARD_JUMP {
            return Err(Error::TooFarAhead {
                counter,
                current,
                limit: MAX_FORWARD_JUMP,
            });
        }
        while chain.chain.index < counter {
            let index = chain.chain.index;
            let skipped = chain.chain.advance();
            chain.skipped.push((index, skipped));
        }
        let seed = chain.chain.advance();
        self.enforce_skipped_bound();
        Ok(seed)
    }

    /// Drops the oldest skipped keys (oldest chains first) beyond [`MAX_SKIPPED_KEYS`].
    fn enforce_skipped_bound(&mut self) {
        let mut total: usize = self.receivers.iter().map(|c| c.skipped.len()).sum();
        for chain in self.receivers.iter_mut().rev() {
            if total <= MAX_SKIPPED_KEYS {
                break;
            }
            let drop = (total - MAX_SKIPPED_KEYS).min(chain.skipped.len());
            chain.skipped.drain(..drop);
            total -= drop;
        }
    }

    /// Number of skipped keys held.
    pub(crate) fn skipped_keys(&self) -> usize {
        self.receivers.iter().map(|c| c.skipped.len()).sum()
    }
}
