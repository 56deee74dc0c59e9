//! Two-thread encryption: CBC is serial, so this thread runs AES-CBC and the MAC while a
//! second thread hashes the plaintext and the ciphertext, builds the sidecar and writes the
//! body. Buffers circulate between the two through bounded channels, so memory stays flat.

use crate::io::IO_BUF;
use crate::{DecryptedInfo, Decryptor, EncryptedInfo, Encryptor, Error, Expected, MediaKeys};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::sync::mpsc;

/// Buffer pairs in flight between the two threads.
const IN_FLIGHT: usize = 4;
/// Plaintext bytes per buffer.
const PIECE: usize = 4 * IO_BUF;

struct Piece {
    plain: Vec<u8>,
    body: Vec<u8>,
}

/// Encrypts `reader` into `writer` like [`crate::encrypt_stream`], but on two threads.
/// `writer` is written from the second thread. Uses about 2.5 MiB of buffers.
pub fn encrypt_stream_parallel<R: Read, W: Write + Send>(
    mut reader: R,
    writer: W,
    encryptor: Encryptor,
) -> Result<EncryptedInfo, Error> {
    let mut encryptor = encryptor;
    let mut sidecar = encryptor.without_hashes();
    let (full_tx, full_rx) = mpsc::sync_channel::<Piece>(IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Piece>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        let piece = Piece {
            plain: vec![0; PIECE],
            body: Vec::with_capacity(PIECE + 32),
        };
        empty_tx
            .send(piece)
            .unwrap_or_else(|_| unreachable!("the channel holds IN_FLIGHT pieces"));
    }
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || -> io::Result<([u8; 32], Sha256, Option<Vec<u8>>)> {
            let mut writer = writer;
            let mut plain_hash = Sha256::new();
            let mut enc_hash = Sha256::new();
            for piece in full_rx {
                plain_hash.update(&piece.plain);
                enc_hash.update(&piece.body);
                if let Some(builder) = sidecar.as_mut() {
                    builder.update(&piece.body);
                }
                writer.write_all(&piece.body)?;
                // The producer may have finished already; a closed channel is fine then.
                let _ = empty_tx.send(piece);
            }
            writer.flush()?;
            let sidecar = sidecar.map(|builder| builder.finish());
            Ok((plain_hash.finalize().into(), enc_hash, sidecar))
        });
        let produced = (|| -> Result<EncryptedInfo, Error> {
            loop {
                let Ok(mut piece) = empty_rx.recv() else {
                    return Err(Error::Io(io::Error::other("the hashing thread stopped")));
                };
                piece.plain.resize(PIECE, 0);
                let n = fill(&mut reader, &mut piece.plain)?;
                piece.plain.truncate(n);
                piece.body.clear();
                if n == 0 {
                    let info = encryptor.finish(&mut piece.body);
                    full_tx
                        .send(piece)
                        .map_err(|_| io::Error::other("the hashing thread stopped"))?;
                    return Ok(info);
                }
                encryptor.update(&piece.plain, &mut piece.body);
                full_tx
                    .send(piece)
                    .map_err(|_| io::Error::other("the hashing thread stopped"))?;
            }
        })();
        drop(full_tx);
        let hashed = hasher
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A failed write explains a stopped hashing thread better than the channel error.
        let (file_sha256, enc_hash, streaming_sidecar) = hashed?;
        let mut info = produced?;
        // The MAC went through the channel with the last body piece, so the hash covers it.
        info.file_sha256 = file_sha256;
        info.file_enc_sha256 = enc_hash.finalize().into();
        info.streaming_sidecar = streaming_sidecar;
        Ok(info)
    })
}

/// Reads until `buf` is full or EOF.
fn fill<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

enum ToHasher {
    Piece(Piece),
    /// The last plaintext: hashed at once, written only on `true` from the commit channel.
    Last(Vec<u8>),
}

