//! The simulated account: who the phone is, and the contacts and chats it syncs to a client.
//!
//! A [`SeedAccount`] is plain data. [`SeedAccount::default`] gives a small fixed account; a JSON
//! file with the same shape (every field optional except where noted) replaces it:
//!
//! ```json
//! {
//!   "wid": "15550001111@c.us",
//!   "pushname": "Sim Phone",
//!   "platform": "android",
//!   "battery": 87,
//!   "plugged": false,
//!   "phone": { "device_manufacturer": "Sim", "device_model": "Phone 1",
//!              "os_version": "11", "os_build_number": "SIM.1",
//!              "mcc": "000", "mnc": "000", "wa_version": "2.21.4.22" },
//!   "contacts": [ { "jid": "15550002222@c.us", "name": "Alice", "notify": "alice", "short": "Alice" } ],
//!   "chats": [ { "jid": "15550002222@c.us", "name": "Alice", "t": 1600000000, "count": 1,
//!                "messages": [ { "id": "3EB0A1", "from_me": true, "text": "hi", "t": 1599999990 },
//!                              { "id": "B2C3D4", "text": "hello!", "t": 1600000000 } ] },
//!              { "jid": "15550002222-1600000000@g.us", "name": "Team",
//!                "participants": ["15550003333@c.us"] } ]
//! }
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::SeedError;

/// One simulated WhatsApp account: the phone that scans QR codes, with its address book and chats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeedAccount {
    /// The account's own JID, `<number>@c.us`.
    pub wid: String,
    /// The account's display name (`pushname` in `Conn`).
    pub pushname: String,
    /// The phone's OS as sent in `Conn.platform` (`android`, `iphone`, ...).
    pub platform: String,
    /// Battery percentage sent in `Conn.battery`.
    pub battery: u8,
    /// Whether the phone is charging (`Conn.plugged`).
    pub plugged: bool,
    /// The phone description sent in `Conn.phone`.
    pub phone: PhoneInfo,
    /// The address book, pushed as `response type=contacts`.
    pub contacts: Vec<SeedContact>,
    /// The chat list, pushed as `response type=chat`.
    pub chats: Vec<SeedChat>,
}

/// The phone description of `Conn.phone`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhoneInfo {
    /// Manufacturer, e.g. `Google`.
    pub device_manufacturer: String,
    /// Model, e.g. `Pixel 3`.
    pub device_model: String,
    /// OS version, e.g. `11`.
    pub os_version: String,
    /// OS build number.
    pub os_build_number: String,
    /// Mobile country code.
    pub mcc: String,
    /// Mobile network code.
    pub mnc: String,
    /// The WhatsApp app version on the phone.
    pub wa_version: String,
}

/// One address-book entry (`user` node of a contacts response).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedContact {
    /// The contact's JID (required).
    pub jid: String,
    /// The name saved in the phone's address book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The contact's own push name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    /// Short (first) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<String>,
}

/// One chat-list entry (`chat` node of a chat response).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedChat {
    /// The chat's JID (required): a user `@c.us` or a group `@g.us`.
    pub jid: String,
    /// Display name (groups: the subject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Time of the last activity, Unix seconds.
    #[serde(default)]
    pub t: u64,
    /// Unread message count.
    #[serde(default)]
    pub count: u32,
    /// Whether the chat is archived.
    #[serde(default)]
    pub archive: bool,
    /// Whether the chat is read-only (e.g. a group one has left).
    #[serde(default)]
    pub read_only: bool,
    /// Messages already in the chat, oldest first (served by history queries and pushed after
    /// login as recent messages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<SeedMessage>,
    /// Groups: the members besides the creator (the user part of the group id) and the
    /// accounts whose seed lists the group. Empty: just those.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<String>,
}

/// A text message of a seeded chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedMessage {
    /// The message id (required, unique in the chat).
    pub id: String,
    /// Whether the account sent it.
    #[serde(default)]
    pub from_me: bool,
    /// The text.
    pub text: String,
    /// Time sent, Unix seconds.
    #[serde(default)]
    pub t: u64,
    /// Groups: who sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
}

