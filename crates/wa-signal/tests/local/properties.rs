//! Properties over random interleavings: between two and three parties, with sessions and a
//! group, every message decrypts exactly once, in any delivery order; replays are refused; the
//! bounds hold.

use proptest::prelude::*;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use wa_signal::{
    Error, MAX_SKIPPED_KEYS, MessageKind, SenderKeyName, SessionStore as _,
    create_sender_key_distribution, decrypt, encrypt, group_decrypt, group_encrypt,
    process_sender_key_distribution,
};

use crate::{Party, connect};

/// One step: party `from` sends to `to` (1:1, or the group when `to == from`), or a pending
/// message is delivered (index into the queue, modulo its length), possibly twice.
#[derive(Clone, Debug)]
enum Step {
    Send { from: usize, to: usize },
    Deliver { pick: usize, replay: bool },
}

fn steps(parties: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (0..parties, 0..parties).prop_map(|(from, to)| Step::Send { from, to }),
        (any::<usize>(), prop::bool::weighted(0.1))
            .prop_map(|(pick, replay)| Step::Deliver { pick, replay }),
    ];
    prop::collection::vec(step, 1..120)
}

struct InFlight {
    from: usize,
    /// `None`: a group message to everyone else.
    to: Option<usize>,
    kind: MessageKind,
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
    /// Recipients still to receive it.
    pending: Vec<usize>,
}

fn run(parties_n: usize, steps: Vec<Step>, seed: u64) {
    let mut parties: Vec<Party> = (0..parties_n)
        .map(|i| {
            Party::new(
                &format!("p{i}"),
                seed.wrapping_mul(10).wrapping_add(i as u64),
            )
        })
        .collect();
    // Sessions between every pair, initiated by the lower index.
    for i in 0..parties_n {
        for j in i + 1..parties_n {
            let (left, right) = parties.split_at_mut(j);
            connect(&mut left[i], &mut right[0]);
        }
    }
    // Everyone's sender key, distributed to everyone.
    let names: Vec<SenderKeyName> = parties
        .iter()
        .map(|p| SenderKeyName {
            group_id: "grp@g.us".into(),
            sender: p.address.clone(),
        })
        .collect();
    for i in 0..parties_n {
        let skdm = {
            let p = &mut parties[i];
            create_sender_key_distribution(&mut p.store, &names[i], &mut p.rng).unwrap()
        };
        for (j, p) in parties.iter_mut().enumerate() {
            if j != i {
                process_sender_key_distribution(&mut p.store, &names[i], &skdm).unwrap();
            }
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut queue: Vec<InFlight> = Vec::new();
    let mut counter = 0u32;
    for step in steps {
        match step {
            Step::Send { from, to } => {
                counter += 1;
                let plaintext = format!("{from}->{to} #{counter}").into_bytes();
                let p = &mut parties[from];
                if from == to {
                    let bytes =
                        group_encrypt(&mut p.store, &names[from], &plaintext, &mut p.rng).unwrap();
                    let pending = (0..parties_n).filter(|&j| j != from).collect();
                    queue.push(InFlight {
                        from,
                        to: None,
                        kind: MessageKind::SenderKey,
                        bytes,
                        plaintext,
                        pending,
                    });
                } else {
                    let address = parties[to].address.clone();
                    let p = &mut parties[from];
                    let m = encrypt(&mut p.store, &address, &plaintext).unwrap();
                    queue.push(InFlight {
                        from,
                        to: Some(to),
                        kind: m.kind,
                        bytes: m.bytes,
                        plaintext,
                        pending: vec![to],
                    });
                }
            }
            Step::Deliver { pick, replay } => {
                if queue.is_empty() {
                    continue;
                }
                let index = pick % queue.len();
                let message = &mut queue[index];
                let recipient = message.pending.remove(pick % message.pending.len());
                let from_address = parties[message.from].address.clone();
                let p = &mut parties[recipient];
                let receive = |p: &mut Party| match message.to {
                    Some(_) => decrypt(
                        &mut p.store,
                        &from_address,
                        message.kind,
                        &message.bytes,
                        &mut p.rng,
                    ),
                    None => group_decrypt(&mut p.store, &names[message.from], &message.bytes),
                };
                assert_eq!(
                    receive(p).unwrap(),
                    message.plaintext,
                    "first delivery decrypts"
                );
                if replay {
                    let err = receive(p).unwrap_err();
                    assert!(
                        matches!(err, Error::DuplicateMessage { .. }),
                        "replay refused: {err:?}"
                    );
                }
                if message.pending.is_empty() {
                    queue.remove(index);
                }
            }
        }
        let _ = &mut rng;
    }
    // Everything still in flight is delivered, in a random order.
    while !queue.is_empty() {
        let index = rand::Rng::gen_range(&mut rng, 0..queue.len());
        let message = &mut queue[index];
        let recipient = message.pending.pop().unwrap();
        let from_address = parties[message.from].address.clone();
        let p = &mut parties[recipient];
        let got = match message.to {
            Some(_) => decrypt(
                &mut p.store,
                &from_address,
                message.kind,
                &message.bytes,
                &mut p.rng,
            )
            .unwrap(),
            None => group_decrypt(&mut p.store, &names[message.from], &message.bytes).unwrap(),
        };
        assert_eq!(got, message.plaintext);
        if message.pending.is_empty() {
            queue.remove(index);
        }
    }
    for (i, p) in parties.iter().enumerate() {
        for (j, q) in parties.iter().enumerate() {
            if i != j {
                let record = p.store.load_session(&q.address).unwrap().unwrap();
                assert!(record.skipped_keys() <= MAX_SKIPPED_KEYS);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn two_parties_decrypt_everything_exactly_once(steps in steps(2), seed in any::<u64>()) {
        run(2, steps, seed);
    }

    #[test]
    fn three_parties_decrypt_everything_exactly_once(steps in steps(3), seed in any::<u64>()) {
        run(3, steps, seed);
    }
}
