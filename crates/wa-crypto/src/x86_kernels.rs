//! SHA-256 and AES-256-CBC on x86-64's SHA and AES instructions, and the two stitched into one
//! loop: the workspace's only `unsafe` code.
//!
//! Why it exists: a Signal message is authenticated (HMAC-SHA256 over the ciphertext), then
//! decrypted (AES-256-CBC); sending, encrypted, then MACed. SHA-256 is one long dependency
//! chain of rounds; CBC decryption is parallel and cheap, CBC encryption another chain. Run one
//! after the other, even a few blocks at a time, the core overlapped the two only in part
//! encrypting and not at all decrypting (the SHA-256 rounds waiting on each other fill its
//! scheduler, and the AES rounds queue behind them). Written as one loop, after each group of
//! four SHA-256 rounds one AES round of four blocks (decrypting) or four steps of the CBC
//! chain (encrypting, the MAC's stream one block behind the cipher), the cheaper chain runs in
//! the gaps of the other: on 10 KiB, an authenticated decrypt in 7.5 µs against 7.1 for its
//! HMAC alone and 2.0 for the CBC decryption alone, a sealed encryption in 13.0 µs against 14.9
//! for the CBC encryption alone (AMD EPYC, one core).
//!
//! Why `unsafe`: the instructions are reachable only through `core::arch` intrinsics, which
//! need `unsafe` to call from a function compiled for the features (our minimum Rust) and to
//! load and store vectors through pointers. The rules this module keeps:
//! - A [`Kernels`] value exists only once [`Kernels::detect`] has seen every feature the
//!   `#[target_feature]` functions are compiled for, and those functions are private and
//!   called only through a `Kernels`: they never run on a processor without the instructions.
//! - Every pointer read or written comes from a slice chunk of exactly the width accessed
//!   (`chunks_exact`, arrays), so each access is in bounds; unaligned loads and stores only.
//!
//! The results are checked against the RustCrypto implementations (`sha2`, `aes` + `cbc`):
//! byte for byte in this module's tests and property tests, through every MAC, encryption and
//! decryption of wa-crypto's and wa-signal's tests, and by the `cbc_hmac_open` fuzz target.

// `unused_unsafe`: since Rust 1.87 most intrinsics are safe to call inside a function compiled
// for their features; on our minimum Rust (1.86) they are not, so the blocks stay.
#![allow(unsafe_code, unused_unsafe)]

use std::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_aesdec_si128, _mm_aesdeclast_si128, _mm_aesenc_si128,
    _mm_aesenclast_si128, _mm_aesimc_si128, _mm_aeskeygenassist_si128, _mm_alignr_epi8,
    _mm_blend_epi16, _mm_loadu_si128, _mm_set_epi64x, _mm_setzero_si128, _mm_sha256msg1_epu32,
    _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi8, _mm_shuffle_epi32,
    _mm_slli_si128, _mm_storeu_si128, _mm_xor_si128,
};

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::primitives::{AES_BLOCK_LEN, SHA256_BLOCK_LEN};

/// SHA-256's round constants (FIPS 180-4, 4.2.2).
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// AES-256 has 14 rounds: 15 round keys.
const ROUND_KEYS: usize = 15;

/// Proof that the processor has SSSE3, SSE4.1, SHA and AES-NI: the only way to reach the
/// kernels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernels(());

impl Kernels {
    /// The kernels, if this processor has every instruction they use (the standard library
    /// caches the answer: this costs a few loads).
    pub(crate) fn detect() -> Option<Kernels> {
        let all = std::arch::is_x86_feature_detected!("sse2")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("aes");
        all.then_some(Kernels(()))
    }

    /// SHA-256's compression of every 64-byte block of `blocks` (a shorter remainder is left
    /// alone) into `state`.
    pub(crate) fn compress(self, state: &mut [u32; 8], blocks: &[u8]) {
        // SAFETY: `self` proves the features `compress_blocks` is compiled for.
        unsafe { compress_blocks(state, blocks) }
    }

    /// The encryption round keys of an AES-256 key.
    pub(crate) fn encryption_keys(self, key: &[u8; 32]) -> EncryptionKeys {
        // SAFETY: as in `compress`.
        unsafe { encryption_keys(key) }
    }

    /// The decryption round keys of an AES-256 key.
    pub(crate) fn decryption_keys(self, key: &[u8; 32]) -> DecryptionKeys {
        // SAFETY: as in `compress`.
        unsafe { decryption_keys(key) }
    }

