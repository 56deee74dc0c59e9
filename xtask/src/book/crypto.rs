//! Generators for the key derivation and binary frame chapters: every value is computed by
//! wa-crypto from fixed seeds.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wa_binary::{Codec, Node};
use wa_crypto::legacy::{
    Flags, Metric, SessionKeys, challenge_response, logout_token, open_client_frame,
    open_server_frame, seal_client_frame, seal_server_frame,
};
use wa_crypto::{KeyPair, aes256_cbc_decrypt_with_iv, hkdf_sha256, hmac_sha256};

use super::{Dump, Generator, fenced, hex, table};
use crate::project_root;

pub(crate) const GENERATORS: [(&str, Generator); 8] = [
    ("frame-errors", frame_errors),
    ("metric-table", metric_table),
    ("flag-bits", flag_bits),
    ("flag-values", flag_values),
    ("key-derivation", key_derivation),
    ("client-frame", client_frame),
    ("server-frame", server_frame),
    ("challenge-evidence", challenge_evidence),
];

/// The book's fixed client key pair, session keys and `secret`.
pub(crate) struct Fixture {
    pub(crate) client: KeyPair,
    pub(crate) keys: SessionKeys,
    pub(crate) secret: [u8; 144],
}

pub(crate) fn fixture() -> Fixture {
    let client = KeyPair::generate(&mut StdRng::seed_from_u64(1));
    let keys = SessionKeys::generate(&mut StdRng::seed_from_u64(2));
    let secret = keys.build_secret(&client.public_bytes(), &mut StdRng::seed_from_u64(3));
    Fixture {
        client,
        keys,
        secret,
    }
}

fn metric_table() -> Result<String, String> {
    let rows: Vec<Vec<String>> = Metric::ALL
        .iter()
        .map(|m| {
            vec![
                u8::from(*m).to_string(),
                format!("`{}`", m.wire_name()),
                format!("`Metric::{m:?}`"),
            ]
        })
        .collect();
    Ok(table(&["byte", "official name", "wa-crypto"], &rows))
}

/// The name wa-crypto's `Debug` gives a single flag bit, if it has one.
fn flag_name(bits: u8) -> Option<String> {
    let shown = format!("{:?}", Flags::from_bits(bits));
    let (_, names) = shown.strip_suffix(')')?.split_once(": ")?;
    (!names.starts_with("0x")).then(|| names.to_owned())
}

fn flag_bits() -> Result<String, String> {
    let meanings = [
        (
            7,
            "the sender expects a response (libraries call this bit `ignore`: backwards)",
        ),
        (6, "ask for an ack; only together with bit 7"),
        (5, "presence: available"),
        (4, "presence: unavailable"),
        (3, "an expiry is set"),
        (2, "skip offline devices (chat states)"),
        (1, "unused"),
        (0, "unused"),
    ];
    let rows: Vec<Vec<String>> = meanings
        .iter()
        .map(|(bit, meaning)| {
            let value = 1u8 << bit;
            vec![
                bit.to_string(),
                format!("`0x{value:02x}`"),
                flag_name(value).map_or("-".to_owned(), |n| format!("`Flags::{n}`")),
                (*meaning).to_owned(),
            ]
        })
        .collect();
    Ok(table(&["bit", "mask", "wa-crypto", "meaning"], &rows))
}

fn flag_values() -> Result<String, String> {
    let uses = [
        (
            0x80u8,
            "queries, message relay, read and played receipts, chat operations",
        ),
        (
            0x88,
            "groups, profile picture, push name, block, status text (spam reports too in the official client; \
             wa-core sends none)",
        ),
        (
            0x40,
            "wa-core's relay of a note to self (our own JID), as Baileys 3.5.3 sends it; the \
             official client sets bit 6 only with bit 7",
        ),
        (0xA0, "presence `available`"),
        (0x10, "presence `unavailable`"),
        (0x04, "chat states `composing`, `paused`, `recording`"),
    ];
    let rows: Vec<Vec<String>> = uses
        .iter()
        .map(|(value, used)| {
            vec![
                format!("`0x{value:02x}`"),
                format!("`{:?}`", Flags::from_bits(*value)),
                (*used).to_owned(),
            ]
        })
        .collect();
    Ok(table(&["byte", "wa-crypto `Debug`", "used for"], &rows))
}

