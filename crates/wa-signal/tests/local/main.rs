//! wa-signal on its own: two or three parties in memory, the bounds, the durability rules,
//! refusals, and properties over random interleavings.

mod bounds;
mod durability;
mod framing;
mod properties;
mod refusals;

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use wa_signal::{
    IdentityStore as _, InMemoryStore, KeyPair, PreKey, PreKeyBundle, PreKeyStore as _,
    ProtocolAddress, PublicKey, SignedPreKey, SignedPreKeyStore as _, generate_registration_id,
};

/// One device: its store and RNG, its prekeys handed out as bundles.
pub(crate) struct Party {
    pub(crate) store: InMemoryStore,
    pub(crate) rng: StdRng,
    pub(crate) address: ProtocolAddress,
    signed: SignedPreKey,
    next_pre_key: u32,
}

impl Party {
    pub(crate) fn new(name: &str, seed: u64) -> Party {
        let mut rng = StdRng::seed_from_u64(seed);
        let identity = KeyPair::generate(&mut rng);
        let registration_id = generate_registration_id(&mut rng);
        let signed = SignedPreKey::generate(&identity, 1, &mut rng);
        let mut store = InMemoryStore::new(identity, registration_id);
        store.store_signed_pre_key(&signed).unwrap();
        Party {
            store,
            rng,
            address: ProtocolAddress::new(name, 1),
            signed,
            next_pre_key: 1,
        }
    }

    /// A bundle with a fresh one-time prekey.
    pub(crate) fn bundle(&mut self) -> PreKeyBundle {
        let pre_key = PreKey::generate(self.next_pre_key, &mut self.rng);
        self.next_pre_key += 1;
        self.store.store_pre_key(&pre_key).unwrap();
        let identity = self.store.local_identity().unwrap();
        PreKeyBundle {
            registration_id: self.store.local_registration_id().unwrap(),
            identity_key: PublicKey::of(&identity),
            signed_pre_key_id: self.signed.id,
            signed_pre_key: PublicKey::of(&self.signed.key_pair),
            signed_pre_key_signature: self.signed.signature,
            pre_key: Some((pre_key.id, PublicKey::of(&pre_key.key_pair))),
        }
    }
}

/// `a` starts a session with `b` and sends one pkmsg, which `b` decrypts.
pub(crate) fn connect(a: &mut Party, b: &mut Party) {
    let bundle = b.bundle();
    wa_signal::process_pre_key_bundle(&mut a.store, &b.address, &bundle, &mut a.rng).unwrap();
    let first = wa_signal::encrypt(&mut a.store, &b.address, b"hello").unwrap();
    let got = wa_signal::decrypt(
        &mut b.store,
        &a.address,
        first.kind,
        &first.bytes,
        &mut b.rng,
    )
    .unwrap();
    assert_eq!(got, b"hello");
}
