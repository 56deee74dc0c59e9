//! The conformance suite (and wa-signal's) on every backend.

mod common;

#[cfg(feature = "memory")]
mod memory {
    wa_store::store_suite!(|| Some(wa_store::Store::memory()));
}

#[cfg(feature = "sqlite")]
mod sqlite {
    wa_store::store_suite!(crate::common::sqlite);
}

#[cfg(feature = "postgres")]
mod postgres {
    wa_store::store_suite!(crate::common::postgres);
}

/// Secrets never reach logs: sync keys and plaintexts are redacted in Debug.
#[test]
fn secrets_are_redacted_in_debug() {
    use wa_core::md::store::{AppStateSyncKey, DecryptedMessage};
    let key = AppStateSyncKey {
        data: vec![0xAB; 32],
        fingerprint: vec![1],
        timestamp: 5,
    };
    let shown = format!("{key:?}");
    assert!(!shown.contains("171") && !shown.contains("ab"), "{shown}");
    let m = DecryptedMessage {
        sender: "a@s".into(),
        id: "X".into(),
        plaintext: b"the secret text".to_vec(),
        delivered: false,
        handed: false,
        delivered_at: 0,
    };
    let shown = format!("{m:?}");
    assert!(
        !shown.contains("secret") && !shown.contains("116, 104"),
        "{shown}"
    );
    assert!(shown.contains("plaintext_len: 15"), "{shown}");
}