fn key_derivation() -> Result<String, String> {
    let Fixture {
        client,
        keys,
        secret,
    } = fixture();
    let server_public: [u8; 32] = secret[..32].try_into().map_err(|_| "short secret")?;
    let shared = client.shared_secret(&server_public);
    let mut expanded = [0u8; 80];
    hkdf_sha256(shared.as_ref(), Some(&[0u8; 32]), &[], &mut expanded)
        .map_err(|e| e.to_string())?;
    let aes_key: [u8; 32] = expanded[..32].try_into().map_err(|_| "split")?;
    let hmac_key = &expanded[32..64];
    let iv: [u8; 16] = expanded[64..80].try_into().map_err(|_| "split")?;
    let check = hmac_sha256(hmac_key, &[&secret[..32], &secret[64..]]);
    if check[..] != secret[32..64] {
        return Err("the recomputed HMAC does not match secret[32..64]".into());
    }
    let plain =
        aes256_cbc_decrypt_with_iv(&aes_key, &iv, &secret[64..]).map_err(|e| e.to_string())?;
    let derived = SessionKeys::from_secret(&client, &secret).map_err(|e| e.to_string())?;
    if plain.len() != 64
        || plain[..32] != derived.enc_key()[..]
        || plain[32..] != derived.mac_key()[..]
        || derived != keys
    {
        return Err("step-by-step keys differ from SessionKeys::from_secret".into());
    }
    let mut flipped = secret;
    flipped[100] ^= 1;
    let tampered = SessionKeys::from_secret(&client, &flipped)
        .err()
        .ok_or("a tampered secret was accepted")?;
    let other = KeyPair::generate(&mut StdRng::seed_from_u64(9));
    let foreign = SessionKeys::from_secret(&other, &secret)
        .err()
        .ok_or("another key pair opened the secret")?;
    let lines = [
        "Fixed test seeds; wa-crypto computed every value below.".to_owned(),
        String::new(),
        "client private key (kept)        ".to_owned() + &hex(client.private_bytes().as_ref()),
        "client public key (in the QR)    ".to_owned() + &hex(&client.public_bytes()),
        String::new(),
        "Conn.secret, base64-decoded (144 bytes):".to_owned(),
        "  [0..32)    server public key   ".to_owned() + &hex(&secret[..32]),
        "  [32..64)   HMAC                ".to_owned() + &hex(&secret[32..64]),
        "  [64..144)  encrypted keys      ".to_owned() + &hex(&secret[64..112]),
        "                                 ".to_owned() + &hex(&secret[112..]),
        String::new(),
        "shared = X25519(client private, secret[0..32])".to_owned(),
        "                                 ".to_owned() + &hex(shared.as_ref()),
        "HKDF-SHA256(ikm = shared, salt = 32 zero bytes, info = \"\", L = 80):".to_owned(),
        "  [0..32)    AES key             ".to_owned() + &hex(&aes_key),
        "  [32..64)   HMAC key            ".to_owned() + &hex(hmac_key),
        "  [64..80)   AES IV              ".to_owned() + &hex(&iv),
        String::new(),
        "HMAC-SHA256(HMAC key, secret[0..32] ‖ secret[64..144])".to_owned(),
        "                                 ".to_owned() + &hex(&check),
        "  = secret[32..64]: the secret was made for our public key".to_owned(),
        String::new(),
        "AES-256-CBC-decrypt(AES key, AES IV, secret[64..144]), PKCS#7 removed → 64 bytes:"
            .to_owned(),
        "  encKey = [0..32)               ".to_owned() + &hex(&plain[..32]),
        "  macKey = [32..64)              ".to_owned() + &hex(&plain[32..]),
        String::new(),
        format!("The same secret with one bit flipped in byte 100: {tampered}"),
        format!("The same secret for another client key pair:      {foreign}"),
    ];
    Ok(fenced("text", &lines.join("\n")))
}

/// The node the frame examples carry.
fn example_node() -> Node {
    Node::new("query").attr("type", "chat").attr("epoch", "1")
}

fn sealed_layout(dump: &mut Dump, sealed: &[u8]) {
    dump.add(&sealed[..32], "HMAC-SHA256(macKey, IV ‖ ciphertext)");
    dump.add(&sealed[32..48], "IV (random)");
    dump.add(&sealed[48..], "AES-256-CBC(encKey, IV, PKCS#7(node))");
}

fn client_frame() -> Result<String, String> {
    let Fixture { keys, .. } = fixture();
    let node = example_node();
    let plaintext = Codec::legacy().encode(&node).map_err(|e| e.to_string())?;
    let flags = Flags::EXPECTS_RESPONSE;
    let payload = seal_client_frame(
        &keys,
        Some(Metric::QueryChat),
        flags,
        &plaintext,
        &mut StdRng::seed_from_u64(4),
    );
    let opened = open_client_frame(&keys, &payload).map_err(|e| e.to_string())?;
    if opened.plaintext != plaintext {
        return Err("the client frame did not open to its plaintext".into());
    }
    let tag = b"375.--1,";
    let mut dump = Dump::new();
    dump.add(tag, "tag \"375.--1\" and the comma");
    dump.add(&payload[..1], format!("metric {} = QUERY_CHAT", payload[0]));
    dump.add(
        &payload[1..2],
        format!("flags {:?}", Flags::from_bits(payload[1])),
    );
    sealed_layout(&mut dump, &payload[2..]);
    let mut out = format!(
        "plaintext: {} ({} bytes: {})\n\nWebSocket binary message, {} bytes:\n\n",
        wa_binary::json::to_string(&node),
        plaintext.len(),
        hex(&plaintext),
        tag.len() + payload.len()
    );
    out.push_str(&dump.render());
    Ok(fenced("text", &out))
}

