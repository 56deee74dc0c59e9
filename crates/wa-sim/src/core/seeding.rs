//! The stores and groups a server starts with, built from its seed accounts. Its own file
//! because it runs once, at [`Server::new`], and shares nothing with the
//! protocol.
//!
//! [`Server::new`]: super::Server::new

use std::collections::BTreeMap;

use crate::seed::SeedAccount;
use crate::store::{AccountStore, ChatState, Group, Participant};

/// Each account's store and the groups, from the seed: the seed's chats (groups among them
/// become groups whose members are the accounts listing them, plus the creator).
pub(super) fn seed_stores(
    accounts: &[SeedAccount],
) -> (Vec<AccountStore>, BTreeMap<String, Group>) {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let stores = accounts
        .iter()
        .map(|a| AccountStore {
            chats: a
                .chats
                .iter()
                .map(|c| {
                    (
                        c.jid.clone(),
                        ChatState {
                            name: c.name.clone(),
                            t: c.t,
                            count: i64::from(c.count),
                            archive: c.archive,
                            read_only: c.read_only,
                            messages: c.messages.iter().map(|m| seed_message(&c.jid, m)).collect(),
                            ..ChatState::default()
                        },
                    )
                })
                .collect(),
            pushname: a.pushname.clone(),
            status: "Hey there! I am using WhatsApp.".to_owned(),
            presence: "available".to_owned(),
            ..AccountStore::default()
        })
        .collect();
    for a in accounts {
        for c in a.chats.iter().filter(|c| c.jid.ends_with("@g.us")) {
            let creator_number = c.jid.split('-').next().unwrap_or_default();
            let creation = c
                .jid
                .split('-')
                .nth(1)
                .and_then(|t| t.trim_end_matches("@g.us").parse().ok())
                .unwrap_or(c.t);
            let owner = format!("{creator_number}@c.us");
            let group = groups.entry(c.jid.clone()).or_insert_with(|| Group {
                id: c.jid.clone(),
                owner: owner.clone(),
                subject: c.name.clone().unwrap_or_default(),
                creation,
                subject_time: creation,
                subject_owner: owner.clone(),
                desc: None,
                desc_id: None,
                desc_owner: None,
                restrict: false,
                announce: false,
                participants: vec![Participant {
                    jid: owner.clone(),
                    admin: true,
                    super_admin: true,
                }],
                invite_code: format!("sim{}", c.jid.len() * 7919 + creation as usize % 100_000),
            });
            let listed = (!c.read_only).then_some(&a.wid);
            for jid in c.participants.iter().chain(listed) {
                if !group.is_member(jid) {
                    group.participants.push(Participant {
                        jid: jid.clone(),
                        admin: false,
                        super_admin: false,
                    });
                }
            }
        }
    }
    (stores, groups)
}

/// A seeded text message as stored.
fn seed_message(chat: &str, m: &crate::seed::SeedMessage) -> crate::store::StoredMessage {
    use crate::store::wire_jid;
    let participant = m.participant.as_deref().map(wire_jid);
    crate::store::StoredMessage {
        info: wa_proto::WebMessageInfo {
            key: wa_proto::MessageKey {
                remote_jid: Some(wire_jid(chat)),
                from_me: Some(m.from_me),
                id: Some(m.id.clone()),
                participant: participant.clone(),
            },
            message: Some(wa_proto::Message::text(m.text.clone())),
            message_timestamp: Some(m.t),
            status: Some(if m.from_me {
                wa_proto::Status::Read as i32
            } else {
                wa_proto::Status::DeliveryAck as i32
            }),
            participant,
            ..wa_proto::WebMessageInfo::default()
        },
        receipts: Default::default(),
    }
}
