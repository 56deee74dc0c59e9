//! Generators for the multi-device pairing and login chapters (md-04, md-05): a QR string, the
//! ADV container and the `pair-device-sign` reply, a pair-code wrap, the login payload, a
//! prekey upload and the stream-error table, computed by wa-core's `md` modules with fixed seeds.

use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_binary::{Codec, Node};
use wa_core::md::adv;
use wa_core::md::pair_code;
use wa_core::md::pairing::qr_string;
use wa_core::md::prekeys;
use wa_core::md::{Account, Credentials, DeviceDescription, StreamError, login_payload};
use wa_crypto::KeyPair;
use wa_proto::prost::Message as _;
use wa_proto::proto::AdvDeviceIdentity;

use super::{Dump, Generator, fenced, hex, table};

pub(crate) const GENERATORS: [(&str, Generator); 5] = [
    ("md-qr", md_qr),
    ("md-pair-code", md_pair_code),
    ("md-login-payload", md_login_payload),
    ("md-prekey-upload", md_prekey_upload),
    ("md-stream-errors", md_stream_errors),
];

fn creds() -> Credentials {
    Credentials::generate(&mut StdRng::seed_from_u64(4))
}

fn md_qr() -> Result<String, String> {
    let creds = creds();
    let qr = qr_string("2@bookref", &creds, "1");
    let account = KeyPair::from_private_bytes([0x41; 32]);
    let identity = AdvDeviceIdentity {
        raw_id: Some(1234),
        timestamp: Some(1_735_689_600),
        key_index: Some(3),
        account_type: None,
        device_type: None,
    };
    let container = adv::primary_sign(
        &account,
        &creds.identity.public_bytes(),
        &creds.adv_secret,
        identity,
        &mut StdRng::seed_from_u64(5),
    );
    let verified =
        adv::verify_and_sign_with(&container, &creds.adv_secret, &creds.identity, &[7; 64])
            .map_err(|e| e.to_string())?;
    let mut dump = Dump::new();
    dump.add(
        &container,
        "ADVSignedDeviceIdentityHMAC (pair-success device-identity)",
    );
    let mut reply = Dump::new();
    reply.add(
        &verified.reply,
        "ADVSignedDeviceIdentity sent in pair-device-sign",
    );
    Ok(format!(
        "{}\n{}\n{}\nThe inner `ADVDeviceIdentity` is `{}` (rawId 1234, timestamp, keyIndex 3); the \
         reply keeps it and the account signature, drops the account key and adds our device \
         signature, and goes out with `key-index=\"{}\"`.",
        fenced("text", &qr),
        fenced("text", &dump.render()),
        fenced("text", &reply.render()),
        hex(&verified.details),
        verified.key_index
    ))
}

fn md_pair_code() -> Result<String, String> {
    let code = pair_code::encode_code(&[0x01, 0x23, 0x45, 0x67, 0x89]);
    let salt = [0x11; 32];
    let iv = [0x22; 16];
    let public = KeyPair::from_private_bytes([0x33; 32]).public_bytes();
    let wrapped = pair_code::wrap_public(&code, &salt, &iv, &public);
    let key = pair_code::code_key(&code, &salt);
    let mut dump = Dump::new();
    dump.add(&wrapped[..32], "salt");
    dump.add(&wrapped[32..48], "AES-CTR IV (initial counter block)");
    dump.add(
        &wrapped[48..],
        "AES-256-CTR(key, iv, companion ephemeral public key)",
    );
    Ok(format!(
        "Bytes `01 23 45 67 89` → code `{code}`; with salt `11…11` PBKDF2-SHA256 (131072 rounds) \
         gives the key `{}`; the companion's ephemeral public key `{}` is sent wrapped as:\n\n{}",
        hex(key.as_ref()),
        hex(&public),
        fenced("text", &dump.render())
    ))
}

