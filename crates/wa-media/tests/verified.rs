//! `decrypt_verified` hands out nothing unverified, whatever its source does: a source that
//! changes between reads, or while it is read, gets an error and an untouched writer.

use rand::{RngCore, SeedableRng, rngs::StdRng};
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use wa_media::*;

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

/// A file being rewritten: serves `first` until `switch_after` bytes were read or the reader
/// is rewound after reading, then serves `second` at the same offsets.
struct ChangingSource {
    first: Vec<u8>,
    second: Vec<u8>,
    pos: u64,
    read: u64,
    switch_after: u64,
    switched: bool,
}

impl ChangingSource {
    fn new(first: Vec<u8>, second: Vec<u8>, switch_after: u64) -> ChangingSource {
        ChangingSource {
            first,
            second,
            pos: 0,
            read: 0,
            switch_after,
            switched: false,
        }
    }
}

impl Read for ChangingSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read >= self.switch_after {
            self.switched = true;
        }
        let source = if self.switched {
            &self.second
        } else {
            &self.first
        };
        let start = (self.pos as usize).min(source.len());
        // Small reads, so a switch can land in the middle of the body.
        let n = buf.len().min(source.len() - start).min(4096);
        buf[..n].copy_from_slice(&source[start..start + n]);
        self.pos += n as u64;
        self.read += n as u64;
        Ok(n)
    }
}

impl Seek for ChangingSource {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.first.len() as i64;
        self.pos = match to {
            SeekFrom::Start(p) => p as i64,
            SeekFrom::End(d) => len + d,
            SeekFrom::Current(d) => self.pos as i64 + d,
        } as u64;
        if self.read > 0 && self.pos == 0 {
            self.switched = true;
        }
        Ok(self.pos)
    }
}

fn setup(len: usize) -> (MediaKeys, Vec<u8>, Vec<u8>, Vec<u8>) {
    let key = MediaKey::from_array([7; 32]);
    let plain = data(len, 1);
    let (body, _) = encrypt_bytes(&key, MediaType::Document, &plain);
    let mut changed = body.clone();
    // A rewrite in the middle of the file, far from the MAC.
    let at = changed.len() / 2;
    for b in &mut changed[at..at + 64] {
        *b ^= 0x5a;
    }
    (key.expand(MediaType::Document), plain, body, changed)
}

#[test]
fn a_source_rewritten_between_reads_gets_nothing_unverified_written() {
    for len in [100_000, 3 * 1024 * 1024] {
        let (keys, plain, body, changed) = setup(len);
        let source = ChangingSource::new(body, changed, u64::MAX);
        let mut out = Vec::new();
        let result = decrypt_verified(source, &mut out, &keys, Expected::default());
        // Either the body that was verified, all of it, or nothing at all.
        match result {
            Ok(info) => {
                assert_eq!(info.file_length, len as u64);
                assert!(
                    out == plain,
                    "len {len}: written plaintext is not the verified one"
                );
            }
            Err(e) => assert!(
                out.is_empty(),
                "len {len}: {} bytes written, then {e:?}",
                out.len()
            ),
        }
    }
}

#[test]
fn a_source_rewritten_while_read_gets_an_error_and_nothing_written() {
    for len in [100_000, 3 * 1024 * 1024] {
        let (keys, _, body, changed) = setup(len);
        let source = ChangingSource::new(body.clone(), changed.clone(), 8192);
        let mut out = Vec::new();
        let err = decrypt_verified(source, &mut out, &keys, Expected::default()).unwrap_err();
        assert!(matches!(err, Error::MacMismatch), "{err:?}");
        assert!(out.is_empty(), "len {len}: {} bytes written", out.len());
        let source = ChangingSource::new(body.clone(), changed.clone(), 8192);
        let err = decrypt_verified_parallel(source, &mut out, &keys, Expected::default());
        assert!(matches!(err, Err(Error::MacMismatch)), "{err:?}");
        assert!(out.is_empty(), "len {len}: {} bytes written", out.len());
    }
}