    /// CBC encryption of `input` (whole blocks), then of `last`, into `out` (exactly one block
    /// longer than `input`), chained from `iv`, with SHA-256's compression into `state` of the
    /// MAC's stream `head ‖ out` stitched in (`head`, under 64 bytes, is what the MAC holds of
    /// its current block): each of the stream's 64-byte blocks as soon as the ciphertext it
    /// needs is written, one per 64 bytes of ciphertext. Returns the bytes of the stream
    /// compressed (whole blocks; `head` among them once any is).
    ///
    /// # Panics
    /// If the lengths are not as said (a caller's bug, not an input's).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn seal(
        self,
        keys: &EncryptionKeys,
        iv: &[u8; AES_BLOCK_LEN],
        state: &mut [u32; 8],
        head: &[u8],
        input: &[u8],
        last: &[u8; AES_BLOCK_LEN],
        out: &mut [u8],
    ) -> usize {
        assert!(
            head.len() < SHA256_BLOCK_LEN
                && input.len() % AES_BLOCK_LEN == 0
                && out.len() == input.len() + AES_BLOCK_LEN,
            "seal: lengths"
        );
        // SAFETY: as in `compress`.
        unsafe { seal(keys, iv, state, head, input, last, out) }
    }

    /// CBC decryption of `ciphertext` (whole blocks; a shorter remainder is left alone) into
    /// `out` (as long), chained from `iv`, with SHA-256's compression of `mac_input`'s blocks
    /// into `state` stitched in: one 64-byte block of `mac_input` per 64 bytes of ciphertext,
    /// as far as both go, then the rest of the ciphertext alone. Returns the bytes of
    /// `mac_input` compressed (whole blocks, at most the ciphertext's length).
    pub(crate) fn open(
        self,
        keys: &DecryptionKeys,
        iv: &[u8; AES_BLOCK_LEN],
        state: &mut [u32; 8],
        mac_input: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> usize {
        // SAFETY: as in `compress`.
        unsafe { open(keys, iv, state, mac_input, ciphertext, out) }
    }
}

/// Fifteen AES-256 round keys, wiped on drop.
struct Schedule([[u8; AES_BLOCK_LEN]; ROUND_KEYS]);

impl Schedule {
    /// The keys in registers (their stack copy is the caller's to wipe).
    #[inline(always)]
    unsafe fn load(&self) -> [__m128i; ROUND_KEYS] {
        let mut keys = unsafe { [_mm_setzero_si128(); ROUND_KEYS] };
        for (key, bytes) in keys.iter_mut().zip(&self.0) {
            *key = unsafe { load(bytes) };
        }
        keys
    }
}

impl Drop for Schedule {
    fn drop(&mut self) {
        self.0.as_flattened_mut().zeroize();
    }
}

/// AES-256 encryption round keys (FIPS 197's key expansion).
pub(crate) struct EncryptionKeys(Schedule);

/// AES-256 decryption round keys (the equivalent inverse cipher's: the encryption schedule
/// reversed, the middle ones through InvMixColumns).
pub(crate) struct DecryptionKeys(Schedule);

impl ZeroizeOnDrop for EncryptionKeys {}
impl ZeroizeOnDrop for DecryptionKeys {}

/// The byte shuffle that reads four big-endian words into SHA-256's lanes.
#[inline(always)]
unsafe fn byte_swap_mask() -> __m128i {
    unsafe { _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203) }
}

/// Four round constants, from round `4 * group`.
#[inline(always)]
unsafe fn round_constants(group: usize) -> __m128i {
    let k: &[u32; 4] = K[4 * group..4 * group + 4]
        .try_into()
        .expect("four constants");
    // SAFETY: `k` is 16 readable bytes.
    unsafe { _mm_loadu_si128(k.as_ptr().cast()) }
}

