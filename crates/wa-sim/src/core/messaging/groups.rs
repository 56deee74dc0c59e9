//! Groups: create, subject, description, add, remove, promote, demote, leave, the settings
//! (announcement, locked), invite codes, the stub messages they leave and group metadata. Its own
//! file because group state is shared between accounts.

use serde_json::{Value, json};
use wa_binary::Node;
use wa_core::Timestamp;
use wa_proto::{MessageKey, WebMessageInfo};

use super::{bad, number_of, relay_node, secs};
use crate::core::Server;
use crate::error::RequestError;
use crate::store::{Group, Participant, normalize_jid, wire_jid};

impl Server {
    // ----- groups -------------------------------------------------------------------------------

    pub(super) fn group_action(
        &mut self,
        account: usize,
        now: Timestamp,
        node: &Node,
    ) -> Result<Value, RequestError> {
        let me = self.wid(account);
        let attr = |k: &str| node.attrs.get(k).map(str::to_owned);
        let kind = attr("type").ok_or_else(|| bad("group action without type"))?;
        let jids: Vec<String> = node
            .children_named("participant")
            .filter_map(|p| p.attrs.get("jid").map(normalize_jid))
            .collect();
        if kind == "create" {
            let subject = attr("subject").unwrap_or_default();
            let mut creation = secs(now);
            while self
                .groups
                .contains_key(&format!("{}-{creation}@g.us", number_of(&me)))
            {
                creation += 1;
            }
            let id = format!("{}-{creation}@g.us", number_of(&me));
            let mut participants = vec![Participant {
                jid: me.clone(),
                admin: true,
                super_admin: true,
            }];
            participants.extend(jids.iter().filter(|j| **j != me).map(|j| Participant {
                jid: j.clone(),
                admin: false,
                super_admin: false,
            }));
            let code = self.new_invite_code();
            self.groups.insert(
                id.clone(),
                Group {
                    id: id.clone(),
                    owner: me.clone(),
                    subject: subject.clone(),
                    creation,
                    subject_time: creation,
                    subject_owner: me.clone(),
                    desc: None,
                    desc_id: None,
                    desc_owner: None,
                    restrict: false,
                    announce: false,
                    participants,
                    invite_code: code,
                },
            );
            self.group_joined(&id, now);
            self.group_stub(&id, &me, 20, vec![subject], &[], now);
            let results: serde_json::Map<String, Value> = jids
                .iter()
                .map(|j| (wire_jid(j), json!({ "code": "200" })))
                .collect();
            return Ok(json!({ "status": 200, "gid": id, "participants": [results] }));
        }
        let gid = attr("jid").ok_or_else(|| bad("group action without jid"))?;
        let Some(group) = self.groups.get_mut(&gid) else {
            return Ok(json!({ "status": 404 }));
        };
        if !group.is_member(&me) {
            return Ok(json!({ "status": 401 }));
        }
        let admin = group.is_admin(&me);
        let open_to_members = kind == "leave"
            || (matches!(kind.as_str(), "subject" | "description") && !group.restrict);
        let needs_admin = !open_to_members;
        if needs_admin && !admin {
            return Ok(json!({ "status": 401 }));
        }
        let mut changed = Vec::new();
        match kind.as_str() {
            "subject" => {
                group.subject = attr("subject").unwrap_or_default();
                group.subject_time = secs(now);
                group.subject_owner = me.clone();
            }
            "description" => {
                let d = node.child("description");
                group.desc = d
                    .and_then(Node::content_bytes)
                    .map(|b| String::from_utf8_lossy(b).into_owned());
                group.desc_id = d.and_then(|d| d.attrs.get("id").map(str::to_owned));
                group.desc_owner = Some(me.clone());
            }
            "add" => {
                for j in &jids {
                    if !group.is_member(j) {
                        group.participants.push(Participant {
                            jid: j.clone(),
                            admin: false,
                            super_admin: false,
                        });
                        changed.push(j.clone());
                    }
                }
            }
            "remove" => {
                group.participants.retain(|p| !jids.contains(&p.jid));
                changed = jids.clone();
            }
            "promote" | "demote" => {
                for p in group
                    .participants
                    .iter_mut()
                    .filter(|p| jids.contains(&p.jid))
                {
                    p.admin = kind == "promote";
                }
                changed = jids.clone();
            }
            "leave" => {
                group.participants.retain(|p| p.jid != me);
            }
            "prop" => {
                for child in node.child_nodes() {
                    let on = child.attrs.get("value") == Some("true");
                    match child.tag.as_str() {
                        "announcement" => group.announce = on,
                        "locked" => group.restrict = on,
                        _ => continue,
                    }
                    // Announced as GROUP_CHANGE_ANNOUNCE / GROUP_CHANGE_RESTRICT stubs below.
                    changed.push(format!("{}={}", child.tag, if on { "on" } else { "off" }));
                }
            }
            other => return Err(bad(format!("group action {other:?}"))),
        }
        let subject = group.subject.clone();
        if kind == "leave" {
            if let Some(c) = self.stores[account].chats.get_mut(&gid) {
                c.read_only = true;
            }
        }
        if kind == "subject" {
            for a in 0..self.stores.len() {
                if let Some(c) = self.stores[a].chats.get_mut(&gid) {
                    c.name = Some(subject.clone());
                }
            }
        }
        if kind == "add" {
            self.group_joined(&gid, now);
        }
        // Members (and whoever just left or was removed) learn of the change as a stub
        // message; promotions also come as a `Chat` action, which is what Baileys listens to.
        let (stub, params): (i32, Vec<String>) = match kind.as_str() {
            "subject" => (21, vec![subject]),
            "description" => (24, Vec::new()),
            "add" => (27, changed.iter().map(|j| wire_jid(j)).collect()),
            "remove" => (28, changed.iter().map(|j| wire_jid(j)).collect()),
            "promote" => (29, changed.iter().map(|j| wire_jid(j)).collect()),
            "demote" => (30, changed.iter().map(|j| wire_jid(j)).collect()),
            "leave" => (32, vec![wire_jid(&me)]),
            _ => (0, Vec::new()),
        };
        // Each setting change is its own stub, with "on"/"off" as its parameter.
        if kind == "prop" {
            for setting in &changed {
                let (name, value) = setting.split_once('=').unwrap_or((setting, "off"));
                let stub = if name == "announcement" { 26 } else { 25 };
                self.group_stub(&gid, &me, stub, vec![value.to_owned()], &[], now);
            }
        }
        let gone: Vec<String> = match kind.as_str() {
            "remove" => changed.clone(),
            "leave" => vec![me.clone()],
            _ => Vec::new(),
        };
        if stub != 0 {
            self.group_stub(&gid, &me, stub, params, &gone, now);
        }
        if matches!(kind.as_str(), "promote" | "demote") {
            let members = self.member_accounts(&gid, &[]);
            let body = json!(["Chat", { "id": gid, "cmd": "action",
                "data": [kind, me, { "participants": changed }] }]);
            for a in members {
                self.push_json_to_account(a, now, body.clone());
            }
        }
        let results: serde_json::Map<String, Value> = changed
            .iter()
            .filter(|_| kind != "prop")
            .map(|j| (wire_jid(j), json!({ "code": "200" })))
            .collect();
        Ok(json!({ "status": 200, "participants": [results] }))
    }

