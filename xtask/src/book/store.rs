//! Generators for the persistence chapter: the schema as the migrations create it, and stored
//! values made by wa-store's codec, dissected byte by byte.

use wa_core::md::store::{DecryptedMessage, OutboxEntry, OutboxKind, SentMessage};
use wa_store::codec;
use wa_store::migrations::{self, Dialect};

use super::{Dump, Generator, fenced};

pub(crate) const GENERATORS: [(&str, Generator); 4] = [
    ("store-schema", schema),
    ("store-decrypted", decrypted),
    ("store-outbox", outbox),
    ("store-sent", sent),
];

fn schema() -> Result<String, String> {
    let mut out = String::new();
    out.push_str(migrations::SCHEMA_VERSION_TABLE);
    out.push_str(";\n");
    for version in 1..=migrations::LATEST {
        out.push_str(&format!("\n-- v{version}\n"));
        for statement in migrations::statements(version, Dialect::Sqlite) {
            out.push_str(&statement);
            out.push_str(";\n");
        }
    }
    Ok(fenced("sql", &out))
}

fn decrypted() -> Result<String, String> {
    let mut m = DecryptedMessage::new("alice@s.whatsapp.net", "3EB0A1", b"hi".to_vec());
    m.handed = true;
    let bytes = codec::encode_decrypted(&m);
    let back = codec::decode_decrypted(&bytes).map_err(|e| e.to_string())?;
    if back != m {
        return Err("decrypt-buffer entry does not round-trip".into());
    }
    let mut d = Dump::new();
    d.add(&bytes[..1], "value format 1");
    d.add(&bytes[1..2], "delivered: 0 (no)");
    d.add(&bytes[2..6], "sender length (u32 BE) = 20");
    d.add(&bytes[6..26], "\"alice@s.whatsapp.net\"");
    d.add(&bytes[26..30], "id length = 6");
    d.add(&bytes[30..36], "\"3EB0A1\"");
    d.add(&bytes[36..40], "plaintext length = 2");
    d.add(
        &bytes[40..42],
        "plaintext \"hi\" (wiped, length 0, once delivered)",
    );
    d.add(
        &bytes[42..43],
        "handed: 1 (handed to the application before; the next hand-over is a redelivery)",
    );
    d.add(
        &bytes[43..],
        "delivered_at (u64 BE, seconds) = 0 (pending; set by the acknowledgement)",
    );
    Ok(fenced("text", &d.render()))
}

fn outbox() -> Result<String, String> {
    let e = OutboxEntry {
        kind: OutboxKind::Receipt,
        to: "alice@s.whatsapp.net".into(),
        payload: b"3EB0A1".to_vec(),
    };
    let bytes = codec::encode_outbox(&e);
    if codec::decode_outbox(&bytes).map_err(|e| e.to_string())? != e {
        return Err("outbox entry does not round-trip".into());
    }
    let mut d = Dump::new();
    d.add(&bytes[..1], "value format 1");
    d.add(&bytes[1..2], "kind: 2 = receipt (1 = message)");
    d.add(&bytes[2..6], "recipient length = 20");
    d.add(&bytes[6..26], "\"alice@s.whatsapp.net\"");
    d.add(&bytes[26..30], "payload length = 6");
    d.add(&bytes[30..], "payload: the message id \"3EB0A1\"");
    Ok(fenced("text", &d.render()))
}

fn sent() -> Result<String, String> {
    let mut m = SentMessage {
        to: "100000000000042@lid".into(),
        message: vec![0x0A, 0x02, b'h', b'i'],
        sent_at: 1_700_000_000,
        resends: Vec::new(),
    };
    if !m.record_resend("100000000000042:2@lid", 1) {
        return Err("resend not recorded".into());
    }
    let bytes = codec::encode_sent(&m);
    if codec::decode_sent(&bytes).map_err(|e| e.to_string())? != m {
        return Err("sent message does not round-trip".into());
    }
    let mut d = Dump::new();
    d.add(&bytes[..1], "value format 1");
    d.add(&bytes[1..5], "chat length = 19");
    d.add(&bytes[5..24], "\"100000000000042@lid\" (the stanza's `to`)");
    d.add(&bytes[24..28], "message length = 4");
    d.add(
        &bytes[28..32],
        "the encoded Message (`conversation: \"hi\"`, before padding): the secret",
    );
    d.add(&bytes[32..40], "sent_at (u64 BE, seconds) = 1700000000");
    d.add(&bytes[40..44], "devices answered = 1 (at most 64)");
    d.add(&bytes[44..48], "device length = 21");
    d.add(&bytes[48..69], "\"100000000000042:2@lid\"");
    d.add(&bytes[69..], "highest retry count answered = 1");
    Ok(fenced("text", &d.render()))
}
