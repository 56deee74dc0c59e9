//! Behaviour of the IO-free core and the std adapters: round trips at every awkward size,
//! every way a body can be bad, sidecars and random access.

use rand::{RngCore, SeedableRng, rngs::StdRng};
use std::io::{Cursor, Read, Write};
use wa_media::sidecar::{SidecarBuilder, compute_sidecar, sidecar_len};
use wa_media::*;

const SIZES: &[usize] = &[
    0, 1, 15, 16, 17, 31, 32, 65535, 65536, 65537, 65546, 65550, 200_000,
];

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn key(seed: u64) -> MediaKey {
    MediaKey::generate(&mut StdRng::seed_from_u64(seed))
}

/// The definition, written out directly over `iv ‖ body`, to check the incremental builder.
fn sidecar_by_definition(keys: &MediaKeys, body: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut s = keys.iv().to_vec();
    s.extend_from_slice(body);
    let mut out = Vec::new();
    let mut i = 0;
    while i * 65536 + 16 < s.len() {
        let end = (i * 65536 + 65552).min(s.len());
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(keys.mac_key()).unwrap();
        mac.update(&s[i * 65536..end]);
        out.extend_from_slice(&mac.finalize().into_bytes()[..10]);
        i += 1;
    }
    out
}

#[test]
fn round_trip_every_size_and_chunking() {
    for (n, &len) in SIZES.iter().enumerate() {
        let plain = data(len, n as u64);
        let key = key(100 + n as u64);
        for ty in [MediaType::Image, MediaType::Video] {
            let (body, info) = encrypt_bytes(&key, ty, &plain);
            assert_eq!(body.len() as u64, encrypted_len(len as u64));
            assert_eq!(info.encrypted_length, body.len() as u64);
            assert_eq!(&body[body.len() - 10..], &info.mac);
            assert_eq!(info.file_length, len as u64);
            let sha = |b: &[u8]| -> [u8; 32] {
                use sha2::Digest;
                sha2::Sha256::digest(b).into()
            };
            assert_eq!(info.file_sha256, sha(&plain));
            assert_eq!(info.file_enc_sha256, sha(&body));
            // Same result fed in odd pieces.
            // 65 and 80: runs that end inside a 64-byte step of the interleaved pipeline.
            for piece in [1usize, 7, 16, 65, 80, 4097] {
                let mut enc = Encryptor::new(&key, ty);
                let mut body2 = Vec::new();
                for p in plain.chunks(piece) {
                    enc.update(p, &mut body2);
                }
                assert_eq!(enc.finish(&mut body2), info, "len {len} piece {piece}");
                assert_eq!(body2, body);
                let mut dec = Decryptor::new(&key, ty, Expected::default());
                let mut out = Vec::new();
                for p in body.chunks(piece) {
                    dec.update(p, &mut out).unwrap();
                }
                let got = dec.finish(&mut out).unwrap();
                assert_eq!(out, plain);
                assert_eq!(got.file_sha256, info.file_sha256);
            }
            let expected = Expected {
                file_sha256: Some(info.file_sha256),
                file_enc_sha256: Some(info.file_enc_sha256),
                file_length: Some(len as u64),
                streaming_sidecar: None,
            };
            assert_eq!(decrypt_bytes(&key, ty, &body, expected).unwrap(), plain);
        }
    }
}

#[test]
fn sidecar_only_for_streamable_types_and_matches_definition() {
    for ty in MediaType::ALL {
        let (_, info) = encrypt_bytes(&key(1), ty, b"abc");
        assert_eq!(
            info.streaming_sidecar.is_some(),
            ty.is_streamable(),
            "{ty:?}"
        );
    }
    for (n, &len) in SIZES
        .iter()
        .chain(&[3 * 65536 - 26, 3 * 65536 - 25, 300_000])
        .enumerate()
    {
        let key = key(200 + n as u64);
        let plain = data(len, n as u64);
        let (body, info) = encrypt_bytes(&key, MediaType::Audio, &plain);
        let keys = key.expand(MediaType::Audio);
        let sidecar = info.streaming_sidecar.unwrap();
        assert_eq!(sidecar, sidecar_by_definition(&keys, &body), "len {len}");
        assert_eq!(sidecar.len() as u64, sidecar_len(body.len() as u64));
        assert_eq!(compute_sidecar(&keys, &body), sidecar);
        let mut builder = SidecarBuilder::new(&keys);
        for p in body.chunks(9) {
            builder.update(p);
        }
        assert_eq!(builder.finish(), sidecar);
    }
}

