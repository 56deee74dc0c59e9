//! Streams generated data through the media pipeline, to measure throughput and to show
//! that memory stays flat whatever the size.
//!
//! `cargo run --release -p wa-media --example encrypt_stream -- [MiB] [MODE] [TYPE]`
//!
//! MODE: `encrypt` (one thread, default), `parallel` (a second thread hashes), `decrypt`
//! (encrypts into memory untimed, then times decryption; needs MiB of RAM),
//! `decrypt-parallel`, `verified` and `verified-parallel` (`decrypt_verified`: plaintext
//! spooled until the MAC verified), `decrypt-file` (`decrypt_stream` into a file) and
//! `verified-file` (`decrypt_verified_to_file`: staged next to the file, renamed into place
//! after the MAC verified), both in the temporary directory and removed again, `all`,
//! `parts` (each primitive alone). `decrypt-flat`, `decrypt-parallel-flat`, `verified-flat`,
//! `verified-parallel-flat` and `verified-file-flat` decrypt a body that
//! is encrypted as it is read, without holding it, for the memory figure.
//! Time: one-thread modes report bytes per second of this thread's CPU time (from
//! `/proc/thread-self/schedstat`, which `openssl speed` matches by timing its own CPU time),
//! so a busy shared machine does not skew the figures; the two-thread modes report wall time,
//! since they are only worth their second thread when it has a free core.
//! TYPE: `document` (default: CBC + HMAC + two SHA-256s, as Baileys does) or `video` (adds
//! the sidecar). Prints `RESULT <mode> <MB/s>` lines. For memory, run `encrypt` or
//! `parallel` under `/usr/bin/time -v` and read "Maximum resident set size".

use std::io::{self, Cursor, Read};
use std::time::Instant;
use wa_media::{Decryptor, EncryptReader, Encryptor, Error, Expected, MediaKey, MediaType};

/// Yields `left` bytes cycling through a 1 MiB pseudo-random pattern, without holding them.
struct Generated {
    pattern: Vec<u8>,
    at: usize,
    left: u64,
}

impl Generated {
    fn new(len: u64) -> Generated {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let pattern = (0..1 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        Generated {
            pattern,
            at: 0,
            left: len,
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(self.pattern.len() - self.at)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.pattern[self.at..self.at + n]);
        self.at = (self.at + n) % self.pattern.len();
        self.left -= n as u64;
        Ok(n)
    }
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let mode = args.next().unwrap_or_else(|| "encrypt".to_owned());
    let ty = match args.next().as_deref() {
        Some("video") => MediaType::Video,
        _ => MediaType::Document,
    };
    let bytes = mib * 1024 * 1024;
    let key = MediaKey::from_array([42; 32]);
    let modes: &[&str] = match mode.as_str() {
        "all" => &[
            "encrypt",
            "parallel",
            "decrypt",
            "decrypt-parallel",
            "verified",
            "verified-parallel",
            "decrypt-file",
            "verified-file",
        ],
        "decrypt-parallel" => &["decrypt-parallel"],
        "parallel" => &["parallel"],
        "decrypt" => &["decrypt"],
        "verified" => &["verified"],
        "verified-parallel" => &["verified-parallel"],
        "decrypt-flat" => &["decrypt-flat"],
        "decrypt-parallel-flat" => &["decrypt-parallel-flat"],
        "verified-flat" => &["verified-flat"],
        "verified-parallel-flat" => &["verified-parallel-flat"],
        "decrypt-file" => &["decrypt-file"],
        "verified-file" => &["verified-file"],
        "verified-file-flat" => &["verified-file-flat"],
        "parts" => &["aes-cbc-encrypt", "sha256", "hmac-sha256"],
        _ => &["encrypt"],
    };
    for &mode in modes {
        let started;
        match mode {
            "parallel" => {
                started = Clock::start();
                let source = Generated::new(bytes);
                wa_media::encrypt_stream_parallel(source, io::sink(), Encryptor::new(&key, ty))?;
            }
            "decrypt" | "decrypt-parallel" | "verified" | "verified-parallel" | "decrypt-file"
            | "verified-file" => {
                let mut body = Vec::new();
                let encryptor = Encryptor::new(&key, ty);
                wa_media::encrypt_stream(Generated::new(bytes), &mut body, encryptor)?;
                started = Clock::start();
                decrypt(mode, Cursor::new(&body), &key, ty)?;
            }
            flat if flat.ends_with("-flat") => {
                started = Clock::start();
                let body = EncryptReader::new(Generated::new(bytes), Encryptor::new(&key, ty));
                decrypt(flat.trim_end_matches("-flat"), body, &key, ty)?;
            }
            "aes-cbc-encrypt" | "sha256" | "hmac-sha256" => {
                started = Clock::start();
                primitive(mode, bytes);
            }
            _ => {
                started = Clock::start();
                let source = Generated::new(bytes);
                wa_media::encrypt_stream(source, io::sink(), Encryptor::new(&key, ty))?;
            }
        }
        let secs = started.secs(mode.contains("parallel"));
        if mode.contains("file") {
            std::fs::remove_file(bench_file())?;
        }
        println!("RESULT {mode} {:.1}", bytes as f64 / secs / 1e6);
    }
    Ok(())
}

/// Wall time and this thread's CPU time.
struct Clock {
    wall: Instant,
    cpu_ns: Option<u64>,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu_ns: thread_cpu_ns(),
        }
    }

    /// Seconds since `start`: wall time if `wall`, else this thread's CPU time (wall time
    /// where the kernel does not say).
    fn secs(&self, wall: bool) -> f64 {
        match (wall, self.cpu_ns, thread_cpu_ns()) {
            (false, Some(start), Some(now)) => (now - start) as f64 / 1e9,
            _ => self.wall.elapsed().as_secs_f64(),
        }
    }
}