fn paired() -> Result<Credentials, String> {
    let mut creds = creds();
    creds.account = Some(Account {
        jid: "15550001111:3@s.whatsapp.net"
            .parse()
            .map_err(|e| format!("{e:?}"))?,
        lid: None,
        details: vec![8, 1],
        account_signature_key: [1; 32],
        account_signature: [2; 64],
        device_signature: [3; 64],
        key_index: 3,
        business_name: None,
    });
    Ok(creds)
}

fn md_login_payload() -> Result<String, String> {
    let payload = login_payload(&paired()?, &DeviceDescription::default())
        .ok_or("paired credentials give a login payload")?;
    let bytes = payload.encode_to_vec();
    let mut dump = Dump::new();
    dump.add(&bytes, "ClientPayload (login)");
    Ok(format!(
        "For `15550001111:3@s.whatsapp.net`: `username` {}, `device` {}, `passive` {}, `pull` {} \
         ({} bytes):\n\n{}",
        payload.username.unwrap_or_default(),
        payload.device.unwrap_or_default(),
        payload.passive.unwrap_or_default(),
        payload.pull.unwrap_or_default(),
        bytes.len(),
        fenced("text", &dump.render())
    ))
}

fn md_prekey_upload() -> Result<String, String> {
    let mut creds = paired()?;
    let keys = prekeys::generate(&mut creds, 2, &mut StdRng::seed_from_u64(6));
    let iq = Node::new("iq")
        .attr("id", "1")
        .attr("xmlns", "encrypt")
        .attr("type", "set")
        .attr("to", "s.whatsapp.net")
        .children(prekeys::upload_content(&creds, &keys));
    let bytes = Codec::multi_device()
        .encode(&iq)
        .map_err(|e| e.to_string())?;
    let mut dump = Dump::new();
    dump.add(
        &bytes,
        "encrypt set: registration, type, identity, list of 2 keys, skey",
    );
    let digest = prekeys::bundle_digest(
        &creds.identity.public_bytes(),
        &creds.signed_prekey.key_pair.public_bytes(),
        &creds.signed_prekey.signature,
        &keys
            .iter()
            .map(|k| k.key_pair.public_bytes())
            .collect::<Vec<_>>(),
    );
    Ok(format!(
        "An upload of two keys (ids 1 and 2) encodes to {} bytes:\n\n{}\nThe digest the server \
         answers for exactly this bundle: SHA-1 `{}`.",
        bytes.len(),
        fenced("text", &dump.render()),
        hex(&digest)
    ))
}

fn md_stream_errors() -> Result<String, String> {
    let cases = [
        (
            "<stream:error code=\"515\"/>",
            Node::new("stream:error").attr("code", "515"),
        ),
        (
            "<stream:error code=\"401\"><conflict type=\"device_removed\"/></stream:error>",
            Node::new("stream:error")
                .attr("code", "401")
                .children([Node::new("conflict").attr("type", "device_removed")]),
        ),
        (
            "<stream:error code=\"401\"/>",
            Node::new("stream:error").attr("code", "401"),
        ),
        (
            "<stream:error code=\"440\"/>",
            Node::new("stream:error").attr("code", "440"),
        ),
        (
            "<stream:error><conflict type=\"replaced\"/></stream:error>",
            Node::new("stream:error").children([Node::new("conflict").attr("type", "replaced")]),
        ),
        (
            "<stream:error code=\"503\"/>",
            Node::new("stream:error").attr("code", "503"),
        ),
        (
            "<failure reason=\"401\"/>",
            Node::new("failure").attr("reason", "401"),
        ),
        (
            "<failure reason=\"402\"/>",
            Node::new("failure").attr("reason", "402"),
        ),
        (
            "<failure reason=\"405\"/>",
            Node::new("failure").attr("reason", "405"),
        ),
    ];
    let mut rows = Vec::new();
    for (shown, node) in cases {
        let error = StreamError::parse(&node).ok_or("not a stream error")?;
        rows.push(vec![
            format!("`{shown}`"),
            format!("`{error:?}`"),
            format!("`{:?}`", error.next_step()),
        ]);
    }
    Ok(table(&["stanza", "StreamError", "next step"], &rows))
}
