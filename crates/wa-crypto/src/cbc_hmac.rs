//! AES-256-CBC fused with the HMAC-SHA256 that authenticates its ciphertext (Signal's
//! encrypt-then-MAC): one pass over the data, in steps small enough that each is still in the
//! first-level cache for the second of the two operations (and, encrypting, short enough that
//! the cipher and the MAC of neighbouring steps overlap in the processor).
//!
//! Why this shape: CBC encryption is one long dependency chain of AES rounds (each block needs
//! the previous ciphertext), which leaves most of the core idle; SHA-256 is another chain. Run
//! one after the other over a whole message, the time is the sum of the two (what `openssl
//! speed` measures separately); interleaved every few blocks, the out-of-order core runs the
//! MAC of one step while the cipher of the next is still in flight.
//! Decryption is the other way round: CBC decryption is parallel and cheap, the MAC is the bulk,
//! and the core does not overlap the two when they are separate library calls (below,
//! [`OPEN_STEP`]); on x86-64 with the SHA and AES instructions the decryption is therefore one
//! loop of both, interleaved round by round (`x86_kernels`), and the steps below are the
//! portable path.
//!
//! The cipher runs inside one `encrypt_with_backend` / `decrypt_with_backend` call (the AES-NI
//! or software backend picked once per message, the chaining value kept in a local instead of
//! being stored and reloaded on every block as `cbc`'s encryptor does). The MAC is fed from its
//! own 64-byte block boundaries (the ciphertext follows headers of any length), so SHA-256
//! compresses straight from the data instead of copying every step through its buffer.

use aes::cipher::consts::U16;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockBackend, BlockClosure, BlockDecrypt, BlockEncrypt, BlockSizeUser, KeyInit};
use aes::{Aes256Dec, Aes256Enc};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize as _;

use crate::Error;
use crate::primitives::{AES_BLOCK_LEN, HMAC_LEN, HmacSha256, SHA256_BLOCK_LEN, padded_len};

/// Encryption: bytes of cipher work between MAC updates. Four blocks are one SHA-256 block, and
/// a step this short keeps both dependency chains inside the core's reorder window, so they run
/// side by side (measured on 10 KiB: 18 µs against 20.5 µs for the two passes one after the
/// other, and 64 bytes beat 256 and 1,024).
const SEAL_STEP: usize = 4 * AES_BLOCK_LEN;
/// Decryption: bytes MACed, then decrypted, per step. CBC decryption runs in parallel and costs
/// little, so the step only has to stay in the first-level cache between the two. Measured
/// again (AMD EPYC, one process, 8 ciphertexts of 10 KiB in turn, best of 300): 64 bytes
/// 9.29 µs, 128 9.09, 256 8.97, 512 9.04, 1,024 9.03, against 6.72 for the MAC alone and 1.83
/// for the decryption alone: the two add up at every step size (no overlap of SHA-NI and
/// AES-NI to win here, unlike the serial CBC encryption). Decrypting out of place into a zeroed
/// buffer, or into one copied step by step during the pass, measured the same as the copy
/// before it (within 1%, in `signal_measure --only burst` too). Measured again with every
/// variant in one process, alternating in 15-ms turns (best of 60, 8 ciphertexts of 10 KiB):
/// copy first 9.69 µs, out of place into a zeroed buffer 9.73, copied step by step 9.78; steps
/// of 1,024 bytes 9.72 to 9.84, of 128 bytes 10.03; the MAC alone 7.37. The pass's cipher
/// side costs what the AES-NI rounds, the key schedule (0.13 µs) and one pass over the output
/// cost, however it is laid out.
const OPEN_STEP: usize = 256;

type Block = GenericArray<u8, U16>;

fn xor_into(block: &mut [u8], with: &[u8; AES_BLOCK_LEN]) {
    let value =
        u128::from_ne_bytes(block.try_into().expect("one block")) ^ u128::from_ne_bytes(*with);
    block.copy_from_slice(&value.to_ne_bytes());
}

/// CBC encryption of whole blocks (`input` and `output` of equal length), feeding each step of
/// ciphertext to `mac`; the PKCS#7 final block is one more block of `input`.
struct SealPass<'a, 'm> {
    chain: [u8; AES_BLOCK_LEN],
    input: &'a [u8],
    final_block: &'a [u8; AES_BLOCK_LEN],
    output: &'a mut [u8],
    mac: Option<&'m mut HmacSha256>,
}

