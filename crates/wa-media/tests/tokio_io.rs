//! The tokio `AsyncRead` adapters: same bytes as the core, and a loud failure on bad input.

use tokio::io::AsyncReadExt;
use wa_media::{
    AsyncDecryptReader, AsyncEncryptReader, Decryptor, Encryptor, Expected, MediaKey, MediaType,
    encrypt_bytes,
};

#[tokio::test]
async fn async_adapters_round_trip_and_fail_loudly() {
    let key = MediaKey::from_array([5; 32]);
    let ty = MediaType::Audio;
    let plain: Vec<u8> = (0..200_003u32).map(|i| (i % 251) as u8).collect();
    let (body, info) = encrypt_bytes(&key, ty, &plain);
    let mut reader = AsyncEncryptReader::new(&plain[..], Encryptor::new(&key, ty));
    let mut got = Vec::new();
    reader.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, body);
    assert_eq!(reader.info(), Some(&info));
    let mut reader =
        AsyncDecryptReader::new(&body[..], Decryptor::new(&key, ty, Expected::default()));
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, plain);
    assert_eq!(reader.info().map(|i| i.file_sha256), Some(info.file_sha256));
    let mut bad = body.clone();
    bad[5] ^= 1;
    let mut reader =
        AsyncDecryptReader::new(&bad[..], Decryptor::new(&key, ty, Expected::default()));
    let mut out = Vec::new();
    let err = reader.read_to_end(&mut out).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(out.len() < plain.len());
}
