//! Generators for the receipts and device-identity sections of the messaging chapter (md-06):
//! the receipts a client sends (inactive delivery, read with a list, played, read-self) encoded
//! by wa-core's `md::stanza` and parsed back, and a companion's `device-identity` made from fixed
//! seeds, checked by `md::adv::verify_peer_identity` as it is and forged four ways.

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_binary::{Codec, Node};
use wa_core::md::adv::{self, PeerIdentityCheck};
use wa_core::md::stanza::{self, Receipt, StatusKind};
use wa_crypto::KeyPair;
use wa_proto::prost::Message as _;
use wa_proto::proto::{AdvDeviceIdentity, AdvSignedDeviceIdentity};

use super::{Dump, Generator, fenced, table};

pub(crate) const GENERATORS: [(&str, Generator); 2] = [
    ("md-receipts", md_receipts),
    ("md-device-identity", md_device_identity),
];

fn encode(node: &Node) -> Result<Vec<u8>, String> {
    Codec::multi_device()
        .encode(node)
        .map_err(|e| e.to_string())
}

const PEER: &str = "15550000001@s.whatsapp.net";
const PEER_DEVICE: &str = "15550000001:1@s.whatsapp.net";
const US: &str = "15550000002:1@s.whatsapp.net";

fn md_receipts() -> Result<String, String> {
    let ids = ["3EB0A1".to_owned(), "3EB0A2".to_owned()];
    let now = 1_735_689_600;
    let missing = || "no ids".to_owned();
    let sent = [
        (
            stanza::inactive_receipt(&ids[0], PEER_DEVICE, None),
            "delivery from a device in the background (inactive)",
        ),
        (
            stanza::status_receipt(StatusKind::Read, &ids, PEER, now).ok_or_else(missing)?,
            "read, two ids (the second in list/item)",
        ),
        (
            stanza::status_receipt(StatusKind::Played, &ids[..1], PEER, now).ok_or_else(missing)?,
            "played",
        ),
        (
            stanza::status_receipt(StatusKind::ReadSelf, &ids[..1], PEER, now)
                .ok_or_else(missing)?,
            "read-self (read receipts off)",
        ),
    ];
    let mut out = String::new();
    let mut rows = Vec::new();
    for (node, meaning) in &sent {
        let mut dump = Dump::new();
        dump.add(&encode(node)?, *meaning);
        out.push_str(&fenced("text", &dump.render()));
        out.push('\n');
        // What a receiver reads from it once the server stamped `from` (and, for the reader's
        // own devices, `recipient`).
        let own = node.optional_str("type").is_some_and(|t| t != "inactive");
        let mut forwarded = node.clone().attr("from", US);
        if own {
            forwarded = forwarded.attr("recipient", PEER);
        }
        let parsed = Receipt::parse(&forwarded).map_err(|e| e.to_string())?;
        rows.push(vec![
            format!("`{}`", node.optional_str("type").unwrap_or("(none)")),
            format!("`{:?}`", parsed.kind),
            format!("{}", parsed.ids.len()),
            format!(
                "`{}`",
                parsed.recipient.as_deref().unwrap_or("(peer's receipt)")
            ),
        ]);
    }
    out.push_str("\nRead back (`stanza::Receipt::parse`), as our own other device gets them:\n\n");
    out.push_str(&table(&["type", "kind", "ids", "recipient"], &rows));
    Ok(out)
}

/// An identity for `device` signed by `account` with `key_index`, counter-signed by `device`.
fn identity(account: &KeyPair, device: &KeyPair, key_index: u32, rng: &mut StdRng) -> Vec<u8> {
    let details = AdvDeviceIdentity {
        raw_id: Some(0x1234_5678),
        timestamp: Some(1_735_689_600),
        key_index: Some(key_index),
        account_type: None,
        device_type: None,
    }
    .encode_to_vec();
    let key = device.public_bytes();
    let account_signature = wa_crypto::xeddsa_sign_rng(
        account,
        &adv::account_signature_message(&details, &key, false),
        rng,
    );
    let device_signature = wa_crypto::xeddsa_sign_rng(
        device,
        &adv::device_signature_message(&details, &key, &account.public_bytes()),
        rng,
    );
    AdvSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(account.public_bytes().to_vec()),
        account_signature: Some(account_signature.to_vec()),
        device_signature: Some(device_signature.to_vec()),
    }
    .encode_to_vec()
}

fn md_device_identity() -> Result<String, String> {
    let mut rng = StdRng::seed_from_u64(606);
    let account = KeyPair::generate(&mut rng);
    let device = KeyPair::generate(&mut rng);
    let other_device = KeyPair::generate(&mut rng);
    let stranger = KeyPair::generate(&mut rng);
    let genuine = identity(&account, &device, 2, &mut rng);
    let mut dump = Dump::new();
    dump.add(
        &genuine,
        "ADVSignedDeviceIdentity: details (raw id, time, key index 2), account key, account sig, device sig",
    );
    let mut broken =
        AdvSignedDeviceIdentity::decode(genuine.as_slice()).map_err(|e| e.to_string())?;
    if let Some(sig) = broken.account_signature.as_mut() {
        sig[0] ^= 1;
    }
    let account_key = account.public_bytes();
    let device_key = device.public_bytes();
    let cases = [
        ("as sent", genuine.clone(), Some(&account_key)),
        (
            "account signature bit flipped",
            broken.encode_to_vec(),
            Some(&account_key),
        ),
        (
            "made for another device of the account",
            identity(&account, &other_device, 3, &mut rng),
            Some(&account_key),
        ),
        (
            "signed by another account's key",
            identity(&stranger, &device, 2, &mut rng),
            Some(&account_key),
        ),
        (
            "key index 0",
            identity(&account, &device, 0, &mut rng),
            None,
        ),
    ];
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|(what, bytes, known)| {
            let result = adv::verify_peer_identity(
                bytes,
                PeerIdentityCheck {
                    device_key: &device_key,
                    known_account_key: *known,
                    expected_key_index: None,
                },
            );
            vec![
                (*what).to_owned(),
                match result {
                    Ok(ok) => format!("accepted (key index {})", ok.key_index),
                    Err(e) => format!("`{e:?}`"),
                },
            ]
        })
        .collect();
    Ok(format!(
        "{}\nChecked against the pkmsg's identity key (and the account key when known):\n\n{}",
        fenced("text", &dump.render()),
        table(&["identity", "verify_peer_identity"], &rows)
    ))
}
