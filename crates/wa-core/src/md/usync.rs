//! Who to encrypt for: the device-list query (`usync`, devices and LID per user) and the prekey
//! bundle fetch (`encrypt` iq `key`), both sides. The client builds queries and parses answers;
//! a server (the simulator) parses queries and builds answers with the same shapes.
//!
//! Answers are untrusted: every count is bounded before anything is kept, and a malformed part
//! is a [`UsyncError`].

use wa_binary::Node;
use wa_signal::PreKeyBundle;

/// Users in one device-list query; more are split by the caller.
pub const MAX_USERS_PER_QUERY: usize = 64;
/// Devices kept per user from an answer (WhatsApp allows a phone and a handful of companions).
pub const MAX_DEVICES_PER_USER: usize = 64;
/// Bundles accepted in one key answer.
pub const MAX_BUNDLES: usize = MAX_USERS_PER_QUERY * MAX_DEVICES_PER_USER;

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsyncError {
    /// A required part is missing or malformed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which answer.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The server answered with an error.
    #[error("iq error {0}")]
    Refused(u16),
}

fn malformed(what: &'static str, reason: &'static str) -> UsyncError {
    UsyncError::Malformed { what, reason }
}

fn refused(node: &Node) -> Option<UsyncError> {
    (node.optional_str("type") == Some("error")).then(|| {
        UsyncError::Refused(
            node.child("error")
                .and_then(|e| e.optional_u64("code").ok().flatten())
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(0),
        )
    })
}

/// The `<usync>` child of an `iq get xmlns=usync` asking for the devices (version 2) and LID
/// of each user (bare user JIDs, `number@s.whatsapp.net`).
pub fn device_query(sid: &str, users: &[String]) -> Node {
    Node::new("usync")
        .attr("context", "message")
        .attr("mode", "query")
        .attr("sid", sid)
        .attr("last", "true")
        .attr("index", "0")
        .children([
            Node::new("query")
                .children([Node::new("devices").attr("version", "2"), Node::new("lid")]),
            Node::new("list").children(users.iter().map(|u| Node::new("user").attr("jid", u))),
        ])
}

/// The users a device-list query asks about (the server's side); at most
/// [`MAX_USERS_PER_QUERY`].
///
/// # Errors
/// [`UsyncError::Malformed`] without a `usync`/`list`, or with too many users.
pub fn parse_device_query(iq: &Node) -> Result<Vec<String>, UsyncError> {
    const WHAT: &str = "usync query";
    let list = iq
        .child("usync")
        .and_then(|u| u.child("list"))
        .ok_or(malformed(WHAT, "no usync list"))?;
    if list.children_named("user").count() > MAX_USERS_PER_QUERY {
        return Err(malformed(WHAT, "too many users"));
    }
    Ok(list
        .children_named("user")
        .filter_map(|u| u.optional_str("jid").map(str::to_owned))
        .collect())
}

/// One user's devices and LID, as a device-list answer gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDevices {
    /// The user (bare JID as asked).
    pub user: String,
    /// Device ids (0 is the phone), ascending.
    pub devices: Vec<u16>,
    /// The user's LID (`user@lid`), when the server gave one.
    pub lid: Option<String>,
}

/// The `<usync>` child of a device-list answer (the server's side).
pub fn device_answer(sid: &str, users: &[UserDevices]) -> Node {
    Node::new("usync")
        .attr("sid", sid)
        .attr("mode", "query")
        .attr("last", "true")
        .attr("index", "0")
        .attr("context", "message")
        .children([Node::new("list").children(users.iter().map(|u| {
            let devices = Node::new("devices").children([Node::new("device-list").children(
                u.devices.iter().map(|d| {
                    let device = Node::new("device").attr("id", d);
                    if *d == 0 {
                        device
                    } else {
                        device.attr("key-index", d)
                    }
                }),
            )]);
            let mut children = vec![devices];
            if let Some(lid) = &u.lid {
                children.push(Node::new("lid").attr("val", lid));
            }
            Node::new("user").attr("jid", &u.user).children(children)
        }))])
}

/// Reads a device-list answer (the whole result iq).
///
/// # Errors
/// [`UsyncError::Refused`] for an error iq, [`UsyncError::Malformed`] for a broken answer or
/// more than [`MAX_USERS_PER_QUERY`] users or [`MAX_DEVICES_PER_USER`] devices.
pub fn parse_device_answer(iq: &Node) -> Result<Vec<UserDevices>, UsyncError> {
    const WHAT: &str = "usync answer";
    if let Some(e) = refused(iq) {
        return Err(e);
    }
    let list = iq
        .child("usync")
        .and_then(|u| u.child("list"))
        .ok_or(malformed(WHAT, "no usync list"))?;
    if list.children_named("user").count() > MAX_USERS_PER_QUERY {
        return Err(malformed(WHAT, "too many users"));
    }
    let mut out = Vec::new();
    for user in list.children_named("user") {
        let jid = user
            .optional_str("jid")
            .ok_or(malformed(WHAT, "user without jid"))?;
        let Some(device_list) = user.child("devices").and_then(|d| d.child("device-list")) else {
            // A user the server could not resolve: no devices, nothing to send to.
            out.push(UserDevices {
                user: jid.to_owned(),
                devices: Vec::new(),
                lid: None,
            });
            continue;
        };
        if device_list.children_named("device").count() > MAX_DEVICES_PER_USER {
            return Err(malformed(WHAT, "too many devices"));
        }
        let mut devices = Vec::new();
        for device in device_list.children_named("device") {
            let id = device
                .optional_u64("id")
                .ok()
                .flatten()
                .and_then(|d| u16::try_from(d).ok())
                .ok_or(malformed(WHAT, "device id"))?;
            devices.push(id);
        }
        devices.sort_unstable();
        devices.dedup();
        out.push(UserDevices {
            user: jid.to_owned(),
            devices,
            lid: user
                .child("lid")
                .and_then(|l| l.optional_str("val"))
                .map(str::to_owned),
        });
    }
    Ok(out)
}