/// Nanoseconds this thread has run on a CPU (user and system).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Decrypts `body` into nothing the way `mode` names.
fn decrypt<R: Read>(mode: &str, body: R, key: &MediaKey, ty: MediaType) -> Result<(), Error> {
    let keys = key.expand(ty);
    let none = Expected::default();
    match mode {
        "decrypt" => {
            let decryptor = Decryptor::new(key, ty, none);
            wa_media::decrypt_stream(body, io::sink(), decryptor)?
        }
        "decrypt-parallel" => wa_media::decrypt_stream_parallel(body, io::sink(), &keys, none)?,
        "verified" => wa_media::decrypt_verified(body, io::sink(), &keys, none)?,
        // Into a file in the temporary directory (removed after the clock stopped): what a
        // download to disk costs, the file's write included.
        "decrypt-file" => {
            let path = bench_file();
            let file = std::fs::File::create(&path)?;
            let decryptor = Decryptor::new(key, ty, none);
            wa_media::decrypt_stream(body, file, decryptor)?
        }
        "verified-file" => {
            let path = bench_file();
            wa_media::decrypt_verified_to_file(body, &path, &keys, none)?.0
        }
        _ => wa_media::decrypt_verified_parallel(body, io::sink(), &keys, none)?,
    };
    Ok(())
}

/// Where the `-file` modes write (and remove again).
fn bench_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("wa-media-bench-{}", std::process::id()))
}

/// One primitive alone over `bytes` of 64 KiB pieces, for the per-part figures.
fn primitive(which: &str, bytes: u64) {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, consts::U16, inout::InOutBuf};
    use hmac::Mac;
    use sha2::Digest;
    let mut piece = vec![7u8; 64 * 1024];
    let mut cbc = cbc::Encryptor::<aes::Aes256>::new(&[1; 32].into(), &[2; 16].into());
    let mut sha = sha2::Sha256::new();
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&[3; 32])
        .unwrap_or_else(|_| unreachable!());
    for _ in 0..bytes / piece.len() as u64 {
        match which {
            "aes-cbc-encrypt" => {
                let (blocks, _) = InOutBuf::from(piece.as_mut_slice()).into_chunks::<U16>();
                cbc.encrypt_blocks_inout_mut(blocks);
            }
            "sha256" => sha.update(&piece),
            _ => mac.update(&piece),
        }
    }
    std::hint::black_box((sha.finalize(), mac.finalize().into_bytes(), piece));
}