impl BlockSizeUser for SealPass<'_, '_> {
    type BlockSize = U16;
}

impl BlockClosure for SealPass<'_, '_> {
    // Inlined into the backend's `#[target_feature]` function, so the AES-NI rounds inline
    // here too (a call per block would reload the round keys every time).
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
        let SealPass {
            mut chain,
            input,
            final_block,
            output,
            mut mac,
        } = self;
        let len = input.len();
        // The MAC follows the cipher from block boundary to block boundary of its own (the
        // ciphertext rarely starts on one: headers come before it), so SHA-256 compresses
        // straight from the output.
        let lead = mac.as_deref().map_or(0, lead_in);
        let mut maced = 0;
        for start in (0..len).step_by(SEAL_STEP) {
            let end = (start + SEAL_STEP).min(len);
            for at in (start..end).step_by(AES_BLOCK_LEN) {
                let mut block = Block::clone_from_slice(&input[at..at + AES_BLOCK_LEN]);
                xor_into(&mut block, &chain);
                backend.proc_block_inplace(&mut block);
                chain = block.into();
                output[at..at + AES_BLOCK_LEN].copy_from_slice(&chain);
            }
            if let (Some(mac), Some(ready)) = (mac.as_deref_mut(), end.checked_sub(lead)) {
                let upto = lead + ready / SHA256_BLOCK_LEN * SHA256_BLOCK_LEN;
                if upto > maced {
                    mac.update(&output[maced..upto]);
                    maced = upto;
                }
            }
        }
        let mut block = Block::clone_from_slice(final_block);
        xor_into(&mut block, &chain);
        backend.proc_block_inplace(&mut block);
        output[len..].copy_from_slice(&block);
        if let Some(mac) = mac {
            mac.update(&output[maced..]);
        }
    }
}

/// Bytes to feed `mac` before it is at a block boundary.
fn lead_in(mac: &HmacSha256) -> usize {
    (SHA256_BLOCK_LEN - mac.block_offset()) % SHA256_BLOCK_LEN
}

/// AES-256-CBC with PKCS#7 under the given IV, the ciphertext appended to `out` (whose spare
/// capacity is used: a caller that frames the ciphertext reserves for the frame and writes it
/// once, with no copy), and fed to `mac` as it is produced, a few blocks at a time, so the MAC
/// overlaps the cipher instead of following it (see the module comment).
pub fn aes256_cbc_encrypt_append(
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    plaintext: &[u8],
    out: &mut Vec<u8>,
    mac: Option<&mut HmacSha256>,
) {
    let start = out.len();
    out.resize(start + padded_len(plaintext.len()), 0);
    let whole = plaintext.len() - plaintext.len() % AES_BLOCK_LEN;
    let (body, tail) = plaintext.split_at(whole);
    // PKCS#7: the final block holds the tail and 1..=16 bytes of the pad length.
    let pad = (AES_BLOCK_LEN - tail.len()) as u8;
    let mut final_block = [pad; AES_BLOCK_LEN];
    final_block[..tail.len()].copy_from_slice(tail);
    seal(key, iv, body, &final_block, &mut out[start..], mac);
    final_block.zeroize();
}

/// Encrypts `body` (whole blocks), then `final_block`, into `output`, feeding the ciphertext
/// to `mac`: the stitched kernel where the processor has SHA and AES instructions (and there
/// is a MAC), the portable pass elsewhere.
fn seal(
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    body: &[u8],
    final_block: &[u8; AES_BLOCK_LEN],
    output: &mut [u8],
    mac: Option<&mut HmacSha256>,
) {
    #[cfg(target_arch = "x86_64")]
    let mac = match (crate::x86_kernels::Kernels::detect(), mac) {
        (Some(kernels), Some(mac)) => {
            return seal_stitched(kernels, key, iv, body, final_block, output, mac);
        }
        (_, mac) => mac,
    };
    Aes256Enc::new(key.into()).encrypt_with_backend(SealPass {
        chain: *iv,
        input: body,
        final_block,
        output,
        mac,
    });
}