#[test]
fn media_types_use_the_documented_infos() {
    let infos: Vec<&[u8]> = MediaType::ALL.iter().map(|t| t.hkdf_info()).collect();
    assert_eq!(infos[0], b"WhatsApp Image Keys");
    assert_eq!(MediaType::Ptv.hkdf_info(), b"WhatsApp Video Keys");
    assert!(MediaType::Ptv.is_streamable());
    assert_eq!(MediaType::Sticker.hkdf_info(), b"WhatsApp Image Keys");
    assert_eq!(MediaType::Gif.hkdf_info(), b"WhatsApp Video Keys");
    assert_eq!(MediaType::Ptt.hkdf_info(), b"WhatsApp Audio Keys");
    assert_eq!(MediaType::History.hkdf_info(), b"WhatsApp History Keys");
    assert_eq!(MediaType::AppState.hkdf_info(), b"WhatsApp App State Keys");
    assert_eq!(
        MediaType::StickerPack.hkdf_info(),
        b"WhatsApp Sticker Pack Keys"
    );
    assert_eq!(
        MediaType::LinkThumbnail.hkdf_info(),
        b"WhatsApp Link Thumbnail Keys"
    );
    // Image and video keys of the same media key differ.
    let k = key(5);
    assert_ne!(
        k.expand(MediaType::Image).iv(),
        k.expand(MediaType::Video).iv()
    );
}

#[test]
fn bad_media_key_length_is_a_typed_error() {
    for len in [0usize, 31, 33, 64] {
        assert!(
            matches!(MediaKey::from_slice(&vec![1; len]), Err(Error::MediaKeyLength(l)) if l == len)
        );
    }
    assert!(MediaKey::from_slice(&[1; 32]).is_ok());
    assert_eq!(format!("{:?}", key(1)), "MediaKey(<redacted>)");
}

fn decrypt_all(
    key: &MediaKey,
    ty: MediaType,
    body: &[u8],
    expected: Expected,
) -> (Vec<u8>, Result<DecryptedInfo, Error>) {
    let mut dec = Decryptor::new(key, ty, expected);
    let mut out = Vec::new();
    if let Err(e) = dec.update(body, &mut out) {
        return (out, Err(e));
    }
    let r = dec.finish(&mut out);
    (out, r)
}