/// A 16-byte chunk as a vector.
#[inline(always)]
unsafe fn load(bytes: &[u8]) -> __m128i {
    let bytes: &[u8; 16] = bytes.try_into().expect("a 16-byte chunk");
    // SAFETY: `bytes` is 16 readable bytes; the load is unaligned.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

/// A vector into a 16-byte chunk.
#[inline(always)]
unsafe fn store(bytes: &mut [u8], value: __m128i) {
    let bytes: &mut [u8; 16] = bytes.try_into().expect("a 16-byte chunk");
    // SAFETY: `bytes` is 16 writable bytes; the store is unaligned.
    unsafe { _mm_storeu_si128(bytes.as_mut_ptr().cast(), value) }
}

/// The state's words `a..h` into the two vectors the SHA instructions take: `abef`, `cdgh`.
#[inline(always)]
unsafe fn load_state(state: &[u32; 8]) -> (__m128i, __m128i) {
    unsafe {
        let dcba = _mm_loadu_si128(state.as_ptr().cast());
        let hgfe = _mm_loadu_si128(state[4..].as_ptr().cast());
        let cdab = _mm_shuffle_epi32(dcba, 0xB1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        (
            _mm_alignr_epi8(cdab, efgh, 8),
            _mm_blend_epi16(efgh, cdab, 0xF0),
        )
    }
}

/// The inverse of [`load_state`].
#[inline(always)]
unsafe fn store_state(state: &mut [u32; 8], abef: __m128i, cdgh: __m128i) {
    unsafe {
        let feba = _mm_shuffle_epi32(abef, 0x1B);
        let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
        let dcba = _mm_blend_epi16(feba, dchg, 0xF0);
        let hgfe = _mm_alignr_epi8(dchg, feba, 8);
        _mm_storeu_si128(state.as_mut_ptr().cast(), dcba);
        _mm_storeu_si128(state[4..].as_mut_ptr().cast(), hgfe);
    }
}

/// The next four message words from the previous sixteen (`w[t-16..t-13]` to `w[t-4..t-1]`).
#[inline(always)]
unsafe fn schedule(w16: __m128i, w12: __m128i, w8: __m128i, w4: __m128i) -> __m128i {
    unsafe {
        let with_sigma0 = _mm_sha256msg1_epu32(w16, w12);
        let with_w7 = _mm_add_epi32(with_sigma0, _mm_alignr_epi8(w4, w8, 4));
        _mm_sha256msg2_epu32(with_w7, w4)
    }
}

/// Work run between SHA-256's groups of rounds: AES rounds, in the stitched loops.
trait BetweenGroups {
    /// Runs after group `group` (0 to 15) of four rounds.
    unsafe fn after_group(&mut self, group: usize);
}

/// Nothing between the groups (SHA-256 alone).
struct Nothing;

impl BetweenGroups for Nothing {
    #[inline(always)]
    unsafe fn after_group(&mut self, _group: usize) {}
}

/// The AES decryption rounds of four independent blocks: one round of all four after each
/// group but the last two (15 round keys: the first XOR is done before).
struct DecryptRounds<'k> {
    blocks: [__m128i; 4],
    keys: &'k [__m128i; ROUND_KEYS],
}

impl BetweenGroups for DecryptRounds<'_> {
    #[inline(always)]
    unsafe fn after_group(&mut self, group: usize) {
        unsafe {
            if group < 13 {
                for x in &mut self.blocks {
                    *x = _mm_aesdec_si128(*x, self.keys[group + 1]);
                }
            } else if group == 13 {
                for x in &mut self.blocks {
                    *x = _mm_aesdeclast_si128(*x, self.keys[14]);
                }
            }
        }
    }
}

/// CBC encryption of four blocks, each chained to the one before (a serial chain of 60 AES
/// steps): one block per four groups, its 15 steps (the first XORs, the last is the final
/// round) spread 4, 4, 4, 3.
struct EncryptRounds<'k> {
    plain: [__m128i; 4],
    cipher: [__m128i; 4],
    /// The block being encrypted, and before it, the previous ciphertext block.
    state: __m128i,
    keys: &'k [__m128i; ROUND_KEYS],
}

impl BetweenGroups for EncryptRounds<'_> {
    #[inline(always)]
    unsafe fn after_group(&mut self, group: usize) {
        unsafe {
            let (block, part) = (group / 4, group % 4);
            let k = self.keys;
            let mut x = self.state;
            match part {
                0 => {
                    x = _mm_xor_si128(_mm_xor_si128(x, self.plain[block]), k[0]);
                    x = _mm_aesenc_si128(x, k[1]);
                    x = _mm_aesenc_si128(x, k[2]);
                    x = _mm_aesenc_si128(x, k[3]);
                }
                1 | 2 => {
                    let first = 4 * part;
                    x = _mm_aesenc_si128(x, k[first]);
                    x = _mm_aesenc_si128(x, k[first + 1]);
                    x = _mm_aesenc_si128(x, k[first + 2]);
                    x = _mm_aesenc_si128(x, k[first + 3]);
                }
                _ => {
                    x = _mm_aesenc_si128(x, k[12]);
                    x = _mm_aesenc_si128(x, k[13]);
                    x = _mm_aesenclast_si128(x, k[14]);
                    self.cipher[block] = x;
                }
            }
            self.state = x;
        }
    }
}

