//! The messaging queries answered from the stores, as JSON (`query`/`action` arrays) and as
//! binary nodes (chats, contacts, messages, message info, media, search, group metadata). Its
//! own file because queries read state rather than change it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use wa_binary::Node;
use wa_core::{Tag, Timestamp};
use wa_proto::Message;
use wa_proto::prost::Message as _;

use super::{bad, media_key, media_url, secs};
use crate::core::{ConnId, Server};
use crate::error::RequestError;
use crate::store::{Participant, StoredMessage, normalize_jid};

impl Server {
    // ----- JSON requests ----------------------------------------------------------------------

    /// JSON queries and actions about messaging; `None` when `kind` is not one of them.
    pub(crate) fn messaging_json(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        verb: &str,
        kind: &str,
        items: &[Value],
    ) -> Result<Option<Value>, RequestError> {
        let account = self.account_index(conn)?;
        let me = self.wid(account);
        let arg = |i: usize| items.get(i).and_then(Value::as_str);
        let body = match (verb, kind) {
            ("query", "GroupMetadata") => {
                let gid = arg(2).ok_or_else(|| bad("GroupMetadata needs a jid"))?;
                match self.readable_group(gid, &me) {
                    Ok(_) => self.group_metadata_json(gid),
                    Err(status) => json!({ "status": status }),
                }
            }
            ("query", "mediaConn") => {
                let host = self
                    .config
                    .media_host
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1".into());
                json!({ "status": 200, "media_conn": {
                    "auth": self.media.auth, "auth_ttl": 21600, "ttl": 300,
                    "hosts": [{ "hostname": host }],
                    "sim_scheme": self.config.media_scheme,
                }})
            }
            ("query", "inviteCode") => {
                let gid = arg(2).ok_or_else(|| bad("inviteCode needs a jid"))?;
                match self.groups.get(gid) {
                    Some(g) if g.is_admin(&me) => json!({ "status": 200, "code": g.invite_code }),
                    Some(_) => json!({ "status": 401 }),
                    None => json!({ "status": 404 }),
                }
            }
            ("action", "inviteReset") => {
                let gid = arg(2).ok_or_else(|| bad("inviteReset needs a jid"))?;
                let code = self.new_invite_code();
                match self.groups.get_mut(gid) {
                    Some(g) if g.is_admin(&me) => {
                        g.invite_code = code.clone();
                        json!({ "status": 200, "code": code })
                    }
                    Some(_) => json!({ "status": 401 }),
                    None => json!({ "status": 404 }),
                }
            }
            ("action", "invite") => {
                let code = arg(2).ok_or_else(|| bad("invite needs a code"))?;
                let gid = self
                    .groups
                    .values()
                    .find(|g| g.invite_code == code)
                    .map(|g| g.id.clone());
                match gid {
                    Some(gid) => {
                        if let Some(g) = self.groups.get_mut(&gid) {
                            if !g.is_member(&me) {
                                g.participants.push(Participant {
                                    jid: me.clone(),
                                    admin: false,
                                    super_admin: false,
                                });
                            }
                        }
                        self.group_joined(&gid, now);
                        json!({ "status": 200, "gid": gid })
                    }
                    None => json!({ "status": 404 }),
                }
            }
            ("action", "presence") if arg(2) == Some("subscribe") => {
                let jid = normalize_jid(arg(3).ok_or_else(|| bad("subscribe needs a jid"))?);
                self.stores[account].subscriptions.insert(jid.clone());
                let online = Some(jid.as_str()) == self.config.echo_jid.as_deref()
                    || self.account_by_jid(&jid).is_some_and(|b| {
                        !self.account_conns(b).is_empty()
                            && self.stores[b].presence != "unavailable"
                    });
                let presence = if online {
                    json!({ "id": jid, "type": "available" })
                } else {
                    json!({ "id": jid, "type": "unavailable", "t": secs(now) })
                };
                self.push_json_to_account(account, now, json!(["Presence", presence]));
                json!({ "status": 200 })
            }
            ("action", "encr_upload") => {
                let kind = arg(2).ok_or_else(|| bad("encr_upload needs a type"))?;
                let hash = arg(3).ok_or_else(|| bad("encr_upload needs a hash"))?;
                let token = hash
                    .trim_end_matches('=')
                    .replace('+', "-")
                    .replace('/', "_");
                let url = format!(
                    "{}://{}/mms/upload/{kind}/{token}?auth={}",
                    self.config.media_scheme,
                    self.config.media_host.as_deref().unwrap_or("127.0.0.1"),
                    self.media.auth
                );
                json!({ "status": 200, "url": url })
            }
            _ => return Ok(None),
        };
        Ok(Some(body))
    }

