//! Schema evolution: a database written at v1 (by the v1 migration code path, then filled by a
//! store at v1) opens with the current build, is upgraded to the latest version, and keeps every
//! row; so does one written at v2 (with a LID map and a session) upgraded to v3, and one written
//! at v3 upgraded to v4 (the sent messages), on SQLite and PostgreSQL. A database newer than this
//! build is refused.

#![cfg(any(feature = "sqlite", feature = "postgres"))]
mod common;

use wa_core::md::store::{
    Chat, ChatStore as _, DecryptBufferStore as _, DecryptedMessage, DeviceStore as _,
};
use wa_signal::{IdentityStore as _, KeyPair};
use wa_store::{Error, OpenOptions, Store, Table, codec, migrations};

fn v1() -> OpenOptions {
    OpenOptions {
        schema_target: 1,
        lease: false,
    }
}

fn entry(id: &str, delivered: bool) -> DecryptedMessage {
    DecryptedMessage {
        sender: "a@s".into(),
        id: id.into(),
        plaintext: if delivered {
            Vec::new()
        } else {
            b"pending".to_vec()
        },
        delivered,
        handed: delivered,
        delivered_at: 0,
    }
}

fn fill(store: &mut Store) {
    // Decrypt-buffer rows as v1 wrote them (v1 had no pending index).
    store
        .transaction(|tx| -> Result<(), Error> {
            let pending = codec::encode_decrypted(&entry("P", false));
            tx.put_raw(Table::DecryptBuffer, &[1; 32], &pending)?;
            let delivered = codec::encode_decrypted(&entry("D", true));
            tx.put_raw(Table::DecryptBuffer, &[2; 32], &delivered)
        })
        .unwrap();
    store
        .set_local_identity(&KeyPair::from_private_bytes([9; 32]), 77)
        .unwrap();
    store.save_device(b"credentials v1").unwrap();
    store
        .store_chat(
            "g@g.us",
            &Chat {
                unread: 4,
                ..Chat::default()
            },
        )
        .unwrap();
}