/// One SHA-256 block's sixteen groups of four rounds, with `between` run after each group.
#[inline(always)]
unsafe fn sha256_block(
    abef: &mut __m128i,
    cdgh: &mut __m128i,
    block: &[u8],
    between: &mut impl BetweenGroups,
) {
    unsafe {
        let mask = byte_swap_mask();
        let (abef_before, cdgh_before) = (*abef, *cdgh);
        let mut w = [_mm_setzero_si128(); 16];
        for (word, chunk) in w.iter_mut().zip(block.chunks_exact(16)) {
            *word = _mm_shuffle_epi8(load(chunk), mask);
        }
        for group in 0..16 {
            if group >= 4 {
                w[group] = schedule(w[group - 4], w[group - 3], w[group - 2], w[group - 1]);
            }
            let words = _mm_add_epi32(w[group], round_constants(group));
            *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, words);
            *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32(words, 0x0E));
            between.after_group(group);
        }
        *abef = _mm_add_epi32(*abef, abef_before);
        *cdgh = _mm_add_epi32(*cdgh, cdgh_before);
    }
}

#[target_feature(enable = "sse2,ssse3,sse4.1,sha")]
unsafe fn compress_blocks(state: &mut [u32; 8], blocks: &[u8]) {
    unsafe {
        let (mut abef, mut cdgh) = load_state(state);
        for block in blocks.chunks_exact(SHA256_BLOCK_LEN) {
            sha256_block(&mut abef, &mut cdgh, block, &mut Nothing);
        }
        store_state(state, abef, cdgh);
    }
}

/// One step of AES-256's key expansion: the next round key from the one two before it and the
/// `assist` word (from the key just before it).
#[inline(always)]
unsafe fn expand_step(two_before: __m128i, assist: __m128i) -> __m128i {
    unsafe {
        let mut key = two_before;
        key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
        key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
        key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
        _mm_xor_si128(key, assist)
    }
}

/// AES-256's key expansion (FIPS 197, 5.2).
#[inline(always)]
unsafe fn expand(key: &[u8; 32]) -> [__m128i; ROUND_KEYS] {
    unsafe {
        let mut enc = [_mm_setzero_si128(); ROUND_KEYS];
        enc[0] = load(&key[..16]);
        enc[1] = load(&key[16..]);
        // Round keys 2..=14: an even one from RotWord/SubWord of the one before with the round
        // constant, an odd one from SubWord alone. The assist's round constant must be a
        // literal, hence one line per key.
        macro_rules! even {
            ($i:literal, $rcon:literal) => {
                let assist = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(enc[$i - 1], $rcon), 0xFF);
                enc[$i] = expand_step(enc[$i - 2], assist);
            };
        }
        macro_rules! odd {
            ($i:literal) => {
                let assist = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(enc[$i - 1], 0), 0xAA);
                enc[$i] = expand_step(enc[$i - 2], assist);
            };
        }
        even!(2, 0x01);
        odd!(3);
        even!(4, 0x02);
        odd!(5);
        even!(6, 0x04);
        odd!(7);
        even!(8, 0x08);
        odd!(9);
        even!(10, 0x10);
        odd!(11);
        even!(12, 0x20);
        odd!(13);
        even!(14, 0x40);
        enc
    }
}

#[target_feature(enable = "sse2,aes")]
unsafe fn encryption_keys(key: &[u8; 32]) -> EncryptionKeys {
    unsafe {
        let mut enc = expand(key);
        let mut keys = Schedule([[0; AES_BLOCK_LEN]; ROUND_KEYS]);
        for (out, key) in keys.0.iter_mut().zip(enc) {
            store(out, key);
        }
        // The schedule's copy on the stack wiped too (the kept keys wipe themselves).
        enc = [_mm_setzero_si128(); ROUND_KEYS];
        std::hint::black_box(&enc);
        EncryptionKeys(keys)
    }
}