/// [`seal`] on x86-64's SHA and AES instructions: the MAC's current block and the ciphertext
/// compressed in the loop that encrypts (see `x86_kernels`), what is left of it fed as usual.
#[cfg(target_arch = "x86_64")]
fn seal_stitched(
    kernels: crate::x86_kernels::Kernels,
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    body: &[u8],
    final_block: &[u8; AES_BLOCK_LEN],
    output: &mut [u8],
    mac: &mut HmacSha256,
) {
    let mut head = [0u8; SHA256_BLOCK_LEN];
    let pending = mac.pending();
    let held = pending.len();
    head[..held].copy_from_slice(pending);
    let keys = kernels.encryption_keys(key);
    let maced = kernels.seal(
        &keys,
        iv,
        &mut mac.inner,
        &head[..held],
        body,
        final_block,
        output,
    );
    // What was compressed began with the MAC's held bytes, already counted.
    let from_output = maced.saturating_sub(held);
    mac.compressed(from_output);
    mac.update(&output[from_output..]);
}

/// CBC decryption of whole blocks in place: `output` starts as a copy of `input` (the
/// ciphertext), each step's ciphertext fed to `mac` first.
struct OpenPass<'a> {
    iv: [u8; AES_BLOCK_LEN],
    input: &'a [u8],
    output: &'a mut [u8],
    mac: &'a mut HmacSha256,
}

impl BlockSizeUser for OpenPass<'_> {
    type BlockSize = U16;
}

/// `out ^= with`, a 16-byte word at a time (both of the same length, whole blocks).
#[inline(always)]
fn xor_blocks(out: &mut [u8], with: &[u8]) {
    for (o, w) in out
        .chunks_exact_mut(AES_BLOCK_LEN)
        .zip(with.chunks_exact(AES_BLOCK_LEN))
    {
        xor_into(o, w.try_into().expect("one block"));
    }
}

impl BlockClosure for OpenPass<'_> {
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
        let OpenPass {
            iv,
            input,
            output,
            mac,
        } = self;
        // The MAC runs ahead of the cipher by its lead-in to a block boundary, then takes
        // whole blocks (see `SealPass`).
        let len = input.len();
        let mut maced = lead_in(mac).min(len);
        mac.update(&input[..maced]);
        for start in (0..len).step_by(OPEN_STEP) {
            let end = (start + OPEN_STEP).min(len);
            let mac_end = (maced + OPEN_STEP).min(len);
            mac.update(&input[maced..mac_end]);
            maced = mac_end;
            let step = &mut output[start..end];
            let (blocks, rest) = InOutBuf::from(&mut *step).into_chunks::<U16>();
            debug_assert!(rest.is_empty(), "whole blocks only");
            let (parallel, tail) = blocks.into_chunks::<B::ParBlocksSize>();
            for chunk in parallel {
                backend.proc_par_blocks(chunk);
            }
            backend.proc_tail_blocks(tail);
            // CBC: each block XORed with the ciphertext block before it (kept intact in
            // `input`), the IV before the first; one contiguous run per step.
            if start == 0 {
                let (first, others) = step.split_at_mut(AES_BLOCK_LEN);
                xor_into(first, &iv);
                xor_blocks(others, &input[..end - AES_BLOCK_LEN]);
            } else {
                xor_blocks(step, &input[start - AES_BLOCK_LEN..end - AES_BLOCK_LEN]);
            }
        }
        debug_assert_eq!(maced, len, "the MAC took the whole ciphertext");
    }
}

