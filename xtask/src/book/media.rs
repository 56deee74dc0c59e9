//! Generators for the media chapter: key expansion, encryption and sidecars computed by wa-media,
//! each cross-checked with wa-crypto's primitives.

use wa_crypto::{hkdf_sha256, hmac_sha256};
use wa_media::{Expected, MediaKey, MediaType, RangePlan, decrypt_bytes, encrypt_bytes};

use super::{Dump, Generator, fenced, hex, table};

pub(crate) const GENERATORS: [(&str, Generator); 5] = [
    ("range-example", range_example),
    ("media-types", media_types),
    ("media-key-expansion", media_key_expansion),
    ("media-encrypt-example", media_encrypt_example),
    ("sidecar-example", sidecar_example),
];

/// The book's media key: bytes 0x00, 0x01, ... 0x1f.
fn media_key() -> MediaKey {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = i as u8;
    }
    MediaKey::from_array(bytes)
}

fn media_types() -> Result<String, String> {
    let rows: Vec<Vec<String>> = MediaType::ALL
        .iter()
        .map(|t| {
            vec![
                format!("`{t:?}`"),
                format!("`{}`", String::from_utf8_lossy(t.hkdf_info())),
                format!("`/mms/{}`", t.mms_type()),
                format!("`{}`", t.legacy_upload_type()),
                if t.is_streamable() { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    Ok(table(
        &[
            "wa-media type",
            "HKDF info",
            "upload path",
            "`encr_upload` type",
            "sidecar",
        ],
        &rows,
    ))
}

fn media_key_expansion() -> Result<String, String> {
    let key = media_key();
    let keys = key.expand(MediaType::Image);
    let mut okm = [0u8; 112];
    hkdf_sha256(key.as_bytes(), None, MediaType::Image.hkdf_info(), &mut okm)
        .map_err(|e| e.to_string())?;
    if okm[..16] != keys.iv()[..]
        || okm[16..48] != keys.cipher_key()[..]
        || okm[48..80] != keys.mac_key()[..]
        || okm[80..] != keys.ref_key()[..]
    {
        return Err("wa-media's split differs from HKDF's output".into());
    }
    let lines = [
        format!("mediaKey                      {}", hex(key.as_bytes())),
        "HKDF-SHA256(ikm = mediaKey, no salt, info = \"WhatsApp Image Keys\", L = 112):".to_owned(),
        format!("  [0..16)    iv               {}", hex(keys.iv())),
        format!("  [16..48)   cipherKey        {}", hex(keys.cipher_key())),
        format!("  [48..80)   macKey           {}", hex(keys.mac_key())),
        format!("  [80..112)  refKey (unused)  {}", hex(keys.ref_key())),
    ];
    Ok(fenced("text", &lines.join("\n")))
}

fn media_encrypt_example() -> Result<String, String> {
    let key = media_key();
    let media_type = MediaType::Document;
    let plaintext = b"Hello from the wa protocol book!\n";
    let (body, info) = encrypt_bytes(&key, media_type, plaintext);
    let keys = key.expand(media_type);
    let (enc, mac) = body.split_at(body.len() - 10);
    let check = hmac_sha256(keys.mac_key(), &[keys.iv(), enc]);
    if check[..10] != mac[..] || info.mac[..] != mac[..] {
        return Err("the body's MAC is not HMAC(macKey, iv ‖ enc)[..10]".into());
    }
    // `..default()` keeps this compiling as `Expected` gains optional checks.
    #[allow(clippy::needless_update)]
    let expected = Expected {
        file_sha256: Some(info.file_sha256),
        file_enc_sha256: Some(info.file_enc_sha256),
        file_length: Some(info.file_length),
        ..Expected::default()
    };
    let back = decrypt_bytes(&key, media_type, &body, expected).map_err(|e| e.to_string())?;
    if back != plaintext {
        return Err("the example does not decrypt to its plaintext".into());
    }
    let mut dump = Dump::new();
    dump.add(enc, "enc = AES-256-CBC(cipherKey, iv, PKCS#7(file))");
    dump.add(mac, "mac = HMAC-SHA256(macKey, iv ‖ enc)[0..10]");
    let mut out = format!(
        "file ({} bytes, a document)   {:?}\nmediaKey                      {}\n\n\
         uploaded body enc ‖ mac, {} bytes:\n\n",
        plaintext.len(),
        String::from_utf8_lossy(plaintext),
        hex(key.as_bytes()),
        body.len()
    );
    out.push_str(&dump.render());
    out.push_str(&format!(
        "\nfileSha256     = SHA-256(file)      {}\nfileEncSha256  = SHA-256(enc ‖ mac) {}\n\
         fileLength     = {}\n",
        hex(&info.file_sha256),
        hex(&info.file_enc_sha256),
        info.file_length
    ));
    Ok(fenced("text", &out))
}

fn sidecar_example() -> Result<String, String> {
    let key = media_key();
    let media_type = MediaType::Video;
    let plaintext: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let (body, info) = encrypt_bytes(&key, media_type, &plaintext);
    let sidecar = info
        .streaming_sidecar
        .clone()
        .ok_or("a video got no sidecar")?;
    let keys = key.expand(media_type);
    // S = iv ‖ enc ‖ mac; window i = S[i·65536 .. i·65536 + 65552].
    let mut s = keys.iv().to_vec();
    s.extend_from_slice(&body);
    let mut rows = Vec::new();
    let mut recomputed = Vec::new();
    let mut i = 0usize;
    while i * 65536 < s.len() - 16 {
        let start = i * 65536;
        let end = (start + 65552).min(s.len());
        let entry = hmac_sha256(keys.mac_key(), &[&s[start..end]]);
        recomputed.extend_from_slice(&entry[..10]);
        rows.push(format!(
            "  window {i}: S[{start}..{end})  ({} bytes)  → {}",
            end - start,
            hex(&entry[..10])
        ));
        i += 1;
    }
    if recomputed != sidecar {
        return Err("wa-media's sidecar differs from the windows recomputed here".into());
    }
    let mut lines = vec![
        format!(
            "video of {} bytes → body enc ‖ mac of {} bytes; S = iv ‖ enc ‖ mac is {} bytes",
            plaintext.len(),
            body.len(),
            s.len()
        ),
        "entry i = HMAC-SHA256(macKey, S[i·65536 .. i·65536 + 65552])[0..10]:".to_owned(),
    ];
    lines.extend(rows);
    lines.push(format!(
        "streamingSidecar ({} bytes) = {}",
        sidecar.len(),
        hex(&sidecar)
    ));
    Ok(fenced("text", &lines.join("\n")))
}

fn range_example() -> Result<String, String> {
    let key = media_key();
    let media_type = MediaType::Video;
    let plaintext: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let (body, info) = encrypt_bytes(&key, media_type, &plaintext);
    let sidecar = info.streaming_sidecar.ok_or("a video got no sidecar")?;
    let keys = key.expand(media_type);
    let (start, end) = (100_000u64, 100_100u64);
    let plan = RangePlan::new(plaintext.len() as u64, start, end).map_err(|e| e.to_string())?;
    let fetched = body
        .get(plan.fetch_start() as usize..plan.fetch_end() as usize)
        .ok_or("the plan reaches past the body")?;
    let part = plan
        .decrypt(&keys, &sidecar, fetched)
        .map_err(|e| e.to_string())?;
    if part != plaintext[start as usize..end as usize] {
        return Err("the range decrypted to other bytes".into());
    }
    let mut tampered = fetched.to_vec();
    if let Some(b) = tampered.get_mut(20) {
        *b ^= 1;
    }
    let refused = plan
        .decrypt(&keys, &sidecar, &tampered)
        .err()
        .ok_or("a tampered range decrypted")?;
    let lines = [
        format!(
            "plaintext bytes {start}..{end} of the same {}-byte video:",
            plaintext.len()
        ),
        format!(
            "  fetch body bytes {}..{} (Range: {}), {} bytes instead of {}",
            plan.fetch_start(),
            plan.fetch_end(),
            plan.http_range(),
            fetched.len(),
            body.len()
        ),
        format!(
            "  = the IV block before window {w}'s chunk, and the chunk; checked against sidecar entry {w}",
            w = start / 65536
        ),
        format!("  decrypted {} bytes, equal to the file's", part.len()),
        format!("  with one fetched bit flipped: {refused}"),
    ];
    Ok(fenced("text", &lines.join("\n")))
}