#[target_feature(enable = "sse2,aes")]
unsafe fn decryption_keys(key: &[u8; 32]) -> DecryptionKeys {
    unsafe {
        let mut enc = expand(key);
        let mut keys = Schedule([[0; AES_BLOCK_LEN]; ROUND_KEYS]);
        for (round, out) in keys.0.iter_mut().enumerate() {
            let key = match round {
                0 => enc[14],
                14 => enc[0],
                _ => _mm_aesimc_si128(enc[14 - round]),
            };
            store(out, key);
        }
        // As in `encryption_keys`.
        enc = [_mm_setzero_si128(); ROUND_KEYS];
        std::hint::black_box(&enc);
        DecryptionKeys(keys)
    }
}

#[target_feature(enable = "sse2,ssse3,sse4.1,sha,aes")]
unsafe fn open(
    keys: &DecryptionKeys,
    iv: &[u8; AES_BLOCK_LEN],
    state: &mut [u32; 8],
    mac_input: &[u8],
    ciphertext: &[u8],
    out: &mut [u8],
) -> usize {
    unsafe {
        let mut rk = keys.0.load();
        let (mut abef, mut cdgh) = load_state(state);
        let mut previous = load(iv);
        let mut maced = 0;
        let mut decrypted = 0;
        // Four cipher blocks per SHA-256 block: their 15 rounds spread over its 16 groups.
        for ((block, input), output) in mac_input
            .chunks_exact(SHA256_BLOCK_LEN)
            .zip(ciphertext.chunks_exact(SHA256_BLOCK_LEN))
            .zip(out.chunks_exact_mut(SHA256_BLOCK_LEN))
        {
            let c = [
                load(&input[..16]),
                load(&input[16..32]),
                load(&input[32..48]),
                load(&input[48..]),
            ];
            let mut rounds = DecryptRounds {
                blocks: [
                    _mm_xor_si128(c[0], rk[0]),
                    _mm_xor_si128(c[1], rk[0]),
                    _mm_xor_si128(c[2], rk[0]),
                    _mm_xor_si128(c[3], rk[0]),
                ],
                keys: &rk,
            };
            sha256_block(&mut abef, &mut cdgh, block, &mut rounds);
            let x = rounds.blocks;
            store(&mut output[..16], _mm_xor_si128(x[0], previous));
            store(&mut output[16..32], _mm_xor_si128(x[1], c[0]));
            store(&mut output[32..48], _mm_xor_si128(x[2], c[1]));
            store(&mut output[48..], _mm_xor_si128(x[3], c[2]));
            previous = c[3];
            maced += SHA256_BLOCK_LEN;
            decrypted += SHA256_BLOCK_LEN;
        }
        store_state(state, abef, cdgh);
        // What the MAC input did not cover (it starts later in the message): block by block.
        for (input, output) in ciphertext[decrypted..]
            .chunks_exact(AES_BLOCK_LEN)
            .zip(out[decrypted..].chunks_exact_mut(AES_BLOCK_LEN))
        {
            let c = load(input);
            let mut x = _mm_xor_si128(c, rk[0]);
            for key in &rk[1..14] {
                x = _mm_aesdec_si128(x, *key);
            }
            x = _mm_aesdeclast_si128(x, rk[14]);
            store(output, _mm_xor_si128(x, previous));
            previous = c;
        }
        // The round keys' copy on the stack wiped (see `decryption_keys`).
        rk = [_mm_setzero_si128(); ROUND_KEYS];
        std::hint::black_box(&rk);
        maced
    }
}

