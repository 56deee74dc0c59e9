//! Test support (hidden from the docs): a store with one valid row in every table, and every read path over it: what the
//! corrupt-row test and the `store_values` fuzz target overwrite and read back.

use wa_core::md::store::{
    AppStateStore as _, AppStateSyncKey, AppStateVersion, Chat, ChatStore as _, Contact,
    ContactStore as _, DecryptBufferStore as _, DecryptedMessage, DeviceStore as _, LidStore as _,
    MessageSecretStore as _, OutboxEntry, OutboxKind, OutboxStore as _,
};
use wa_signal::conformance::TestRng;
use wa_signal::{
    IdentityStore as _, KeyPair, PreKey, PreKeyStore as _, ProtocolAddress, PublicKey,
    SenderKeyName, SenderKeyStore as _, SessionStore as _, SignedPreKey, SignedPreKeyStore as _,
};

use crate::{Error, Table, Tx};

fn peer() -> ProtocolAddress {
    ProtocolAddress::new("peer", 3)
}

fn group() -> SenderKeyName {
    SenderKeyName {
        group_id: "1-2@g.us".into(),
        sender: peer(),
    }
}

const HASH: [u8; 32] = [4; 32];

/// Writes one valid row into every table (a session and a sender key from a real exchange).
pub fn fill(tx: &mut Tx<'_>) -> Result<(), Error> {
    let mut rng = TestRng::new(99);
    let ours = KeyPair::generate(&mut rng);
    tx.set_local_identity(&ours, 5)?;
    tx.save_identity(&peer(), &PublicKey([8; 32]))?;
    let signed = SignedPreKey::generate(&ours, 1, &mut rng);
    tx.store_signed_pre_key(&signed)?;
    tx.store_pre_key(&PreKey::generate(2, &mut rng))?;
    let bundle = wa_signal::PreKeyBundle {
        registration_id: 5,
        identity_key: PublicKey::of(&ours),
        signed_pre_key_id: 1,
        signed_pre_key: PublicKey::of(&signed.key_pair),
        signed_pre_key_signature: signed.signature,
        pre_key: None,
    };
    let other = ProtocolAddress::new("self", 9);
    wa_signal::process_pre_key_bundle(tx, &other, &bundle, &mut rng)?;
    wa_signal::create_sender_key_distribution(tx, &group(), &mut rng)?;
    tx.save_device(b"device")?;
    tx.store_lid_mapping("1", "2")?;
    tx.store_addressing_mode("2", wa_core::md::store::AddressingMode::Lid)?;
    tx.store_sync_key(
        b"k",
        &AppStateSyncKey {
            data: vec![1; 32],
            fingerprint: vec![2],
            timestamp: 3,
        },
    )?;
    tx.store_app_state_version(
        "regular",
        &AppStateVersion {
            version: 1,
            hash: [0; 128],
        },
    )?;
    tx.buffer_decrypted(
        &HASH,
        &DecryptedMessage {
            sender: "s".into(),
            id: "i".into(),
            plaintext: b"p".to_vec(),
            delivered: false,
            handed: false,
            delivered_at: 0,
        },
    )?;
    tx.enqueue_outbox(&OutboxEntry {
        kind: OutboxKind::Message,
        to: "t".into(),
        payload: vec![0],
    })?;
    tx.store_message_secret("c", "s", "i", &[6; 32])?;
    tx.store_contact("a@s", &Contact::default())?;
    tx.store_chat("a@s", &Chat::default())?;
    Ok(())
}

/// The keys [`fill`] writes, per table (computed once by a fuzz target, which then only needs
/// to write its input under each of them: every value is overwritten anyway).
pub fn keys() -> Result<Vec<(Table, Vec<u8>)>, Error> {
    let store = crate::Store::memory();
    store.transaction(|tx| {
        fill(tx)?;
        let mut out = Vec::new();
        for table in Table::ALL {
            for key in tx.raw_keys(table)? {
                out.push((table, key));
            }
        }
        Ok(out)
    })
}

/// Replaces every row's value with `value` (keys kept).
pub fn overwrite_all(tx: &mut Tx<'_>, value: &[u8]) -> Result<(), Error> {
    for table in Table::ALL {
        for key in tx.raw_keys(table)? {
            tx.put_raw(table, &key, value)?;
        }
    }
    Ok(())
}

/// Calls every read path; returns how many succeeded (errors are the expected outcome for
/// corrupt rows; a panic is the bug).
pub fn read_all(tx: &mut Tx<'_>) -> usize {
    let peer = peer();
    [
        tx.local_identity().is_ok(),
        tx.local_registration_id().is_ok(),
        tx.identity(&peer).is_ok(),
        tx.load_session(&ProtocolAddress::new("self", 9)).is_ok(),
        tx.load_pre_key(2).is_ok(),
        tx.load_signed_pre_key(1).is_ok(),
        tx.load_sender_key(&group()).is_ok(),
        tx.load_device().is_ok(),
        tx.pn_for_lid("1").is_ok(),
        tx.lid_for_pn("2").is_ok(),
        tx.addressing_mode("2").is_ok(),
        tx.sync_key(b"k").is_ok(),
        tx.app_state_version("regular").is_ok(),
        tx.decrypted(&HASH).is_ok(),
        tx.undelivered().is_ok(),
        tx.mark_handed(&HASH).is_ok(),
        tx.mark_delivered(&HASH, 1).is_ok(),
        tx.prune_delivered(0).is_ok(),
        tx.decrypt_record().is_ok(),
        tx.outbox().is_ok(),
        tx.enqueue_outbox(&OutboxEntry {
            kind: OutboxKind::Receipt,
            to: "t".into(),
            payload: Vec::new(),
        })
        .is_ok(),
        tx.message_secret("c", "s", "i").is_ok(),
        tx.contact("a@s").is_ok(),
        tx.contacts().is_ok(),
        tx.chat("a@s").is_ok(),
        tx.chats().is_ok(),
    ]
    .into_iter()
    .filter(|ok| *ok)
    .count()
}