/// Authenticates, then decrypts, an AES-256-CBC (PKCS#7) ciphertext under encrypt-then-MAC:
/// `mac` is keyed and already fed with what the tag covers before the ciphertext; it takes the
/// ciphertext, then `after`, and its tag truncated to `tag.len()` (1 to 32 bytes) must equal
/// `tag`, compared in constant time.
///
/// The MAC and the decryption run over the same few blocks at a time, while they are in the
/// first-level cache, into the returned buffer; nothing decrypted is looked at (padding
/// included) or returned before the whole tag has verified: on a mismatch the buffer is wiped
/// and the error is [`Error::HmacMismatch`], whatever the ciphertext's padding.
///
/// # Errors
/// [`Error::HmacMismatch`] if the tag differs (also checked first for a ciphertext that is
/// empty or not whole blocks, so a forged message always gets this answer);
/// [`Error::InvalidParameter`] for a tag of 0 or over 32 bytes; then [`Error::TooShort`] if
/// the ciphertext is empty, [`Error::UnalignedCiphertext`] if not whole blocks,
/// [`Error::BadPadding`] if the padding is invalid.
pub fn aes256_cbc_decrypt_authenticated(
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    ciphertext: &[u8],
    mut mac: HmacSha256,
    after: &[u8],
    tag: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    if tag.is_empty() || tag.len() > HMAC_LEN {
        return Err(Error::InvalidParameter {
            what: "a truncated HMAC-SHA256 tag is 1 to 32 bytes",
        });
    }
    let check = |mac: HmacSha256| {
        let full = zeroize::Zeroizing::new(mac.finalize());
        if bool::from(full[..tag.len()].ct_eq(tag)) {
            Ok(())
        } else {
            Err(Error::HmacMismatch { what })
        }
    };
    if ciphertext.is_empty() || ciphertext.len() % AES_BLOCK_LEN != 0 {
        // Not decryptable: the MAC alone decides between a forgery and a malformed message.
        mac.update(ciphertext);
        mac.update(after);
        check(mac)?;
        return Err(if ciphertext.is_empty() {
            Error::TooShort {
                what,
                min: AES_BLOCK_LEN,
                actual: 0,
            }
        } else {
            Error::UnalignedCiphertext {
                what,
                len: ciphertext.len(),
            }
        });
    }
    let mut plaintext = open(key, iv, ciphertext, &mut mac);
    mac.update(after);
    if let Err(e) = check(mac) {
        // Wiped as a slice: zeroize fills a slice in bulk but a `Vec` a byte at a time
        // (volatile), 3 µs over 10 KiB. The buffer is exactly the ciphertext's length, so the
        // slice is the whole allocation.
        plaintext[..].zeroize();
        return Err(e);
    }
    // PKCS#7, read only now that the ciphertext is authentic.
    let pad = usize::from(plaintext[plaintext.len() - 1]);
    let valid = (1..=AES_BLOCK_LEN).contains(&pad)
        && plaintext[plaintext.len() - pad..]
            .iter()
            .all(|&b| usize::from(b) == pad);
    if !valid {
        plaintext[..].zeroize();
        return Err(Error::BadPadding { what });
    }
    plaintext.truncate(plaintext.len() - pad);
    Ok(plaintext)
}

/// Decrypts whole blocks, feeding the ciphertext to `mac`: the stitched kernel where the
/// processor has SHA and AES instructions, the portable pass elsewhere.
fn open(
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    ciphertext: &[u8],
    mac: &mut HmacSha256,
) -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    if let Some(kernels) = crate::x86_kernels::Kernels::detect() {
        return open_stitched(kernels, key, iv, ciphertext, mac);
    }
    open_portable(key, iv, ciphertext, mac)
}

/// [`open`] on x86-64's SHA and AES instructions: the MAC's lead-in to its block boundary,
/// then its whole blocks compressed in the loop that decrypts (see `x86_kernels`), then the
/// rest of the ciphertext fed as usual.
#[cfg(target_arch = "x86_64")]
fn open_stitched(
    kernels: crate::x86_kernels::Kernels,
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    ciphertext: &[u8],
    mac: &mut HmacSha256,
) -> Vec<u8> {
    let lead = lead_in(mac).min(ciphertext.len());
    mac.update(&ciphertext[..lead]);
    let mac_input = if mac.block_offset() == 0 {
        &ciphertext[lead..]
    } else {
        &[]
    };
    let mut plaintext = vec![0u8; ciphertext.len()];
    let keys = kernels.decryption_keys(key);
    let maced = kernels.open(
        &keys,
        iv,
        &mut mac.inner,
        mac_input,
        ciphertext,
        &mut plaintext,
    );
    mac.compressed(maced);
    mac.update(&ciphertext[lead + maced..]);
    plaintext
}

