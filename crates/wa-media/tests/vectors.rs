//! Key expansion checked against Baileys 7: `tests/vectors/media-keys.json` holds, for every
//! media type Baileys derives keys for, the iv / cipherKey / macKey its `getMediaKeys` expands
//! seeded media keys to (written by `interop/gen-media.mjs`, `cargo xtask vectors`).

use serde_json::Value;
use wa_media::{MediaKey, MediaType};

/// Baileys' media type names and ours. `product` and `biz-cover-photo` are images to
/// WhatsApp's key schedule and have no kind of their own here.
const NAMES: &[(&str, MediaType)] = &[
    ("audio", MediaType::Audio),
    ("document", MediaType::Document),
    ("gif", MediaType::Gif),
    ("image", MediaType::Image),
    ("product", MediaType::Image),
    ("ptt", MediaType::Ptt),
    ("sticker", MediaType::Sticker),
    ("video", MediaType::Video),
    ("thumbnail-document", MediaType::DocumentThumbnail),
    ("thumbnail-image", MediaType::ImageThumbnail),
    ("thumbnail-video", MediaType::VideoThumbnail),
    ("thumbnail-link", MediaType::LinkThumbnail),
    ("md-msg-hist", MediaType::History),
    ("md-app-state", MediaType::AppState),
    ("payment-bg-image", MediaType::PaymentBackground),
    ("ptv", MediaType::Ptv),
    ("biz-cover-photo", MediaType::Image),
];

fn vectors() -> Vec<Value> {
    let text = include_str!("vectors/media-keys.json");
    let file: Value = serde_json::from_str(text).unwrap();
    file["vectors"].as_array().unwrap().clone()
}

fn bytes(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap()).unwrap()
}

#[test]
fn every_baileys_media_type_expands_to_baileys_keys() {
    let vectors = vectors();
    assert!(
        vectors.len() >= 3 * NAMES.len(),
        "{} vectors",
        vectors.len()
    );
    for v in &vectors {
        let name = v["type"].as_str().unwrap();
        let Some(&(_, media_type)) = NAMES.iter().find(|(n, _)| *n == name) else {
            panic!("Baileys derives keys for `{name}`, which has no wa-media type");
        };
        assert_eq!(
            media_type.hkdf_info(),
            v["info"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        let keys = MediaKey::from_slice(&bytes(v, "media_key"))
            .unwrap()
            .expand(media_type);
        assert_eq!(keys.iv()[..], bytes(v, "iv")[..], "{name} iv");
        assert_eq!(keys.cipher_key()[..], bytes(v, "cipher_key")[..], "{name}");
        assert_eq!(keys.mac_key()[..], bytes(v, "mac_key")[..], "{name} macKey");
    }
}

#[test]
fn the_vectors_cover_every_media_type_baileys_knows() {
    let vectors = vectors();
    for (name, media_type) in NAMES {
        assert!(
            vectors.iter().any(|v| v["type"] == *name),
            "no Baileys vector for `{name}` ({media_type:?})"
        );
    }
    // Every type of ours has a Baileys vector except the sticker pack, which Baileys 7 does
    // not know (its info string comes from whatsmeow).
    for media_type in MediaType::ALL {
        assert!(
            media_type == MediaType::StickerPack || NAMES.iter().any(|(_, t)| *t == media_type),
            "{media_type:?} is not checked against Baileys"
        );
    }
}