    /// The accounts among the members of `gid`, plus `extra` JIDs that are accounts.
    fn member_accounts(&self, gid: &str, extra: &[String]) -> Vec<usize> {
        let mut accounts: Vec<usize> = self
            .groups
            .get(gid)
            .map(|g| {
                g.participants
                    .iter()
                    .map(|p| p.jid.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .iter()
            .chain(extra)
            .filter_map(|j| self.account_by_jid(j))
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        accounts
    }

    /// A group notification (`messageStubType` with its parameters, sent by `actor`) stored in
    /// and pushed to every member account, and to `extra` (members who just left).
    fn group_stub(
        &mut self,
        gid: &str,
        actor: &str,
        stub: i32,
        params: Vec<String>,
        extra: &[String],
        now: Timestamp,
    ) {
        let id = self.new_message_id();
        for a in self.member_accounts(gid, extra) {
            let from_me = self.wid(a) == actor;
            let info = WebMessageInfo {
                key: MessageKey {
                    remote_jid: Some(gid.to_owned()),
                    from_me: Some(from_me),
                    id: Some(id.clone()),
                    participant: Some(wire_jid(actor)),
                },
                participant: Some(wire_jid(actor)),
                message_timestamp: Some(secs(now)),
                message_stub_type: Some(stub),
                message_stub_parameters: params.clone(),
                ..WebMessageInfo::default()
            };
            self.store_message(a, gid, info.clone(), false);
            let node = relay_node(&info);
            if !self.push_node_to_account(a, &node) {
                self.offline[a].push(node);
            }
        }
    }

    /// Every member account gets the group's chat.
    pub(super) fn group_joined(&mut self, gid: &str, now: Timestamp) {
        let Some(group) = self.groups.get(gid).cloned() else {
            return;
        };
        for p in &group.participants {
            if let Some(a) = self.account_by_jid(&p.jid) {
                let chat = self.stores[a].chats.entry(gid.to_owned()).or_default();
                chat.name = Some(group.subject.clone());
                chat.read_only = false;
                chat.t = chat.t.max(secs(now));
            }
        }
    }

    pub(super) fn new_invite_code(&mut self) -> String {
        let mut bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut self.rng, &mut bytes);
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
    }

    /// Group `gid` as `me` may read it: 404 when there is no such group, 401 when `me` is not
    /// a member (both group queries answer so).
    pub(super) fn readable_group(&self, gid: &str, me: &str) -> Result<&Group, u16> {
        match self.groups.get(gid) {
            Some(g) if g.is_member(me) => Ok(g),
            Some(_) => Err(401),
            None => Err(404),
        }
    }

    pub(super) fn group_metadata_json(&self, gid: &str) -> Value {
        let Some(g) = self.groups.get(gid) else {
            return json!({ "status": 404 });
        };
        json!({
            "id": g.id,
            "owner": g.owner,
            "subject": g.subject,
            "creation": g.creation,
            "subjectTime": g.subject_time,
            "subjectOwner": g.subject_owner,
            "desc": g.desc,
            "descId": g.desc_id,
            "descOwner": g.desc_owner,
            "restrict": g.restrict.to_string(),
            "announce": g.announce.to_string(),
            "participants": g.participants.iter().map(|p| json!({
                "id": p.jid, "isAdmin": p.admin, "isSuperAdmin": p.super_admin,
            })).collect::<Vec<_>>(),
        })
    }
}