impl Default for PhoneInfo {
    fn default() -> PhoneInfo {
        PhoneInfo {
            device_manufacturer: "wa-sim".to_owned(),
            device_model: "Simulated Phone".to_owned(),
            os_version: "11".to_owned(),
            os_build_number: "SIM1.201105.001".to_owned(),
            mcc: "001".to_owned(),
            mnc: "01".to_owned(),
            wa_version: "2.21.4.22".to_owned(),
        }
    }
}

impl Default for SeedAccount {
    fn default() -> SeedAccount {
        let contact = |number: &str, name: &str, notify: &str| SeedContact {
            jid: format!("{number}@c.us"),
            name: Some(name.to_owned()),
            notify: Some(notify.to_owned()),
            short: name.split(' ').next().map(str::to_owned),
        };
        SeedAccount {
            wid: "15550100001@c.us".to_owned(),
            pushname: "Sim Phone".to_owned(),
            platform: "android".to_owned(),
            battery: 87,
            plugged: false,
            phone: PhoneInfo::default(),
            contacts: vec![
                contact("15550100002", "Alice Example", "alice"),
                contact("15550100003", "Bob Example", "bob"),
                contact("15550100004", "Carol Example", "carol"),
                SeedContact {
                    jid: crate::store::ECHO_JID.to_owned(),
                    name: Some("Echo".to_owned()),
                    notify: Some("Echo".to_owned()),
                    short: Some("Echo".to_owned()),
                },
            ],
            chats: vec![
                SeedChat {
                    jid: "15550100002@c.us".to_owned(),
                    name: Some("Alice Example".to_owned()),
                    t: 1_600_000_300,
                    count: 2,
                    archive: false,
                    read_only: false,
                    messages: Vec::new(),
                    participants: Vec::new(),
                },
                SeedChat {
                    jid: "15550100003@c.us".to_owned(),
                    name: Some("Bob Example".to_owned()),
                    t: 1_600_000_200,
                    count: 0,
                    archive: false,
                    read_only: false,
                    messages: Vec::new(),
                    participants: Vec::new(),
                },
                SeedChat {
                    jid: "15550100002-1600000000@g.us".to_owned(),
                    name: Some("Sim Group".to_owned()),
                    t: 1_600_000_100,
                    count: 0,
                    archive: true,
                    read_only: false,
                    messages: Vec::new(),
                    participants: Vec::new(),
                },
            ],
        }
    }
}

impl SeedAccount {
    /// Parses an account from JSON text (see the module docs for the shape).
    pub fn from_json(text: &str) -> Result<SeedAccount, SeedError> {
        let account: SeedAccount = serde_json::from_str(text).map_err(|e| SeedError::Json {
            message: e.to_string(),
        })?;
        account.validate()?;
        Ok(account)
    }

