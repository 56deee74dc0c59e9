//! Two-thread encryption: CBC is serial, so this thread runs AES-CBC and the MAC while a
//! second thread hashes the plaintext and the ciphertext, builds the sidecar and writes the
//! body. Buffers circulate between the two through bounded channels, so memory stays flat.

use crate::io::IO_BUF;
use crate::{EncryptedInfo, Encryptor, Error};
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
        let mut info = produced?;
        let (file_sha256, enc_hash, streaming_sidecar) = hashed?;
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
