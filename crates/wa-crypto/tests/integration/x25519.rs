//! X25519 (`KeyPair`): RFC 7748's vectors, and byte-for-byte agreement with x25519-dalek (the
//! implementation `KeyPair` used before crrl) on arbitrary scalars and u-coordinates, including
//! low-order points and u >= p.

use proptest::prelude::*;
use wa_crypto::{KeyPair, x25519_shared_secret};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::unhex_array;

/// x25519-dalek's X25519 of `u` by `scalar` (clamped inside, as RFC 7748).
fn dalek(scalar: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    StaticSecret::from(scalar)
        .diffie_hellman(&PublicKey::from(u))
        .to_bytes()
}

/// x25519-dalek's public key for `scalar`.
fn dalek_public(scalar: [u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(scalar)).to_bytes()
}

/// X25519 through our API: `scalar` as a private key, `u` as the peer's public key.
fn ours(scalar: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    *KeyPair::from_private_bytes(scalar).shared_secret(&u)
}

/// Little-endian encoding of `p + k`, a non-canonical u-coordinate (k < 19, so it fits in
/// 255 bits).
fn p_plus(k: u8) -> [u8; 32] {
    let mut u = [0xffu8; 32];
    u[0] = 0xed; // p = 2^255 - 19 = 0x7fff..ffed
    u[31] = 0x7f;
    let (low, carry) = u[0].overflowing_add(k);
    u[0] = low;
    assert!(!carry, "p + k stays below 2^255 for k < 19");
    u
}

/// Encodings of the points of order 1, 2, 4 and 8 on Curve25519: u = 0, 1, -1 and the two of
/// order 8, then p and p + 1 (non-canonical 0 and 1), each also with the top bit set (ignored).
/// Every scalar multiplication of them is the point at infinity or u = 0: all-zero output.
fn low_order_points() -> Vec<[u8; 32]> {
    let mut points: Vec<[u8; 32]> = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    ]
    .iter()
    .map(|h| unhex_array(h))
    .collect();
    points.extend([p_plus(0), p_plus(1)]);
    let with_top_bit: Vec<[u8; 32]> = points
        .iter()
        .map(|u| {
            let mut u = *u;
            u[31] |= 0x80;
            u
        })
        .collect();
    points.extend(with_top_bit);
    points
}

