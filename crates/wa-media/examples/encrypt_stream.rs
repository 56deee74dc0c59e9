//! Streams generated data through the encryptor to nowhere, to measure throughput and show
//! that memory stays flat whatever the size.
//!
//! `cargo run --release -p wa-media --example encrypt_stream -- [MiB] [single|parallel|decrypt]`
//! then look at "Maximum resident set size" under `/usr/bin/time -v`.

use std::io::{self, Read};
use std::time::Instant;
use wa_media::{Decryptor, EncryptReader, Encryptor, Expected, MediaKey, MediaType};

/// Yields `left` bytes of a cheap, non-constant pattern without holding them.
struct Generated {
    left: u64,
    counter: u64,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for chunk in buf[..n].chunks_mut(8) {
            self.counter = self
                .counter
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1);
            let bytes = self.counter.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn main() -> Result<(), wa_media::Error> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let mode = args.next().unwrap_or_else(|| "single".to_owned());
    let bytes = mib * 1024 * 1024;
    let key = MediaKey::from_array([42; 32]);
    let ty = match std::env::var("MEDIA_TYPE").as_deref() {
        Ok("document") => MediaType::Document,
        _ => MediaType::Video,
    };
    let source = Generated {
        left: bytes,
        counter: 1,
    };
    let started = Instant::now();
    let info = match mode.as_str() {
        "parallel" => {
            wa_media::encrypt_stream_parallel(source, io::sink(), Encryptor::new(&key, ty))?
        }
        "decrypt" => {
            // Encrypt on the fly and decrypt the stream: both directions in one process.
            let reader = EncryptReader::new(source, Encryptor::new(&key, ty));
            let decryptor = Decryptor::new(&key, ty, Expected::default());
            let verified = wa_media::decrypt_stream(reader, io::sink(), decryptor)?;
            println!("decrypted {} bytes", verified.file_length);
            return report(bytes, started);
        }
        _ => wa_media::encrypt_stream(source, io::sink(), Encryptor::new(&key, ty))?,
    };
    println!(
        "{mode}: {} bytes, sidecar {} bytes, fileEncSha256 {:02x?}",
        info.file_length,
        info.streaming_sidecar.as_ref().map_or(0, Vec::len),
        &info.file_enc_sha256[..4]
    );
    report(bytes, started)
}

fn report(bytes: u64, started: Instant) -> Result<(), wa_media::Error> {
    let secs = started.elapsed().as_secs_f64();
    println!("{:.1} MB/s ({secs:.2} s)", bytes as f64 / secs / 1e6);
    Ok(())
}