#[test]
fn bad_bodies_fail_with_typed_errors_and_never_release_the_last_block() {
    let key = key(9);
    let plain = data(1000, 9);
    let (body, info) = encrypt_bytes(&key, MediaType::Document, &plain);
    let ty = MediaType::Document;
    // Empty and short bodies.
    for len in [0usize, 1, 10, 25] {
        let (out, r) = decrypt_all(&key, ty, &body[..len], Expected::default());
        assert!(
            matches!(r, Err(Error::TooShort(l)) if l == len as u64),
            "{len}: {r:?}"
        );
        assert!(out.is_empty());
    }
    // Truncated to a non-block length.
    for cut in [1usize, 5, 10, 17] {
        let (out, r) = decrypt_all(&key, ty, &body[..body.len() - cut], Expected::default());
        assert!(r.is_err(), "cut {cut}");
        assert!(out.len() < plain.len());
    }
    // Truncated by whole blocks: the length is plausible, the MAC is not.
    let (out, r) = decrypt_all(&key, ty, &body[..body.len() - 16], Expected::default());
    assert!(matches!(r, Err(Error::MacMismatch)), "{r:?}");
    assert!(out.len() < plain.len());
    // A flipped bit anywhere.
    for at in [0, 500, body.len() - 11, body.len() - 1] {
        let mut bad = body.clone();
        bad[at] ^= 1;
        let (_, r) = decrypt_all(&key, ty, &bad, Expected::default());
        assert!(matches!(r, Err(Error::MacMismatch)), "at {at}: {r:?}");
    }
    // Wrong key, wrong type.
    assert!(matches!(
        decrypt_all(&key, MediaType::Image, &body, Expected::default()).1,
        Err(Error::MacMismatch)
    ));
    // Hashes and length from the message.
    let mut wrong = info.file_sha256;
    wrong[0] ^= 1;
    let (out, r) = decrypt_all(
        &key,
        ty,
        &body,
        Expected {
            file_sha256: Some(wrong),
            ..Default::default()
        },
    );
    assert!(matches!(r, Err(Error::FileSha256Mismatch)));
    assert!(out.len() < plain.len());
    let mut wrong = info.file_enc_sha256;
    wrong[31] ^= 1;
    let (_, r) = decrypt_all(
        &key,
        ty,
        &body,
        Expected {
            file_enc_sha256: Some(wrong),
            ..Default::default()
        },
    );
    assert!(matches!(r, Err(Error::FileEncSha256Mismatch)));
    let (_, r) = decrypt_all(
        &key,
        ty,
        &body,
        Expected {
            file_length: Some(999),
            ..Default::default()
        },
    );
    assert!(
        matches!(
            r,
            Err(Error::BadLength(_)) | Err(Error::FileLengthMismatch { .. })
        ),
        "{r:?}"
    );
    let (_, r) = decrypt_all(
        &key,
        ty,
        &body,
        Expected {
            file_length: Some(1001),
            ..Default::default()
        },
    );
    assert!(
        matches!(
            r,
            Err(Error::FileLengthMismatch {
                expected: 1001,
                actual: 1000
            })
        ),
        "{r:?}"
    );
    // Over-long body is refused as soon as it exceeds what fileLength allows.
    let mut long = body.clone();
    long.extend_from_slice(&[0; 16]);
    let (_, r) = decrypt_all(
        &key,
        ty,
        &long,
        Expected {
            file_length: Some(1000),
            ..Default::default()
        },
    );
    assert!(matches!(r, Err(Error::BadLength(_))));
}

#[test]
fn bad_padding_under_a_valid_mac_is_reported() {
    use aes::cipher::{BlockEncryptMut, KeyIvInit};
    use hmac::{Hmac, Mac};
    let key = key(11);
    let keys = key.expand(MediaType::Document);
    // One block of plaintext ending in 0x00: not valid PKCS#7.
    let mut block = [7u8; 16];
    block[15] = 0;
    let mut enc = cbc::Encryptor::<aes::Aes256>::new(keys.cipher_key().into(), keys.iv().into());
    enc.encrypt_block_mut((&mut block).into());
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(keys.mac_key()).unwrap();
    mac.update(keys.iv());
    mac.update(&block);
    let mut body = block.to_vec();
    body.extend_from_slice(&mac.finalize().into_bytes()[..10]);
    let (out, r) = decrypt_all(&key, MediaType::Document, &body, Expected::default());
    assert!(matches!(r, Err(Error::BadPadding)), "{r:?}");
    assert!(out.is_empty());
}

#[test]
fn sidecar_streaming_releases_only_verified_windows() {
    let key = key(12);
    let ty = MediaType::Video;
    let keys = key.expand(ty);
    let plain = data(300_000, 12);
    let (body, info) = encrypt_bytes(&key, ty, &plain);
    let sidecar = info.streaming_sidecar.unwrap();
    // Intact: all plaintext, released window by window.
    let mut dec = Decryptor::with_keys(&keys, Expected::default()).with_sidecar(&keys, &sidecar);
    let mut out = Vec::new();
    let mut released = Vec::new();
    for piece in body.chunks(10_000) {
        dec.update(piece, &mut out).unwrap();
        released.push(out.len());
    }
    assert!(released.iter().all(|&n| n % 65536 == 0), "{released:?}");
    dec.finish(&mut out).unwrap();
    assert_eq!(out, plain);
    // A flipped byte in window 2 stops the stream before any of window 2 is released.
    let mut bad = body.clone();
    bad[2 * 65536 + 100] ^= 0x80;
    let mut dec = Decryptor::with_keys(&keys, Expected::default()).with_sidecar(&keys, &sidecar);
    let mut out = Vec::new();
    let err = bad
        .chunks(10_000)
        .try_for_each(|p| dec.update(p, &mut out))
        .unwrap_err();
    assert!(
        matches!(err, Error::SidecarMismatch { index: 2 }),
        "{err:?}"
    );
    assert_eq!(out, &plain[..2 * 65536]);
    // A sidecar too short for the file.
    let mut dec =
        Decryptor::with_keys(&keys, Expected::default()).with_sidecar(&keys, &sidecar[..10]);
    let mut out = Vec::new();
    let err = dec.update(&body, &mut out).unwrap_err();
    assert!(
        matches!(err, Error::SidecarTooShort { have: 10, need: 20 }),
        "{err:?}"
    );
}