#[target_feature(enable = "sse2,ssse3,sse4.1,sha,aes")]
unsafe fn seal(
    keys: &EncryptionKeys,
    iv: &[u8; AES_BLOCK_LEN],
    state: &mut [u32; 8],
    head: &[u8],
    input: &[u8],
    last: &[u8; AES_BLOCK_LEN],
    out: &mut [u8],
) -> usize {
    unsafe {
        let mut rk = keys.0.load();
        let (mut abef, mut cdgh) = load_state(state);
        let h = head.len();
        // The stream's first block when `head` starts it: `head`, then the first ciphertext.
        let mut first = [0u8; SHA256_BLOCK_LEN];
        first[..h].copy_from_slice(head);
        // Bytes of the stream `head ‖ out` compressed, and of `out` written.
        let (mut maced, mut written) = (0, 0);
        let mut chain = load(iv);
        // The stream's next block, if `done` (the ciphertext written) holds all of it.
        let next_block = |first: &mut [u8; SHA256_BLOCK_LEN], done: &[u8], maced: usize| {
            if maced + SHA256_BLOCK_LEN > h + done.len() {
                None
            } else if maced == 0 && h > 0 {
                first[h..].copy_from_slice(&done[..SHA256_BLOCK_LEN - h]);
                Some(*first)
            } else {
                let at = maced - h;
                Some(
                    done[at..at + SHA256_BLOCK_LEN]
                        .try_into()
                        .expect("one block"),
                )
            }
        };
        // Four plaintext blocks per step, and the stream's next block when it is written (one
        // step behind): the cipher's chain runs between the SHA-256 groups.
        for chunk in input.chunks_exact(SHA256_BLOCK_LEN) {
            let mut rounds = EncryptRounds {
                plain: [
                    load(&chunk[..16]),
                    load(&chunk[16..32]),
                    load(&chunk[32..48]),
                    load(&chunk[48..]),
                ],
                cipher: [_mm_setzero_si128(); 4],
                state: chain,
                keys: &rk,
            };
            let (done, rest) = out.split_at_mut(written);
            match next_block(&mut first, done, maced) {
                Some(block) => {
                    sha256_block(&mut abef, &mut cdgh, &block, &mut rounds);
                    maced += SHA256_BLOCK_LEN;
                }
                None => {
                    for group in 0..16 {
                        rounds.after_group(group);
                    }
                }
            }
            chain = rounds.state;
            for (output, cipher) in rest[..SHA256_BLOCK_LEN]
                .chunks_exact_mut(AES_BLOCK_LEN)
                .zip(rounds.cipher)
            {
                store(output, cipher);
            }
            written += SHA256_BLOCK_LEN;
        }
        // The last few blocks and the final one, alone.
        let tail = input.chunks_exact(SHA256_BLOCK_LEN).remainder();
        for block in tail.chunks_exact(AES_BLOCK_LEN).chain([&last[..]]) {
            let mut x = _mm_xor_si128(_mm_xor_si128(chain, load(block)), rk[0]);
            for key in &rk[1..14] {
                x = _mm_aesenc_si128(x, *key);
            }
            chain = _mm_aesenclast_si128(x, rk[14]);
            store(&mut out[written..written + AES_BLOCK_LEN], chain);
            written += AES_BLOCK_LEN;
        }
        // Then the stream's blocks still to compress.
        while let Some(block) = next_block(&mut first, out, maced) {
            sha256_block(&mut abef, &mut cdgh, &block, &mut Nothing);
            maced += SHA256_BLOCK_LEN;
        }
        store_state(state, abef, cdgh);
        // The round keys' copy on the stack wiped (see `encryption_keys`).
        rk = [_mm_setzero_si128(); ROUND_KEYS];
        std::hint::black_box(&rk);
        maced
    }
}

#[cfg(test)]
mod tests {
    use aes::Aes256;
    use cbc::cipher::block_padding::NoPadding;
    use cbc::cipher::{BlockDecryptMut, KeyIvInit};
    use proptest::prelude::*;
    use sha2::digest::generic_array::GenericArray;

    use super::*;
    use crate::primitives::SHA256_IV;

    /// The kernels, or `None` (and a note) on a processor without the instructions: there the
    /// portable paths run and these tests have nothing to test (the machines of this
    /// project's CI have both extensions).
    fn kernels() -> Option<Kernels> {
        let kernels = Kernels::detect();
        if kernels.is_none() {
            eprintln!("no SHA or AES instructions here: the x86-64 kernels are not tested");
        }
        kernels
    }