fn server_frame() -> Result<String, String> {
    let Fixture { keys, .. } = fixture();
    let node = Node::new("response").attr("type", "chat").children([]);
    let plaintext = Codec::legacy().encode(&node).map_err(|e| e.to_string())?;
    let payload = seal_server_frame(&keys, &plaintext, &mut StdRng::seed_from_u64(5));
    let opened = open_server_frame(&keys, &payload).map_err(|e| e.to_string())?;
    if opened != plaintext {
        return Err("the server frame did not open to its plaintext".into());
    }
    let tag = b"375.--1,";
    let mut dump = Dump::new();
    dump.add(tag, "tag (the request's) and the comma");
    sealed_layout(&mut dump, &payload);
    let mut out = format!(
        "plaintext: {} ({} bytes: {})\n\nWebSocket binary message, {} bytes:\n\n",
        wa_binary::json::to_string(&node),
        plaintext.len(),
        hex(&plaintext),
        tag.len() + payload.len()
    );
    out.push_str(&dump.render());
    Ok(fenced("text", &out))
}

fn challenge_evidence() -> Result<String, String> {
    let path = project_root().join("crates/wa-crypto/tests/vectors/legacy.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let vectors: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let session = &vectors["sessions"][0];
    let field = |name: &str| {
        session[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("vector field `{name}` missing"))
    };
    let unhex = |s: String| -> Result<[u8; 32], String> {
        let bytes: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        bytes.try_into().map_err(|_| "not 32 bytes".to_owned())
    };
    let enc_key = unhex(field("enc_key")?)?;
    let mac_key = unhex(field("mac_key")?)?;
    let keys = SessionKeys::new(enc_key, mac_key);
    let challenge_b64 = field("challenge")?;
    let challenge = BASE64.decode(&challenge_b64).map_err(|e| e.to_string())?;
    let ours = BASE64.encode(challenge_response(&keys, &challenge));
    let baileys = field("challenge_response")?;
    if ours != baileys {
        return Err("our challenge answer differs from Baileys'".into());
    }
    let token = logout_token(&keys);
    if token != field("logout_token")? {
        return Err("our logout token differs from Baileys'".into());
    }
    let version = vectors["baileys_version"].as_str().unwrap_or("?");
    let lines = [
        format!("From crates/wa-crypto/tests/vectors/legacy.json (made by Baileys {version}):"),
        format!("  macKey                          {}", hex(&mac_key)),
        format!("  challenge (base64)              {challenge_b64}"),
        format!(
            "  challenge, decoded ({} bytes)    {}",
            challenge.len(),
            hex(&challenge)
        ),
        format!("  Baileys' answer                 {baileys}"),
        String::new(),
        "wa-crypto: base64(legacy::challenge_response(keys, challenge))".to_owned(),
        format!("  = base64(HMAC-SHA256(macKey, challenge)) = {ours}"),
        "  identical; 32 bytes, no IV, no encryption.".to_owned(),
        String::new(),
        format!("Logout token of the same keys: {token} (Baileys: the same)"),
    ];
    Ok(fenced("text", &lines.join("\n")))
}

fn frame_errors() -> Result<String, String> {
    let Fixture { keys, .. } = fixture();
    let node = Node::new("query")
        .attr("type", "message")
        .attr("jid", "15550100002@c.us")
        .attr("kind", "before")
        .attr("count", "50");
    let plaintext = Codec::legacy().encode(&node).map_err(|e| e.to_string())?;
    let good = seal_server_frame(&keys, &plaintext, &mut StdRng::seed_from_u64(5));
    let mut flipped = good.clone();
    flipped[40] ^= 1;
    let mut unaligned = good.clone();
    unaligned.pop();
    let other = SessionKeys::generate(&mut StdRng::seed_from_u64(6));
    let cases: [(&str, Vec<u8>, &SessionKeys); 5] = [
        ("the frame as sealed", good.clone(), &keys),
        ("one bit flipped in the IV", flipped, &keys),
        ("last byte cut off", unaligned, &keys),
        ("only 40 bytes", good[..40].to_vec(), &keys),
        ("opened with other keys", good.clone(), &other),
    ];
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|(what, payload, keys)| {
            let outcome = match open_server_frame(keys, payload) {
                Ok(plain) => format!("opens: {} bytes of node", plain.len()),
                Err(e) => format!("`{e:?}`"),
            };
            vec![(*what).to_owned(), payload.len().to_string(), outcome]
        })
        .collect();
    Ok(table(
        &["server frame payload", "bytes", "`open_server_frame`"],
        &rows,
    ))
}