/// [`open`] on the `aes` crate, in steps of [`OPEN_STEP`] bytes.
fn open_portable(
    key: &[u8; 32],
    iv: &[u8; AES_BLOCK_LEN],
    ciphertext: &[u8],
    mac: &mut HmacSha256,
) -> Vec<u8> {
    // Decrypted in place in a copy of the ciphertext (cheaper than zero-filling a buffer).
    let mut plaintext = ciphertext.to_vec();
    Aes256Dec::new(key.into()).decrypt_with_backend(OpenPass {
        iv: *iv,
        input: ciphertext,
        output: &mut plaintext,
        mac,
    });
    plaintext
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{aes256_cbc_decrypt_with_iv, aes256_cbc_encrypt_with_iv, hmac_sha256};

    const KEY: [u8; 32] = [0x42; 32];
    const IV: [u8; AES_BLOCK_LEN] = [0x24; AES_BLOCK_LEN];

    fn data() -> Vec<u8> {
        (0..10_300u32).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// Every tail length, lengths around the steps, and a 10-KiB message.
    fn lengths() -> impl Iterator<Item = usize> {
        (0..=40).chain([63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 10_240, 10_255])
    }

    /// Headers that put the ciphertext at every kind of place in the MAC's 64-byte blocks.
    const HEADERS: [usize; 7] = [0, 1, 6, 46, 63, 64, 65];

    #[test]
    fn cbc_append_with_mac_matches_the_one_shot_functions() {
        let data = data();
        for header in HEADERS.map(|n| vec![0xA5; n]) {
            let h = header.len();
            for len in lengths() {
                let plaintext = &data[..len];
                let mut out = header.clone();
                let mut mac = HmacSha256::new(b"mac key");
                mac.update(&header);
                aes256_cbc_encrypt_append(&KEY, &IV, plaintext, &mut out, Some(&mut mac));
                let expected = aes256_cbc_encrypt_with_iv(&KEY, &IV, plaintext);
                assert_eq!(out[..h], header[..], "len {len}");
                assert_eq!(out[h..], expected[..], "len {len} header {h}");
                assert_eq!(
                    mac.finalize(),
                    hmac_sha256(b"mac key", &[&out]),
                    "len {len} header {h}"
                );
                assert_eq!(
                    aes256_cbc_decrypt_with_iv(&KEY, &IV, &out[h..]).unwrap(),
                    plaintext
                );
                let mut bare = Vec::new();
                aes256_cbc_encrypt_append(&KEY, &IV, plaintext, &mut bare, None);
                assert_eq!(bare, expected);
            }
        }
    }

    #[test]
    fn authenticated_decrypt_takes_the_mac_from_any_block_offset() {
        let data = data();
        for h in HEADERS {
            let head = vec![0x3C; h];
            for len in lengths() {
                let ciphertext = aes256_cbc_encrypt_with_iv(&KEY, &IV, &data[..len]);
                let tag = hmac_sha256(b"mac key", &[&head, &ciphertext, b"after"]);
                let mut mac = HmacSha256::new(b"mac key");
                mac.update(&head);
                let plaintext = aes256_cbc_decrypt_authenticated(
                    &KEY,
                    &IV,
                    &ciphertext,
                    mac,
                    b"after",
                    &tag[..8],
                    "test",
                )
                .unwrap();
                assert_eq!(plaintext, &data[..len], "len {len} header {h}");
            }
        }
    }

    /// Both ways of opening, the stitched kernel and the portable pass, give the same
    /// plaintext and the same MAC, from every block offset.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn stitched_and_portable_open_agree() {
        // Without the instructions only the portable path runs: nothing to compare.
        let Some(kernels) = crate::x86_kernels::Kernels::detect() else {
            return;
        };
        let data = data();
        for h in HEADERS {
            for len in lengths() {
                let ciphertext = aes256_cbc_encrypt_with_iv(&KEY, &IV, &data[..len]);
                let mut stitched = HmacSha256::new(b"mac key");
                stitched.update(&vec![0x3C; h]);
                let mut portable = stitched.clone();
                let ours = open_stitched(kernels, &KEY, &IV, &ciphertext, &mut stitched);
                let theirs = open_portable(&KEY, &IV, &ciphertext, &mut portable);
                assert_eq!(ours, theirs, "len {len} header {h}");
                stitched.update(b"after");
                portable.update(b"after");
                assert_eq!(
                    stitched.finalize(),
                    portable.finalize(),
                    "len {len} header {h}"
                );
            }
        }
    }

    /// Both ways of sealing agree likewise, from every block offset of the MAC.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn stitched_and_portable_seal_agree() {
        // Without the instructions only the portable path runs: nothing to compare.
        let Some(kernels) = crate::x86_kernels::Kernels::detect() else {
            return;
        };
        let data = data();
        for h in HEADERS {
            for len in lengths() {
                let plaintext = &data[..len];
                let whole = len - len % AES_BLOCK_LEN;
                let mut last = [(AES_BLOCK_LEN - len % AES_BLOCK_LEN) as u8; AES_BLOCK_LEN];
                last[..len - whole].copy_from_slice(&plaintext[whole..]);
                let mut stitched = HmacSha256::new(b"mac key");
                stitched.update(&vec![0x3C; h]);
                let mut portable = stitched.clone();
                let (mut ours, mut theirs) = (vec![0u8; whole + 16], vec![0u8; whole + 16]);
                seal_stitched(
                    kernels,
                    &KEY,
                    &IV,
                    &plaintext[..whole],
                    &last,
                    &mut ours,
                    &mut stitched,
                );
                Aes256Enc::new((&KEY).into()).encrypt_with_backend(SealPass {
                    chain: IV,
                    input: &plaintext[..whole],
                    final_block: &last,
                    output: &mut theirs,
                    mac: Some(&mut portable),
                });
                assert_eq!(ours, theirs, "len {len} header {h}");
                assert_eq!(
                    stitched.finalize(),
                    portable.finalize(),
                    "len {len} header {h}"
                );
            }
        }
    }

    /// `head ‖ ciphertext ‖ tail` and its full tag under "mac key".
    fn sealed(plaintext: &[u8]) -> (Vec<u8>, [u8; HMAC_LEN]) {
        let ciphertext = aes256_cbc_encrypt_with_iv(&KEY, &IV, plaintext);
        let tag = hmac_sha256(b"mac key", &[b"head", &ciphertext, b"tail"]);
        (ciphertext, tag)
    }

    fn open(ciphertext: &[u8], tag: &[u8]) -> Result<Vec<u8>, Error> {
        let mut mac = HmacSha256::new(b"mac key");
        mac.update(b"head");
        aes256_cbc_decrypt_authenticated(&KEY, &IV, ciphertext, mac, b"tail", tag, "test")
    }

    #[test]
    fn authenticated_decrypt_recovers_every_length_with_full_and_truncated_tags() {
        let data = data();
        for len in lengths() {
            let (ciphertext, tag) = sealed(&data[..len]);
            assert_eq!(open(&ciphertext, &tag).unwrap(), &data[..len], "len {len}");
            assert_eq!(
                open(&ciphertext, &tag[..8]).unwrap(),
                &data[..len],
                "len {len}"
            );
        }
    }

    #[test]
    fn authenticated_decrypt_refuses_any_flipped_bit_as_a_mac_mismatch() {
        let data = data();
        for len in [0, 15, 16, 200] {
            let (ciphertext, tag) = sealed(&data[..len]);
            for bit in 0..ciphertext.len() * 8 {
                let mut bad = ciphertext.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    matches!(open(&bad, &tag[..8]), Err(Error::HmacMismatch { .. })),
                    "len {len} bit {bit}"
                );
            }
            for bit in 0..64 {
                let mut bad = tag;
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(matches!(
                    open(&ciphertext, &bad[..8]),
                    Err(Error::HmacMismatch { .. })
                ));
            }
        }
    }

    #[test]
    fn malformed_ciphertexts_answer_mismatch_unless_authentic() {
        // Authentic but not decryptable: the structural error, after the MAC.
        for (ciphertext, unaligned) in [(&b""[..], false), (&[7u8; 20][..], true)] {
            let tag = hmac_sha256(b"mac key", &[b"head", ciphertext, b"tail"]);
            let result = open(ciphertext, &tag);
            if unaligned {
                assert!(matches!(
                    result,
                    Err(Error::UnalignedCiphertext { len: 20, .. })
                ));
            } else {
                assert!(matches!(result, Err(Error::TooShort { actual: 0, .. })));
            }
            assert!(matches!(
                open(ciphertext, &[0; 8]),
                Err(Error::HmacMismatch { .. })
            ));
        }
        // Authentic with bad padding (a block of zeros decrypted from random bytes).
        let ciphertext = [0x5a; 32];
        let tag = hmac_sha256(b"mac key", &[b"head", &ciphertext, b"tail"]);
        let padded = aes256_cbc_decrypt_with_iv(&KEY, &IV, &ciphertext);
        assert!(padded.is_err(), "random blocks are not validly padded");
        assert!(matches!(
            open(&ciphertext, &tag),
            Err(Error::BadPadding { .. })
        ));
        assert!(matches!(
            open(&ciphertext, &tag[..0]),
            Err(Error::InvalidParameter { .. })
        ));
        let long = [0u8; 33];
        assert!(matches!(
            open(&ciphertext, &long),
            Err(Error::InvalidParameter { .. })
        ));
    }
}
