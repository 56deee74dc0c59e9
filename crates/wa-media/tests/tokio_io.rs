//! The tokio `AsyncRead` adapters: same bytes as the core, and a loud failure on bad input.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wa_media::{
    AsyncDecryptReader, AsyncDecryptWriter, AsyncEncryptReader, AsyncEncryptWriter, Decryptor,
    Encryptor, Expected, MediaKey, MediaType, encrypt_bytes,
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

#[tokio::test]
async fn async_writers_round_trip_and_fail_on_shutdown() {
    let key = MediaKey::from_array([6; 32]);
    let ty = MediaType::Document;
    let plain: Vec<u8> = (0..150_001u32).map(|i| (i % 241) as u8).collect();
    let (body, info) = encrypt_bytes(&key, ty, &plain);
    let mut writer = AsyncEncryptWriter::new(Vec::new(), Encryptor::new(&key, ty));
    for piece in plain.chunks(10_000) {
        writer.write_all(piece).await.unwrap();
    }
    writer.shutdown().await.unwrap();
    assert_eq!(writer.info(), Some(&info));
    assert_eq!(writer.into_inner(), body);
    let mut writer =
        AsyncDecryptWriter::new(Vec::new(), Decryptor::new(&key, ty, Expected::default()));
    writer.write_all(&body).await.unwrap();
    writer.shutdown().await.unwrap();
    assert_eq!(writer.info().map(|i| i.file_length), Some(150_001));
    assert_eq!(writer.into_inner(), plain);
    let mut writer =
        AsyncDecryptWriter::new(Vec::new(), Decryptor::new(&key, ty, Expected::default()));
    writer.write_all(&body[..body.len() - 1]).await.unwrap();
    let err = writer.shutdown().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        writer.shutdown().await.is_err(),
        "a failed check stays failed"
    );
    assert!(writer.info().is_none());
    assert!(writer.into_inner().len() < plain.len());
}