#[test]
fn random_access_with_sidecar() {
    let key = key(13);
    let ty = MediaType::Audio;
    let keys = key.expand(ty);
    for len in [1usize, 16, 17, 65536, 65537, 300_000] {
        let plain = data(len, len as u64);
        let (body, info) = encrypt_bytes(&key, ty, &plain);
        let sidecar = info.streaming_sidecar.unwrap();
        let ranges = [
            (0, len),
            (0, 1),
            (len - 1, len),
            (len / 2, len),
            (len / 3, len / 3 + 1),
        ];
        for (a, b) in ranges
            .into_iter()
            .chain([(65535, 65538), (131071, 200_001)])
            .filter(|&(a, b)| a < b && b <= len)
        {
            let plan = RangePlan::new(len as u64, a as u64, b as u64).unwrap();
            let fetched = &body[plan.fetch_start() as usize..plan.fetch_end() as usize];
            assert!(
                fetched.len() <= 2 * 65536 + 16 || b - a > 65536,
                "fetch too big"
            );
            let got = plan.decrypt(&keys, &sidecar, fetched).unwrap();
            assert_eq!(got, &plain[a..b], "len {len} range {a}..{b}");
            // Tampering inside the fetched windows is caught.
            let mut bad = fetched.to_vec();
            let flip = bad.len() / 2;
            bad[flip] ^= 1;
            assert!(matches!(
                plan.decrypt(&keys, &sidecar, &bad),
                Err(Error::SidecarMismatch { .. })
            ));
            assert!(matches!(
                plan.decrypt(&keys, &sidecar, &fetched[1..]),
                Err(Error::RangeDataLength { .. })
            ));
        }
    }
    assert!(matches!(
        RangePlan::new(10, 5, 11),
        Err(Error::RangeOutOfBounds { .. })
    ));
    assert!(matches!(
        RangePlan::new(10, 5, 5),
        Err(Error::RangeOutOfBounds { .. })
    ));
    // A hostile fileLength must not overflow the body/window arithmetic.
    assert!(matches!(
        RangePlan::new(u64::MAX, u64::MAX - 1, u64::MAX),
        Err(Error::FileLengthTooLarge(u64::MAX))
    ));
    let huge = RangePlan::new(u64::MAX / 2, u64::MAX / 2 - 1, u64::MAX / 2).unwrap();
    assert!(huge.fetch_start() < huge.fetch_end());
    assert!(huge.http_range().starts_with("bytes="));
}