    fn reference_compress(state: &mut [u32; 8], blocks: &[u8]) {
        for block in blocks.chunks_exact(SHA256_BLOCK_LEN) {
            sha2::compress256(
                state,
                core::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
    }

    fn reference_cbc(key: &[u8; 32], iv: &[u8; 16], ciphertext: &[u8]) -> Vec<u8> {
        let mut out = ciphertext.to_vec();
        cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
            .decrypt_padded_mut::<NoPadding>(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn sha256_of_abc() {
        // FIPS 180-4's example "abc", padded by hand into one block.
        let mut block = [0u8; 64];
        block[..3].copy_from_slice(b"abc");
        block[3] = 0x80;
        block[63] = 24;
        let mut state = SHA256_IV;
        let Some(k) = kernels() else { return };
        k.compress(&mut state, &block);
        assert_eq!(
            state,
            [
                0xba78_16bf,
                0x8f01_cfea,
                0x4141_40de,
                0x5dae_2223,
                0xb003_61a3,
                0x9617_7a9c,
                0xb410_ff61,
                0xf200_15ad
            ]
        );
    }

    #[test]
    fn aes256_decryption_of_the_fips_197_example() {
        // FIPS 197, C.3: key 00..1f, plaintext 00112233..ff; one block with a zero IV.
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let ciphertext = hex::decode("8ea2b7ca516745bfeafc49904b496089").unwrap();
        let mut out = [0u8; 16];
        let Some(k) = kernels() else { return };
        let maced = k.open(
            &k.decryption_keys(&key),
            &[0; 16],
            &mut [0; 8],
            &[],
            &ciphertext,
            &mut out,
        );
        assert_eq!(maced, 0);
        assert_eq!(hex::encode(out), "00112233445566778899aabbccddeeff");
    }

    fn reference_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
        use cbc::cipher::BlockEncryptMut as _;
        let mut out = plaintext.to_vec();
        let len = out.len();
        cbc::Encryptor::<Aes256>::new(key.into(), iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut out, len)
            .unwrap();
        out
    }

    proptest! {
        #[test]
        fn seal_matches_cbc_and_sha2(
            key in any::<[u8; 32]>(),
            iv in any::<[u8; 16]>(),
            state in any::<[u32; 8]>(),
            blocks in 0usize..40,
            head_len in 0usize..64,
            seed in any::<u64>(),
        ) {
            use rand::{RngCore as _, SeedableRng as _};
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut plaintext = vec![0u8; (blocks + 1) * 16];
            rng.fill_bytes(&mut plaintext);
            let mut head = vec![0u8; head_len];
            rng.fill_bytes(&mut head);
            let (input, last) = plaintext.split_at(blocks * 16);
            let Some(k) = kernels() else { return Ok(()) };
            let mut out = vec![0u8; plaintext.len()];
            let mut ours = state;
            let maced = k.seal(
                &k.encryption_keys(&key),
                &iv,
                &mut ours,
                &head,
                input,
                last.try_into().unwrap(),
                &mut out,
            );
            prop_assert_eq!(&out, &reference_cbc_encrypt(&key, &iv, &plaintext));
            let stream = [&head[..], &out[..]].concat();
            prop_assert_eq!(maced, stream.len() / 64 * 64);
            let mut theirs = state;
            reference_compress(&mut theirs, &stream[..maced]);
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn compress_matches_sha2(
            state in any::<[u32; 8]>(),
            data in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let (mut ours, mut theirs) = (state, state);
            let Some(k) = kernels() else { return Ok(()) };
            k.compress(&mut ours, &data);
            reference_compress(&mut theirs, &data);
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn open_matches_cbc_and_sha2(
            key in any::<[u8; 32]>(),
            iv in any::<[u8; 16]>(),
            state in any::<[u32; 8]>(),
            blocks in 0usize..40,
            mac_blocks in 0usize..12,
            mac_start in 0usize..64,
            seed in any::<u64>(),
        ) {
            use rand::{RngCore as _, SeedableRng as _};
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut ciphertext = vec![0u8; blocks * 16];
            rng.fill_bytes(&mut ciphertext);
            // The MAC input is other bytes than the ciphertext here (in use it is the
            // ciphertext from a later start): any blocks, fewer, as many or more.
            let mut mac_input = vec![0u8; mac_start + mac_blocks * 64];
            rng.fill_bytes(&mut mac_input);
            let mac_input = &mac_input[mac_start..];
            let Some(k) = kernels() else { return Ok(()) };
            let mut out = vec![0u8; ciphertext.len()];
            let mut ours = state;
            let maced = k.open(&k.decryption_keys(&key), &iv, &mut ours, mac_input, &ciphertext, &mut out);
            prop_assert_eq!(maced, (mac_blocks * 64).min(blocks / 4 * 64));
            let mut theirs = state;
            reference_compress(&mut theirs, &mac_input[..maced]);
            prop_assert_eq!(ours, theirs);
            prop_assert_eq!(out, reference_cbc(&key, &iv, &ciphertext));
        }
    }
}