/// The `<key>` child of an `iq get xmlns=encrypt` fetching bundles for device JIDs.
pub fn key_query(devices: &[String]) -> Node {
    Node::new("key").children(devices.iter().map(|d| Node::new("user").attr("jid", d)))
}

/// The device JIDs a key fetch asks for (the server's side); at most [`MAX_BUNDLES`].
///
/// # Errors
/// [`UsyncError::Malformed`].
pub fn parse_key_query(iq: &Node) -> Result<Vec<String>, UsyncError> {
    const WHAT: &str = "key query";
    let key = iq.child("key").ok_or(malformed(WHAT, "no key"))?;
    if key.children_named("user").count() > MAX_BUNDLES {
        return Err(malformed(WHAT, "too many users"));
    }
    Ok(key
        .children_named("user")
        .filter_map(|u| u.optional_str("jid").map(str::to_owned))
        .collect())
}

fn id3(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// The `<user jid>` node of a key answer for one device (the server's side).
pub fn bundle_node(jid: &str, bundle: &PreKeyBundle) -> Node {
    let mut children = vec![
        Node::new("registration").bytes(bundle.registration_id.to_be_bytes().to_vec()),
        Node::new("type").bytes(vec![wa_signal::DJB_TYPE]),
        Node::new("identity").bytes(bundle.identity_key.0.to_vec()),
        Node::new("skey").children([
            Node::new("id").bytes(id3(bundle.signed_pre_key_id)),
            Node::new("value").bytes(bundle.signed_pre_key.0.to_vec()),
            Node::new("signature").bytes(bundle.signed_pre_key_signature.to_vec()),
        ]),
    ];
    if let Some((id, key)) = bundle.pre_key {
        children.push(Node::new("key").children([
            Node::new("id").bytes(id3(id)),
            Node::new("value").bytes(key.0.to_vec()),
        ]));
    }
    Node::new("user").attr("jid", jid).children(children)
}

/// One device's answer in a key fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchedBundle {
    /// The bundle (its signature not yet verified: `wa-signal` does that when it uses it).
    Bundle(PreKeyBundle),
    /// The server had nothing for this device (`<error>` in its `user` node).
    Missing,
}

fn field<'n>(node: &'n Node, tag: &'static str) -> Result<&'n [u8], UsyncError> {
    node.child(tag)
        .and_then(Node::content_bytes)
        .ok_or(malformed("key answer", tag))
}

/// Reads a key answer: `(device JID, bundle)` per `<user>` of its `<list>`.
///
/// # Errors
/// [`UsyncError::Refused`] for an error iq, [`UsyncError::Malformed`] for a broken field or more
/// than [`MAX_BUNDLES`] users.
pub fn parse_key_answer(iq: &Node) -> Result<Vec<(String, FetchedBundle)>, UsyncError> {
    const WHAT: &str = "key answer";
    if let Some(e) = refused(iq) {
        return Err(e);
    }
    let list = iq.child("list").ok_or(malformed(WHAT, "no list"))?;
    if list.children_named("user").count() > MAX_BUNDLES {
        return Err(malformed(WHAT, "too many users"));
    }
    let mut out = Vec::new();
    for user in list.children_named("user") {
        let jid = user
            .optional_str("jid")
            .ok_or(malformed(WHAT, "user without jid"))?
            .to_owned();
        if user.child("error").is_some() {
            out.push((jid, FetchedBundle::Missing));
            continue;
        }
        if field(user, "type")? != [wa_signal::DJB_TYPE] {
            return Err(malformed(WHAT, "key type is not 5"));
        }
        let skey = user.child("skey").ok_or(malformed(WHAT, "no skey"))?;
        let prekey = match user.child("key") {
            Some(key) => Some((field(key, "id")?, field(key, "value")?)),
            None => None,
        };
        let bundle = PreKeyBundle::from_wire_fields(
            field(user, "registration")?,
            field(user, "identity")?,
            field(skey, "id")?,
            field(skey, "value")?,
            field(skey, "signature")?,
            prekey,
        )
        .map_err(|_| malformed(WHAT, "bundle fields"))?;
        out.push((jid, FetchedBundle::Bundle(bundle)));
    }
    Ok(out)
}