/// The other entries of the usual low-order blocklist (written for implementations that keep
/// the top bit: low-order u + p with bit 255 set). RFC 7748 drops the top bit, which makes them
/// ordinary points; the result must still be RFC 7748's, as x25519-dalek computes it.
fn top_bit_blocklist() -> Vec<[u8; 32]> {
    [
        "cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
        "4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
        "d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ]
    .iter()
    .map(|h| unhex_array(h))
    .collect()
}

#[test]
fn rfc7748_section_5_2_vectors() {
    let cases = [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
    ];
    for (scalar, u, out) in cases {
        let (scalar, u, out) = (unhex_array(scalar), unhex_array(u), unhex_array(out));
        assert_eq!(ours(scalar, u), out);
        assert_eq!(dalek(scalar, u), out);
    }
}

#[test]
fn rfc7748_section_5_2_iterations() {
    let one: [u8; 32] =
        unhex_array("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    let thousand: [u8; 32] =
        unhex_array("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
    let mut k = [0u8; 32];
    k[0] = 9;
    let mut u = k;
    for i in 1..=1000 {
        let next = ours(k, u);
        u = k;
        k = next;
        if i == 1 {
            assert_eq!(k, one);
        }
    }
    assert_eq!(k, thousand);
}

#[test]
fn rfc7748_section_6_1_alice_and_bob() {
    let alice = KeyPair::from_private_bytes(unhex_array(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let bob = KeyPair::from_private_bytes(unhex_array(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ));
    let alice_public: [u8; 32] =
        unhex_array("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let bob_public: [u8; 32] =
        unhex_array("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let shared: [u8; 32] =
        unhex_array("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(alice.public_bytes(), alice_public);
    assert_eq!(bob.public_bytes(), bob_public);
    assert_eq!(*alice.shared_secret(&bob_public), shared);
    assert_eq!(*bob.shared_secret(&alice_public), shared);
}

#[test]
fn low_order_points_give_zeros_and_match_dalek() {
    let scalars = [[0u8; 32], [0xff; 32], [0x5a; 32], crate::rng_bytes(11)];
    for u in low_order_points().into_iter().chain(top_bit_blocklist()) {
        for scalar in scalars {
            let expected = dalek(scalar, u);
            assert_eq!(ours(scalar, u), expected, "u = {}", hex::encode(u));
            assert_eq!(*x25519_shared_secret(&scalar, &u), expected);
        }
    }
    // Order 1, 2, 4 and 8 points (and their non-canonical and top-bit forms) give all zeros.
    for u in low_order_points() {
        for scalar in scalars {
            assert_eq!(ours(scalar, u), [0; 32], "u = {}", hex::encode(u));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn shared_secrets_match_dalek(scalar: [u8; 32], u: [u8; 32]) {
        prop_assert_eq!(ours(scalar, u), dalek(scalar, u));
        // The exchange from a bare private key is the key pair's, byte for byte.
        prop_assert_eq!(*x25519_shared_secret(&scalar, &u), dalek(scalar, u));
    }

    #[test]
    fn non_canonical_u_matches_dalek(scalar: [u8; 32], k in 0u8..19, top: bool) {
        let mut u = p_plus(k);
        if top {
            u[31] |= 0x80;
        }
        prop_assert_eq!(ours(scalar, u), dalek(scalar, u));
    }

    #[test]
    fn public_keys_match_dalek(scalar: [u8; 32]) {
        let public = KeyPair::from_private_bytes(scalar).public_bytes();
        prop_assert_eq!(public, dalek_public(scalar));
        // Key generation has its own base-point table: crrl's `x25519_base` is a second oracle.
        prop_assert_eq!(public, crrl::x25519::x25519_base(&scalar));
    }

    #[test]
    fn generated_keys_match_dalek(seed: u64) {
        let pair = KeyPair::generate(&mut crate::rng(seed));
        let private = pair.private_bytes();
        prop_assert_eq!(pair.public_bytes(), dalek_public(*private));
        let peer = KeyPair::generate(&mut crate::rng(seed ^ 1));
        prop_assert_eq!(
            *pair.shared_secret(&peer.public_bytes()),
            dalek(*private, peer.public_bytes())
        );
        prop_assert_eq!(*pair.shared_secret(&peer.public_bytes()), *peer.shared_secret(&pair.public_bytes()));
    }
}

/// `from_stored`'s answer must be exactly "is `public` what `from_private_bytes` computes".
fn stored_check_agrees(private: [u8; 32], public: [u8; 32]) -> Result<(), TestCaseError> {
    let expected = KeyPair::from_private_bytes(private).public_bytes() == public;
    let stored = KeyPair::from_stored(&private, &public);
    prop_assert_eq!(stored.is_some(), expected, "public {}", hex::encode(public));
    if let Some(pair) = stored {
        prop_assert_eq!(pair.public_bytes(), public);
        prop_assert_eq!(*pair.private_bytes(), private);
    }
    Ok(())
}

#[test]
fn stored_pairs_are_checked_like_rebuilt_ones() {
    let private = crate::rng_bytes(21);
    let public = KeyPair::from_private_bytes(private).public_bytes();
    assert!(KeyPair::from_stored(&private, &public).is_some());
    // The same u plus p (non-canonical), with the top bit set, or one bit off: refused.
    let mut plus_p = public;
    let mut carry = 0u16;
    let p = p_plus(0);
    for (byte, p_byte) in plus_p.iter_mut().zip(p) {
        let sum = u16::from(*byte) + u16::from(p_byte) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    let mut top = public;
    top[31] |= 0x80;
    let mut flipped = public;
    flipped[7] ^= 0x10;
    for public in [plus_p, top, flipped, [0; 32], p] {
        assert!(KeyPair::from_stored(&private, &public).is_none());
        stored_check_agrees(private, public).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn stored_check_matches_rebuilding(private: [u8; 32], other: [u8; 32], bit in 0usize..256) {
        let public = KeyPair::from_private_bytes(private).public_bytes();
        stored_check_agrees(private, public)?;
        let mut flipped = public;
        flipped[bit / 8] ^= 1 << (bit % 8);
        stored_check_agrees(private, flipped)?;
        stored_check_agrees(private, other)?;
        stored_check_agrees(private, KeyPair::from_private_bytes(other).public_bytes())?;
    }
}