    /// Reads and parses an account from a JSON file.
    pub fn from_file(path: &Path) -> Result<SeedAccount, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|e| SeedError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        SeedAccount::from_json(&text)
    }

    /// Checks the invariants a server relies on: a user JID for the account and JIDs everywhere.
    pub fn validate(&self) -> Result<(), SeedError> {
        if !is_user_jid(&self.wid) {
            return Err(SeedError::Invalid {
                field: "wid".to_owned(),
                reason: format!("{:?} is not a user JID <digits>@c.us", self.wid),
            });
        }
        for (i, contact) in self.contacts.iter().enumerate() {
            if !contact.jid.contains('@') {
                return Err(SeedError::Invalid {
                    field: format!("contacts[{i}].jid"),
                    reason: format!("{:?} is not a JID", contact.jid),
                });
            }
        }
        for (i, chat) in self.chats.iter().enumerate() {
            if !chat.jid.contains('@') {
                return Err(SeedError::Invalid {
                    field: format!("chats[{i}].jid"),
                    reason: format!("{:?} is not a JID", chat.jid),
                });
            }
            for (j, message) in chat.messages.iter().enumerate() {
                if message.id.is_empty() || chat.messages[..j].iter().any(|m| m.id == message.id) {
                    return Err(SeedError::Invalid {
                        field: format!("chats[{i}].messages[{j}].id"),
                        reason: format!("{:?} is empty or repeated", message.id),
                    });
                }
            }
            for (j, jid) in chat.participants.iter().enumerate() {
                if !jid.contains('@') {
                    return Err(SeedError::Invalid {
                        field: format!("chats[{i}].participants[{j}]"),
                        reason: format!("{jid:?} is not a JID"),
                    });
                }
            }
        }
        // What the server will send must encode.
        for (field, node) in [
            ("contacts", crate::nodes::contacts_response(self)),
            ("chats", crate::nodes::chats_response(self)),
        ] {
            crate::nodes::try_encode(&node).map_err(|reason| SeedError::Invalid {
                field: field.to_owned(),
                reason,
            })?;
        }
        Ok(())
    }

    /// The account's number (the user part of [`SeedAccount::wid`]).
    pub fn number(&self) -> &str {
        self.wid.split('@').next().unwrap_or_default()
    }
}

fn is_user_jid(jid: &str) -> bool {
    match jid.split_once('@') {
        Some((user, server)) => {
            !user.is_empty()
                && user.bytes().all(|b| b.is_ascii_digit())
                && (server == "c.us" || server == "s.whatsapp.net")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_account_is_valid_and_round_trips_through_json() {
        let account = SeedAccount::default();
        account.validate().unwrap();
        let text = serde_json::to_string(&account).unwrap();
        assert_eq!(SeedAccount::from_json(&text).unwrap(), account);
        assert_eq!(account.number(), "15550100001");
    }

    #[test]
    fn missing_fields_take_defaults() {
        let account = SeedAccount::from_json(r#"{"wid":"4912345@c.us","contacts":[]}"#).unwrap();
        assert_eq!(account.wid, "4912345@c.us");
        assert_eq!(account.pushname, SeedAccount::default().pushname);
        assert!(account.contacts.is_empty());
    }

    #[test]
    fn seeded_messages_and_group_members_parse_and_are_checked() {
        let account = SeedAccount::from_json(
            r#"{"chats":[{"jid":"1-2@g.us","participants":["3@c.us"],
                "messages":[{"id":"A","text":"x","participant":"3@c.us"},{"id":"B","from_me":true,"text":"y"}]}]}"#,
        )
        .unwrap();
        assert_eq!(account.chats[0].messages.len(), 2);
        assert!(account.chats[0].messages[1].from_me);
        assert_eq!(account.chats[0].participants, ["3@c.us"]);
        assert!(matches!(
            SeedAccount::from_json(
                r#"{"chats":[{"jid":"1@c.us","messages":[{"id":"A","text":"x"},{"id":"A","text":"y"}]}]}"#
            ),
            Err(SeedError::Invalid { .. })
        ));
        assert!(matches!(
            SeedAccount::from_json(r#"{"chats":[{"jid":"1-2@g.us","participants":["nobody"]}]}"#),
            Err(SeedError::Invalid { .. })
        ));
    }

    #[test]
    fn bad_files_are_typed_errors() {
        assert!(matches!(
            SeedAccount::from_json("{"),
            Err(SeedError::Json { .. })
        ));
        assert!(matches!(
            SeedAccount::from_json(r#"{"wid":"bob"}"#),
            Err(SeedError::Invalid { .. })
        ));
        assert!(matches!(
            SeedAccount::from_json(r#"{"chats":[{"jid":"nope"}]}"#),
            Err(SeedError::Invalid { .. })
        ));
        assert!(matches!(
            SeedAccount::from_file(Path::new("/nonexistent/wa-sim-seed.json")),
            Err(SeedError::Io { .. })
        ));
    }
}
