//! WhatsApp's random padding against Baileys 7's own functions (`writeRandomPadMax16`,
//! `unpadRandomMax16`), carried through each peer's session: the bridge and npm `libsignal`
//! encrypt what Baileys padded, so the padding seen here is the one a Baileys client sends.

use serde_json::json;
use wa_signal::{Error, MAX_PADDING, decrypt, encrypt, pad, process_pre_key_bundle, unpad};

use crate::{Impl, Peer, US, Us, them};

fn padding_both_ways(which: Impl) {
    let mut peer = Peer::start(which);
    let mut us = Us::new(31);
    let bundle = peer.bundle();
    process_pre_key_bundle(&mut us.store, &them(), &bundle, &mut us.rng).unwrap();
    let mut seen = [false; MAX_PADDING + 1];
    for round in 0..200usize {
        let plaintext: Vec<u8> = (0..round % 41).map(|i| (i * 7 + round) as u8).collect();
        // Ours padded, through our session, unpadded by Baileys.
        let out = encrypt(&mut us.store, &them(), &pad(&plaintext, &mut us.rng)).unwrap();
        let padded = peer.decrypt(US, out.kind, &out.bytes).unwrap();
        let theirs = peer.ok(json!({"cmd": "unpad", "padded": hex::encode(&padded)}));
        assert_eq!(
            theirs["plaintext"],
            hex::encode(&plaintext),
            "round {round}"
        );
        // Baileys padded, through the peer's session, unpadded by us.
        let padded = peer.ok(json!({"cmd": "pad", "plaintext": hex::encode(&plaintext)}));
        let padded = hex::decode(padded["padded"].as_str().unwrap()).unwrap();
        seen[padded.len() - plaintext.len()] = true;
        let (kind, body) = peer.encrypt(US, &padded);
        let got = decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap();
        assert_eq!(unpad(&got).unwrap(), plaintext.as_slice(), "round {round}");
    }
    // Baileys draws 1 to 16 bytes: all of them were seen (each missed with p = (15/16)^200).
    assert!(seen[1..].iter().all(|&s| s), "Baileys' counts: {seen:?}");

    // Padding no client writes, through the peer's session: refused by us.
    for bad in [
        &[5u8, 3, 2, 3][..],
        &[
            5, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17,
        ],
        &[0],
    ] {
        let (kind, body) = peer.encrypt(US, bad);
        let got = decrypt(&mut us.store, &them(), kind, &body, &mut us.rng).unwrap();
        assert!(matches!(unpad(&got), Err(Error::BadPadding)), "{bad:?}");
    }
}

#[test]
fn padding_with_libsignal() {
    padding_both_ways(Impl::Libsignal);
}

#[test]
fn padding_with_bridge() {
    padding_both_ways(Impl::Bridge);
}