#[test]
fn std_adapters_round_trip_and_fail_loudly() {
    let key = key(14);
    let ty = MediaType::Ptt;
    let keys = key.expand(ty);
    let plain = data(150_001, 14);
    // EncryptWriter == EncryptReader == encrypt_stream == encrypt_stream_parallel.
    let mut w = EncryptWriter::new(Vec::new(), Encryptor::new(&key, ty));
    for p in plain.chunks(3000) {
        w.write_all(p).unwrap();
    }
    let (body, info) = w.finish().unwrap();
    let mut r = EncryptReader::new(Cursor::new(&plain), Encryptor::new(&key, ty));
    let mut body2 = Vec::new();
    r.read_to_end(&mut body2).unwrap();
    assert_eq!(body2, body);
    assert_eq!(r.info(), Some(&info));
    let mut body3 = Vec::new();
    assert_eq!(
        encrypt_stream(Cursor::new(&plain), &mut body3, Encryptor::new(&key, ty)).unwrap(),
        info
    );
    assert_eq!(body3, body);
    let mut body4 = Vec::new();
    assert_eq!(
        encrypt_stream_parallel(Cursor::new(&plain), &mut body4, Encryptor::new(&key, ty)).unwrap(),
        info
    );
    assert_eq!(body4, body);
    // Decrypt adapters.
    let mut w = DecryptWriter::new(Vec::new(), Decryptor::new(&key, ty, Expected::default()));
    w.write_all(&body).unwrap();
    assert_eq!(w.finish().unwrap().0, plain);
    let mut out = Vec::new();
    DecryptReader::new(
        Cursor::new(&body),
        Decryptor::new(&key, ty, Expected::default()),
    )
    .read_to_end(&mut out)
    .unwrap();
    assert_eq!(out, plain);
    let mut out = Vec::new();
    decrypt_verified(Cursor::new(&body), &mut out, &keys, Expected::default()).unwrap();
    assert_eq!(out, plain);
    let full = Expected {
        file_sha256: Some(info.file_sha256),
        file_enc_sha256: Some(info.file_enc_sha256),
        file_length: Some(info.file_length),
        streaming_sidecar: info.streaming_sidecar.clone(),
    };
    let mut out = Vec::new();
    let got = decrypt_stream_parallel(Cursor::new(&body), &mut out, &keys, full.clone()).unwrap();
    assert_eq!(out, plain);
    assert_eq!(
        (got.file_sha256, got.file_enc_sha256),
        (info.file_sha256, info.file_enc_sha256)
    );
    // The two-thread decryptor checks the message's hashes before the last block.
    let mut wrong = full.clone();
    wrong.streaming_sidecar = None;
    wrong.file_sha256 = Some([0; 32]);
    let mut out = Vec::new();
    let err = decrypt_stream_parallel(Cursor::new(&body), &mut out, &keys, wrong).unwrap_err();
    assert!(matches!(err, Error::FileSha256Mismatch), "{err:?}");
    assert!(out.len() < plain.len());
    let mut bad = body.clone();
    bad[body.len() - 3] ^= 1;
    let mut out = Vec::new();
    let err = decrypt_stream_parallel(Cursor::new(&bad), &mut out, &keys, Expected::default())
        .unwrap_err();
    assert!(matches!(err, Error::MacMismatch), "{err:?}");
    assert!(out.len() < plain.len());
    // Corrupt: the reader errors instead of a clean EOF, verify-first writes nothing.
    let mut bad = body.clone();
    bad[140_000] ^= 4;
    let mut out = Vec::new();
    let err = DecryptReader::new(
        Cursor::new(&bad),
        Decryptor::new(&key, ty, Expected::default()),
    )
    .read_to_end(&mut out)
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(out.len() < plain.len());
    let mut out = Vec::new();
    assert!(matches!(
        decrypt_verified(Cursor::new(&bad), &mut out, &keys, Expected::default()),
        Err(Error::MacMismatch)
    ));
    assert!(out.is_empty());
    let mut out = Vec::new();
    assert!(matches!(
        decrypt_verified(
            Cursor::new(&body[..body.len() - 3]),
            &mut out,
            &keys,
            Expected::default()
        ),
        Err(Error::BadLength(_))
    ));
    assert!(out.is_empty());
}

#[test]
fn sidecar_from_the_message_turns_on_window_checks() {
    let key = key(15);
    let ty = MediaType::Video;
    let plain = data(140_000, 15);
    let (body, info) = encrypt_bytes(&key, ty, &plain);
    let expected = Expected {
        streaming_sidecar: info.streaming_sidecar.clone(),
        ..Expected::default()
    };
    assert_eq!(
        decrypt_bytes(&key, ty, &body, expected.clone()).unwrap(),
        plain
    );
    let mut bad = body.clone();
    bad[70_000] ^= 1;
    let mut dec = Decryptor::new(&key, ty, expected);
    let mut out = Vec::new();
    let err = bad
        .chunks(10_000)
        .try_for_each(|piece| dec.update(piece, &mut out))
        .unwrap_err();
    assert!(
        matches!(err, Error::SidecarMismatch { index: 1 }),
        "{err:?}"
    );
    assert!(out == plain[..65536], "released {} bytes", out.len());
}