    // ----- binary queries ---------------------------------------------------------------------

    pub(super) fn binary_query(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        kind: &str,
        node: &Node,
    ) -> Result<(), RequestError> {
        let account = self.account_index(conn)?;
        let attr = |k: &str| node.attrs.get(k).map(str::to_owned);
        let response = match kind {
            "chat" => self.chats_node(account),
            "contacts" => crate::nodes::contacts_response(&self.accounts[account]),
            "message" => {
                let chat = normalize_jid(&attr("jid").ok_or_else(|| bad("message query jid"))?);
                let count = attr("count")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(20)
                    .min(1000);
                let after = attr("kind").as_deref() == Some("after");
                let messages = self.stores[account]
                    .chats
                    .get(&chat)
                    .map(|c| c.messages.as_slice())
                    .unwrap_or_default();
                let index = attr("index").and_then(|i| messages.iter().position(|m| m.id() == i));
                let (page, last) = if after {
                    let start = index.map_or(0, |i| i + 1);
                    let end = (start + count).min(messages.len());
                    (
                        messages.get(start..end).unwrap_or_default(),
                        end >= messages.len(),
                    )
                } else {
                    let end = index.unwrap_or(messages.len());
                    let start = end.saturating_sub(count);
                    (messages.get(start..end).unwrap_or_default(), start == 0)
                };
                Node::new("response")
                    .attr("type", "message")
                    .attr_opt("last", last.then_some("true"))
                    .children(
                        page.iter()
                            .map(|m| Node::new("message").bytes(m.info.encode_to_vec())),
                    )
            }
            "message_info" => {
                let chat = normalize_jid(&attr("jid").ok_or_else(|| bad("message_info jid"))?);
                let id = attr("index").ok_or_else(|| bad("message_info index"))?;
                let Some(stored) = self.stores[account]
                    .chats
                    .get(&chat)
                    .and_then(|c| c.message(&id))
                else {
                    self.send_status(conn, tag.clone(), 404);
                    return Ok(());
                };
                let list = |min: i8, exact: bool| {
                    stored
                        .receipts
                        .iter()
                        .filter(|(_, (ack, _))| if exact { *ack == min } else { *ack >= min })
                        .map(|(jid, (_, t))| Node::new("user").attr("jid", jid).attr("t", t))
                        .collect::<Vec<_>>()
                };
                Node::new("response")
                    .attr("type", "message_info")
                    .attr("count", stored.receipts.len())
                    .children([
                        Node::new("played").children(list(4, true)),
                        Node::new("read").children(list(3, false)),
                        Node::new("delivery").children(list(2, false)),
                    ])
            }
            "media" => {
                let chat = normalize_jid(&attr("jid").ok_or_else(|| bad("media query jid"))?);
                let id = attr("index").ok_or_else(|| bad("media query index"))?;
                let message = self.stores[account]
                    .chats
                    .get(&chat)
                    .and_then(|c| c.message(&id))
                    .and_then(|m| m.info.message.as_ref());
                // The real answer also names the media key (base64), for a client that lost it.
                let key = message.and_then(media_key).map(|k| BASE64.encode(k));
                let blob = message
                    .and_then(media_url)
                    .and_then(|url| self.media.blob_of_url(url));
                let path = blob.and_then(|b| self.media.issue_path(&b, now));
                match path {
                    Some(path) => {
                        let url = self.media_url_for(&path);
                        let node = Node::new("media").attr("code", "200").attr("url", url);
                        match key {
                            Some(key) => node.attr("media_key", key),
                            None => node,
                        }
                    }
                    None => {
                        self.send_status(conn, tag.clone(), 404);
                        return Ok(());
                    }
                }
            }
            "search" => {
                let needle = attr("search").unwrap_or_default().to_lowercase();
                let count = attr("count")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(20)
                    .clamp(1, 1000);
                let page = attr("page")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(1)
                    .max(1);
                let only = attr("jid").map(|j| normalize_jid(&j));
                let mut hits: Vec<&StoredMessage> = self.stores[account]
                    .chats
                    .iter()
                    .filter(|(jid, _)| only.as_ref().is_none_or(|o| o == *jid))
                    .flat_map(|(_, c)| c.messages.iter())
                    .filter(|m| {
                        m.info
                            .message
                            .as_ref()
                            .and_then(Message::text_content)
                            .is_some_and(|t| t.to_lowercase().contains(&needle))
                    })
                    .collect();
                hits.sort_by_key(|m| std::cmp::Reverse(m.info.message_timestamp));
                let start = (page - 1).saturating_mul(count);
                let last = start.saturating_add(count) >= hits.len();
                Node::new("response")
                    .attr("type", "search")
                    .attr("last", last)
                    .children(
                        hits.iter()
                            .skip(start)
                            .take(count)
                            .map(|m| Node::new("message").bytes(m.info.encode_to_vec())),
                    )
            }
            "group" => {
                let gid = attr("jid").ok_or_else(|| bad("group query jid"))?;
                let g = match self.readable_group(&gid, &self.wid(account)) {
                    Ok(g) => g,
                    Err(status) => {
                        self.send_status(conn, tag.clone(), status);
                        return Ok(());
                    }
                };
                let mut children: Vec<Node> = g
                    .participants
                    .iter()
                    .map(|p| {
                        Node::new("participant")
                            .attr("jid", &p.jid)
                            .attr_opt("type", p.admin.then_some("admin"))
                    })
                    .collect();
                if let Some(desc) = &g.desc {
                    children.push(Node::new("description").bytes(desc.as_bytes().to_vec()));
                }
                Node::new("response")
                    .attr("type", "group")
                    .children([Node::new("group")
                        .attr("jid", &g.id)
                        .attr("creator", &g.owner)
                        .attr("create", g.creation)
                        .attr("subject", &g.subject)
                        .children(children)])
            }
            "status" | "quick_reply" | "label" | "emoji" => Node::new("response")
                .attr("type", kind)
                .children(Vec::new()),
            other => {
                return Err(RequestError::UnknownCommand(format!(
                    "binary query {other}"
                )));
            }
        };
        self.send_node(conn, tag.clone(), &response);
        Ok(())
    }

    /// `response type=chat` from the account's store.
    pub(crate) fn chats_node(&self, account: usize) -> Node {
        let mut chats: Vec<_> = self.stores[account].chats.iter().collect();
        chats.sort_by_key(|(_, c)| std::cmp::Reverse(c.t));
        Node::new("response")
            .attr("type", "chat")
            .children(chats.into_iter().map(|(jid, c)| {
                Node::new("chat")
                    .attr("jid", jid)
                    .attr("t", c.t)
                    .attr("count", c.count)
                    .attr_opt("name", c.name.as_ref())
                    .attr_opt("archive", c.archive.then_some("true"))
                    .attr_opt("read_only", c.read_only.then_some("true"))
                    .attr_opt("pin", c.pin)
                    .attr("spam", "false")
                    .attr("mute", c.mute.unwrap_or(0))
            }))
    }
}