/// Decrypts `reader` into `writer` like [`crate::decrypt_stream`], but on two threads: this
/// one runs the MAC, AES-CBC and the sidecar checks, the second hashes ciphertext and
/// plaintext and writes. The last plaintext is written only after every check, hashes
/// included, passed; earlier plaintext is provisional exactly as with [`crate::Decryptor`].
pub fn decrypt_stream_parallel<R: Read, W: Write + Send>(
    mut reader: R,
    writer: W,
    keys: &MediaKeys,
    expected: Expected,
) -> Result<DecryptedInfo, Error> {
    let mut decryptor = Decryptor::with_keys(keys, expected.clone()).without_hashes();
    let (full_tx, full_rx) = mpsc::sync_channel::<ToHasher>(IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Piece>(IN_FLIGHT);
    let (digest_tx, digest_rx) = mpsc::sync_channel::<([u8; 32], [u8; 32])>(1);
    let (commit_tx, commit_rx) = mpsc::sync_channel::<bool>(1);
    for _ in 0..IN_FLIGHT {
        let piece = Piece {
            plain: Vec::with_capacity(PIECE + 64),
            body: vec![0; PIECE],
        };
        empty_tx
            .send(piece)
            .unwrap_or_else(|_| unreachable!("the channel holds IN_FLIGHT pieces"));
    }
    let stopped = || Error::Io(io::Error::other("the hashing thread stopped"));
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || -> io::Result<()> {
            let mut writer = writer;
            let mut plain_hash = Sha256::new();
            let mut enc_hash = Sha256::new();
            for message in full_rx {
                match message {
                    ToHasher::Piece(piece) => {
                        enc_hash.update(&piece.body);
                        plain_hash.update(&piece.plain);
                        writer.write_all(&piece.plain)?;
                        let _ = empty_tx.send(piece);
                    }
                    ToHasher::Last(last) => {
                        plain_hash.update(&last);
                        let digests = (plain_hash.finalize().into(), enc_hash.finalize().into());
                        if digest_tx.send(digests).is_ok() && commit_rx.recv() == Ok(true) {
                            writer.write_all(&last)?;
                            writer.flush()?;
                        }
                        return Ok(());
                    }
                }
            }
            Ok(())
        });
        let decrypted = (|| -> Result<DecryptedInfo, Error> {
            loop {
                let mut piece = empty_rx.recv().map_err(|_| stopped())?;
                piece.body.resize(PIECE, 0);
                let n = fill(&mut reader, &mut piece.body)?;
                if n == 0 {
                    let mut last = Vec::new();
                    let mut info = decryptor.finish(&mut last)?;
                    full_tx.send(ToHasher::Last(last)).map_err(|_| stopped())?;
                    let (file_sha256, file_enc_sha256) = digest_rx.recv().map_err(|_| stopped())?;
                    info.file_sha256 = file_sha256;
                    info.file_enc_sha256 = file_enc_sha256;
                    let verdict = check_hashes(&expected, &info);
                    commit_tx.send(verdict.is_ok()).map_err(|_| stopped())?;
                    return verdict.map(|()| info);
                }
                piece.body.truncate(n);
                piece.plain.clear();
                decryptor.update(&piece.body, &mut piece.plain)?;
                full_tx
                    .send(ToHasher::Piece(piece))
                    .map_err(|_| stopped())?;
            }
        })();
        drop(full_tx);
        drop(commit_tx);
        let written = hasher
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A failed write explains a stopped hashing thread better than the channel error.
        written?;
        decrypted
    })
}

fn check_hashes(expected: &Expected, info: &DecryptedInfo) -> Result<(), Error> {
    use subtle::ConstantTimeEq;
    // `is_some_and`, not a let chain: let chains need Rust 1.88, our rust-version is 1.85.
    if expected
        .file_enc_sha256
        .is_some_and(|want| !bool::from(want.ct_eq(&info.file_enc_sha256)))
    {
        return Err(Error::FileEncSha256Mismatch);
    }
    if expected
        .file_sha256
        .is_some_and(|want| !bool::from(want.ct_eq(&info.file_sha256)))
    {
        return Err(Error::FileSha256Mismatch);
    }
    Ok(())
}