fn verify(store: &Store) {
    assert_eq!(store.schema_version().unwrap(), migrations::LATEST);
    assert_eq!(store.local_registration_id().unwrap(), 77);
    assert_eq!(
        store.local_identity().unwrap().public_bytes(),
        KeyPair::from_private_bytes([9; 32]).public_bytes()
    );
    assert_eq!(
        store.load_device().unwrap().as_deref(),
        Some(&b"credentials v1"[..])
    );
    assert_eq!(store.chat("g@g.us").unwrap().unwrap().unread, 4);
    // v2 built the pending index from the v1 buffer: only the undelivered entry is listed.
    let pending = store.undelivered().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!((pending[0].0, pending[0].1.id.as_str()), ([1; 32], "P"));
    assert!(store.decrypted(&[2; 32]).unwrap().unwrap().delivered);
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_v1_database_upgrades_to_v2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.db");
    {
        let mut old = Store::open_sqlite_with(&path, &v1()).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
        fill(&mut old);
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let has_leases: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'leases'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(has_leases, 0, "v1 has no leases table");
    drop(conn);
    let store = Store::open_sqlite(&path).unwrap();
    verify(&store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let holder: String = conn
        .query_row("SELECT holder FROM leases", [], |r| r.get(0))
        .unwrap();
    assert!(
        holder.contains(&format!("pid {}", std::process::id())),
        "{holder}"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.db");
    drop(Store::open_sqlite(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("INSERT INTO schema_version (version) VALUES (99)", [])
        .unwrap();
    drop(conn);
    match Store::open_sqlite(&path) {
        Err(Error::SchemaTooNew { found: 99, known }) => assert_eq!(known, migrations::LATEST),
        other => panic!("{other:?}"),
    }
}

/// A database of its own on the test server, so v1 is really v1.
#[cfg(feature = "postgres")]
fn fresh_database(url: &str) -> String {
    let name = common::fresh_device("wa_mig").replace('-', "_");
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (base, _) = url.rsplit_once('/').expect("URL with a database name");
    format!("{base}/{name}")
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_v1_database_upgrades_to_v2() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let url = fresh_database(&url);
    {
        let mut old = Store::open_postgres_with(&url, "dev-a", &v1()).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
        fill(&mut old);
    }
    let store = Store::open_postgres(&url, "dev-a").unwrap();
    verify(&store);
    let mut conn = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let holder: String = conn
        .query_one("SELECT holder FROM leases WHERE device_id = 'dev-a'", &[])
        .unwrap()
        .get(0);
    assert!(
        holder.contains(&format!("pid {}", std::process::id())),
        "{holder}"
    );
    conn.execute("INSERT INTO schema_version (version) VALUES (99)", &[])
        .unwrap();
    drop(store);
    assert!(matches!(
        Store::open_postgres(&url, "dev-a"),
        Err(Error::SchemaTooNew { found: 99, .. })
    ));
}

fn at(version: i64) -> OpenOptions {
    OpenOptions {
        schema_target: version,
        lease: false,
    }
}

/// Fills a v2 database: credentials, a LID map and a real PN session; the v3 table is not there
/// yet. Returns the session record's bytes.
fn fill_v2(old: &mut Store, pn: &wa_signal::ProtocolAddress) -> Vec<u8> {
    use wa_core::md::store::{AddressingMode, LidStore as _};
    use wa_signal::SessionStore as _;
    assert_eq!(old.schema_version().unwrap(), 2);
    old.save_device(b"credentials v2").unwrap();
    old.store_lid_mapping("100", "4915").unwrap();
    // A real session record, made by a bundle exchange in a scratch store.
    let mut rng = wa_signal::conformance::TestRng::new(5);
    let scratch = Store::memory();
    let (alice, bob, _) = wa_store::conformance::pair(&scratch, &mut rng);
    let record = wa_signal::SessionStore::load_session(&alice, &bob)
        .unwrap()
        .unwrap();
    old.store_session(pn, &record).unwrap();
    assert!(
        old.store_addressing_mode("4915", AddressingMode::Lid)
            .is_err(),
        "no v3 table yet"
    );
    record.to_bytes().to_vec()
}

/// The v2 rows survived the upgrade to v3, the v3 table takes writes, and the session follows
/// the LID whole.
fn verify_v3(store: &mut Store, pn: &wa_signal::ProtocolAddress, record: &[u8]) {
    use wa_core::md::store::{AddressingMode, LidStore as _};
    use wa_signal::SessionStore as _;
    assert_eq!(
        store.load_device().unwrap().as_deref(),
        Some(&b"credentials v2"[..])
    );
    assert_eq!(store.lid_for_pn("4915").unwrap().as_deref(), Some("100"));
    assert_eq!(
        store
            .load_session(pn)
            .unwrap()
            .unwrap()
            .to_bytes()
            .as_slice(),
        record
    );
    store
        .store_addressing_mode("4915", AddressingMode::Lid)
        .unwrap();
    assert_eq!(
        store.addressing_mode("4915").unwrap(),
        Some(AddressingMode::Lid)
    );
    let lid = wa_signal::ProtocolAddress::new("100_1", 2);
    assert!(store.migrate_session(pn, &lid).unwrap());
    assert_eq!(
        store
            .load_session(&lid)
            .unwrap()
            .unwrap()
            .to_bytes()
            .as_slice(),
        record
    );
}

/// A database written at v2 (LID map and a PN session, no `addressing` table) opens at v3: the
/// map and the session are intact, and the v3 table takes writes.
#[cfg(feature = "sqlite")]
#[test]
fn sqlite_v2_database_upgrades_to_v3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.db");
    let pn = wa_signal::ProtocolAddress::new("4915", 2);
    let record = fill_v2(&mut Store::open_sqlite_with(&path, &at(2)).unwrap(), &pn);
    let mut store = Store::open_sqlite_with(&path, &at(3)).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    verify_v3(&mut store, &pn, &record);
}

/// The same upgrade on PostgreSQL.
#[cfg(feature = "postgres")]
#[test]
fn postgres_v2_database_upgrades_to_v3() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let url = fresh_database(&url);
    let pn = wa_signal::ProtocolAddress::new("4915", 2);
    let record = fill_v2(
        &mut Store::open_postgres_with(&url, "dev-a", &at(2)).unwrap(),
        &pn,
    );
    let mut store = Store::open_postgres_with(&url, "dev-a", &at(3)).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    verify_v3(&mut store, &pn, &record);
}

/// Fills a v3 database: credentials, a chat's addressing mode and a pending decrypt-buffer
/// entry; the v4 table (sent messages) is not there yet.
fn fill_v3(old: &mut Store) {
    use wa_core::md::store::{AddressingMode, LidStore as _, SentMessage, SentMessageStore as _};
    assert_eq!(old.schema_version().unwrap(), 3);
    old.save_device(b"credentials v3").unwrap();
    old.store_addressing_mode("4915", AddressingMode::Lid)
        .unwrap();
    old.buffer_decrypted(&[3; 32], &entry("P3", false)).unwrap();
    let sent = SentMessage {
        to: "100@lid".into(),
        message: b"x".to_vec(),
        sent_at: 1,
        resends: Vec::new(),
    };
    assert!(
        old.store_sent_message("S", &sent).is_err(),
        "no v4 table yet"
    );
}

/// The v3 rows survived the upgrade to v4, and the sent-message table takes writes.
fn verify_v4(store: &mut Store) {
    use wa_core::md::store::{AddressingMode, LidStore as _, SentMessage, SentMessageStore as _};
    assert_eq!(store.schema_version().unwrap(), 4);
    assert_eq!(
        store.load_device().unwrap().as_deref(),
        Some(&b"credentials v3"[..])
    );
    assert_eq!(
        store.addressing_mode("4915").unwrap(),
        Some(AddressingMode::Lid)
    );
    let pending = store.undelivered().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].1.id, "P3");
    let mut sent = SentMessage {
        to: "100@lid".into(),
        message: b"x".to_vec(),
        sent_at: 1,
        resends: Vec::new(),
    };
    sent.record_resend("100:2@lid", 1);
    store.store_sent_message("S", &sent).unwrap();
    assert_eq!(store.sent_message("S").unwrap(), Some(sent));
}

/// A database written at v3 opens at v4 (the sent-message outbox).
#[cfg(feature = "sqlite")]
#[test]
fn sqlite_v3_database_upgrades_to_v4() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa.db");
    fill_v3(&mut Store::open_sqlite_with(&path, &at(3)).unwrap());
    let mut store = Store::open_sqlite(&path).unwrap();
    verify_v4(&mut store);
}

/// The same upgrade on PostgreSQL.
#[cfg(feature = "postgres")]
#[test]
fn postgres_v3_database_upgrades_to_v4() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let url = fresh_database(&url);
    fill_v3(&mut Store::open_postgres_with(&url, "dev-a", &at(3)).unwrap());
    let mut store = Store::open_postgres(&url, "dev-a").unwrap();
    verify_v4(&mut store);
}