#[test]
fn any_failed_check_writes_nothing_and_spools_of_every_size_round_trip() {
    // Around the in-memory spool's limit, and well past it (a temporary file).
    for len in [
        0,
        1,
        SPOOL_MEMORY - 17,
        SPOOL_MEMORY,
        SPOOL_MEMORY + 1,
        2 * SPOOL_MEMORY + 5,
    ] {
        let key = MediaKey::from_array([9; 32]);
        let plain = data(len, len as u64);
        let (body, info) = encrypt_bytes(&key, MediaType::Video, &plain);
        let keys = key.expand(MediaType::Video);
        let expected = Expected {
            file_sha256: Some(info.file_sha256),
            file_enc_sha256: Some(info.file_enc_sha256),
            file_length: Some(info.file_length),
            streaming_sidecar: None,
        };
        let mut out = Vec::new();
        let got = decrypt_verified(&body[..], &mut out, &keys, expected.clone()).unwrap();
        assert_eq!(
            (got.file_length, out == plain),
            (len as u64, true),
            "len {len}"
        );
        let mut out = Vec::new();
        let got = decrypt_verified_parallel(&body[..], &mut out, &keys, expected.clone()).unwrap();
        assert_eq!(
            (got.file_length, out == plain),
            (len as u64, true),
            "len {len}"
        );
        // The caller's spool, starting past data it already holds.
        let mut spool = Cursor::new(b"unrelated".to_vec());
        spool.seek(SeekFrom::End(0)).unwrap();
        let mut out = Vec::new();
        decrypt_verified_via(&body[..], &mut spool, &mut out, &keys, expected.clone()).unwrap();
        assert!(out == plain, "len {len}");
        if len != 1 && len != 2 * SPOOL_MEMORY + 5 {
            continue;
        }
        // Every failed check: nothing written.
        let mut flipped = body.clone();
        let last = flipped.len() - 1;
        flipped[last / 2] ^= 1;
        let wrong_hash = Expected {
            file_sha256: Some([0; 32]),
            ..expected.clone()
        };
        let wrong_length = Expected {
            file_length: Some(len as u64 + 1),
            ..Expected::default()
        };
        for (bad, expected) in [
            (&flipped[..], Expected::default()),
            (&body[..last], Expected::default()),
            (&body[..], wrong_hash),
            (&body[..], wrong_length),
        ] {
            let mut out = Vec::new();
            assert!(decrypt_verified(bad, &mut out, &keys, expected.clone()).is_err());
            assert!(out.is_empty(), "len {len}");
            let mut out = Vec::new();
            assert!(decrypt_verified_parallel(bad, &mut out, &keys, expected.clone()).is_err());
            assert!(out.is_empty(), "len {len}");
            let mut out = Vec::new();
            let spool = Cursor::new(Vec::new());
            assert!(decrypt_verified_via(bad, spool, &mut out, &keys, expected).is_err());
            assert!(out.is_empty(), "len {len}");
        }
    }
}

/// The names in `dir`, sorted: a staged file left behind would show here.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn to_file_round_trips_and_every_failed_check_leaves_the_destination_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("media.bin");
    for len in [0, 1, 300_000, 3 * 1024 * 1024 + 7] {
        let key = MediaKey::from_array([5; 32]);
        let plain = data(len, len as u64 + 3);
        let (body, info) = encrypt_bytes(&key, MediaType::Image, &plain);
        let keys = key.expand(MediaType::Image);
        let expected = Expected {
            file_sha256: Some(info.file_sha256),
            file_enc_sha256: Some(info.file_enc_sha256),
            file_length: Some(info.file_length),
            streaming_sidecar: None,
        };
        // What a failed check must leave at the destination: the previous file.
        std::fs::write(&dest, b"previous").unwrap();
        let mut flipped = body.clone();
        let last = flipped.len() - 1;
        flipped[last / 2] ^= 1;
        let wrong_hash = Expected {
            file_sha256: Some([0; 32]),
            ..expected.clone()
        };
        for (bad, expected) in [
            (&flipped[..], Expected::default()),
            (&body[..last], Expected::default()),
            (&body[..], wrong_hash),
        ] {
            assert!(decrypt_verified_to_file(bad, &dest, &keys, expected).is_err());
            assert_eq!(std::fs::read(&dest).unwrap(), b"previous", "len {len}");
            assert_eq!(names(dir.path()), ["media.bin"], "len {len}");
        }
        // A source rewritten while read: an error, and still the previous file.
        if len > 8192 {
            let mut changed = body.clone();
            let at = changed.len() / 2;
            changed[at] ^= 0x5a;
            let source = ChangingSource::new(body.clone(), changed, 8192);
            let err = decrypt_verified_to_file(source, &dest, &keys, Expected::default());
            assert!(matches!(err, Err(Error::MacMismatch)), "{err:?}");
            assert_eq!(std::fs::read(&dest).unwrap(), b"previous", "len {len}");
        }
        let (got, _) = decrypt_verified_to_file(&body[..], &dest, &keys, expected.clone()).unwrap();
        assert_eq!(got.file_length, len as u64);
        assert!(std::fs::read(&dest).unwrap() == plain, "len {len}");
        assert_eq!(names(dir.path()), ["media.bin"], "len {len}");
        // The general form, into memory.
        let (_, held) = decrypt_verified_into(&body[..], Vec::new(), &keys, expected).unwrap();
        assert!(held == plain, "len {len}");
    }
}

#[cfg(unix)]
#[test]
fn to_file_plaintext_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("photo.jpg");
    let key = MediaKey::from_array([6; 32]);
    let (body, _) = encrypt_bytes(&key, MediaType::Image, b"pixels");
    let keys = key.expand(MediaType::Image);
    decrypt_verified_to_file(&body[..], &dest, &keys, Expected::default()).unwrap();
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[cfg(target_os = "linux")]
#[test]
fn to_file_gives_back_the_disk_it_reserved_ahead() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("video.mp4");
    let key = MediaKey::from_array([8; 32]);
    let plain = data(3 * 1024 * 1024 + 11, 8);
    let (body, _) = encrypt_bytes(&key, MediaType::Video, &plain);
    let keys = key.expand(MediaType::Video);
    let (_, file) = decrypt_verified_to_file(&body[..], &dest, &keys, Expected::default()).unwrap();
    file.sync_all().unwrap();
    let meta = std::fs::metadata(&dest).unwrap();
    assert_eq!(meta.len(), plain.len() as u64);
    // Without the trim at commit, the reservation would hold RESERVE_STEP past the data.
    let on_disk = meta.blocks() * 512;
    assert!(
        on_disk < meta.len() + RESERVE_STEP / 2,
        "{on_disk} bytes on disk for {}",
        meta.len()
    );
}
