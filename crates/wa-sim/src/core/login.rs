//! A connection's login over JSON: the `admin` commands (`init`, `reref`, `login`, `challenge`,
//! `test`, goodbye), the contact queries answered outside messaging, and completing a login
//! (keys, `Conn`, the pushes after it) or ending a session. Its own file because it is the
//! legacy login state machine, apart from the inputs and outputs plumbing in `core`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore;
use serde_json::{Value, json};
use wa_core::{Tag, Timestamp};

use super::{ConnId, LoginMode, LogoutVia, RefState, Server, SimEvent, Stage};
use crate::error::RequestError;
use crate::nodes;

impl Server {
    // ----- JSON requests --------------------------------------------------------------------

    pub(super) fn handle_json(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        body: &Value,
    ) -> Result<(), RequestError> {
        let items = body
            .as_array()
            .ok_or_else(|| RequestError::Malformed("request is not a JSON array".into()))?;
        let word = |i: usize| items.get(i).and_then(Value::as_str);
        match (word(0), word(1)) {
            (Some("admin"), Some("init")) => self.admin_init(conn, now, tag, items),
            (Some("admin"), Some("Conn")) => match word(2) {
                Some("reref") => self.admin_reref(conn, now, tag),
                Some("disconnect") => {
                    self.goodbye(conn);
                    Ok(())
                }
                other => Err(RequestError::UnknownCommand(format!(
                    "admin Conn {other:?}"
                ))),
            },
            (Some("admin"), Some("login")) => {
                self.after_phone_round_trip(conn, now, |s| s.admin_login(conn, now, tag, items))
            }
            (Some("admin"), Some("challenge")) => self.admin_challenge(conn, now, tag, items),
            (Some("admin"), Some("test")) => {
                let reachable = self.config.phone_reachable;
                self.send_json(conn, tag.clone(), json!(["Pong", reachable]));
                Ok(())
            }
            (Some("admin"), Some("remember")) => {
                self.send_status(conn, tag.clone(), 200);
                Ok(())
            }
            (Some(verb @ ("query" | "action")), Some(kind)) => {
                self.require_login(conn)?;
                match self.messaging_json(conn, now, verb, kind, items)? {
                    Some(body) => {
                        self.send_json(conn, tag.clone(), body);
                        Ok(())
                    }
                    None if verb == "query" => self.json_query(conn, tag, kind, items),
                    None => Err(RequestError::UnknownCommand(format!("action {kind}"))),
                }
            }
            (Some(a), Some(b)) => Err(RequestError::UnknownCommand(format!("{a} {b}"))),
            _ => Err(RequestError::Malformed(
                "request does not start with two strings".into(),
            )),
        }
    }

    fn admin_init(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        items: &[Value],
    ) -> Result<(), RequestError> {
        let version_ok = items
            .get(2)
            .and_then(Value::as_array)
            .is_some_and(|v| !v.is_empty() && v.iter().all(Value::is_u64));
        let browser_ok = items
            .get(3)
            .and_then(Value::as_array)
            .is_some_and(|b| (2..=3).contains(&b.len()) && b.iter().all(Value::is_string));
        let client_id = items
            .get(4)
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= 128);
        let (true, true, Some(client_id)) = (version_ok, browser_ok, client_id) else {
            return Err(RequestError::Malformed(
                "admin init needs [version], [os, browser(, version)], clientId".into(),
            ));
        };
        let client_id = client_id.to_owned();
        let connection = self.connection(conn)?;
        if matches!(connection.stage, Stage::LoggedIn { .. }) {
            self.send_status(conn, tag.clone(), 405);
            return Ok(());
        }
        let qr_ref = self.new_ref();
        let connection = self.connection(conn)?;
        connection.client_id = Some(client_id);
        connection.stage = Stage::AwaitingScan(RefState {
            current: qr_ref.clone(),
            issued_at: now,
            rerefs: 0,
        });
        connection.pending_scan = None;
        let ttl = duration_ms(self.config.ref_ttl);
        let body = json!({
            "status": 200,
            "ref": qr_ref,
            "ttl": ttl,
            "update": false,
            "curr": self.config.server_version,
            "time": now.unix_ms(),
        });
        self.send_json(conn, tag.clone(), body);
        Ok(())
    }

    fn admin_reref(&mut self, conn: ConnId, now: Timestamp, tag: &Tag) -> Result<(), RequestError> {
        let ttl = self.config.ref_ttl;
        let min_interval = self.config.reref_min_interval;
        let max_rerefs = self.config.max_rerefs;
        let new_ref = self.new_ref();
        let connection = self.connection(conn)?;
        let Stage::AwaitingScan(refs) = &mut connection.stage else {
            return Err(RequestError::Malformed(
                "reref without a pending QR (send admin init first)".into(),
            ));
        };
        let body = if refs.rerefs >= max_rerefs {
            json!({ "status": 429 })
        } else if now < refs.issued_at + min_interval {
            let left = (refs.issued_at + ttl).saturating_duration_since(now);
            json!({ "status": 304, "ref": refs.current, "ttl": duration_ms(left) })
        } else {
            refs.current = new_ref;
            refs.issued_at = now;
            refs.rerefs += 1;
            connection.pending_scan = None;
            json!({ "status": 200, "ref": refs.current, "ttl": duration_ms(ttl) })
        };
        self.send_json(conn, tag.clone(), body);
        Ok(())
    }

    fn admin_login(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        items: &[Value],
    ) -> Result<(), RequestError> {
        let text = |i: usize| items.get(i).and_then(Value::as_str);
        let (Some(client_token), Some(server_token), Some(client_id), Some(mode)) =
            (text(2), text(3), text(4), text(5))
        else {
            return Err(RequestError::Malformed(
                "admin login needs clientToken, serverToken, clientId, mode".into(),
            ));
        };
        let mode = match mode {
            "takeover" => LoginMode::Takeover,
            "reconnect" | "force_reconnect" => LoginMode::Reconnect,
            other => {
                return Err(RequestError::Malformed(format!(
                    "unknown login mode {other:?}"
                )));
            }
        };
        let reconnect_wid = text(6);
        if let Stage::LoggedIn { .. } = self.connection(conn)?.stage {
            return self.refuse_login(conn, tag, 405, None);
        }
        let Some(session) = self.sessions.get(client_id) else {
            return self.refuse_login(conn, tag, 401, None);
        };
        if session.client_token != client_token || session.server_token != server_token {
            return self.refuse_login(conn, tag, 401, None);
        }
        let account = session.account;
        if let (LoginMode::Reconnect, Some(wid)) = (mode, reconnect_wid) {
            let ours = self.accounts.get(account).map(|a| a.number());
            if ours != Some(wid.split('@').next().unwrap_or_default()) {
                return self.refuse_login(conn, tag, 401, None);
            }
        }
        let tos = self.account_state.get(account).map_or(0, |s| s.tos);
        if tos >= 2 {
            return self.refuse_login(conn, tag, 403, Some(tos));
        }
        let holder = session.conn.filter(|c| *c != conn);
        if let Some(old) = holder {
            if mode == LoginMode::Reconnect {
                return self.refuse_login(conn, tag, 409, None);
            }
            // Takeover: the old connection learns it was replaced, then is closed.
            let kick = json!(["Cmd", { "type": "disconnect", "kind": "replaced" }]);
            if let Some(old_connection) = self.connections.get_mut(&old) {
                let kick_tag = old_connection.server_tag();
                old_connection.stage = Stage::Closed { replaced: true };
                self.send_json(old, kick_tag, kick);
            }
            self.close(old);
            if let Some(session) = self.sessions.get_mut(client_id) {
                session.conn = None;
            }
            self.events.push_back(SimEvent::Replaced { old, new: conn });
        }
        let client_id = client_id.to_owned();
        self.connection(conn)?.client_id = Some(client_id.clone());
        if self.config.challenge_on_restore {
            let mut challenge = vec![0u8; 32];
            self.rng.fill_bytes(&mut challenge);
            let connection = self.connection(conn)?;
            let s1 = connection.server_tag();
            connection.stage = Stage::Challenged {
                client_id,
                challenge: challenge.clone(),
                login_tag: tag.clone(),
            };
            connection.pending_scan = None;
            let body =
                json!(["Cmd", { "type": "challenge", "challenge": BASE64.encode(&challenge) }]);
            self.send_json(conn, s1, body);
        } else {
            self.rotate_tokens(&client_id);
            self.complete_login(conn, now, &client_id, None, Some(tag.clone()), true, false);
        }
        Ok(())
    }

    fn admin_challenge(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        tag: &Tag,
        items: &[Value],
    ) -> Result<(), RequestError> {
        let text = |i: usize| items.get(i).and_then(Value::as_str);
        let (Some(answer), Some(server_token), Some(client_id)) = (text(2), text(3), text(4))
        else {
            return Err(RequestError::Malformed(
                "admin challenge needs answer, serverToken, clientId".into(),
            ));
        };
        let connection = self
            .connections
            .get(&conn)
            .ok_or(RequestError::NotLoggedIn)?;
        let Stage::Challenged {
            client_id: expected_client,
            challenge,
            login_tag,
        } = &connection.stage
        else {
            return Err(RequestError::Malformed("no challenge is pending".into()));
        };
        let login_tag = login_tag.clone();
        let ok = expected_client == client_id
            && self.sessions.get(client_id).is_some_and(|s| {
                s.server_token == server_token
                    && BASE64.decode(answer).is_ok_and(|answer| {
                        wa_crypto::hmac_sha256_verify(s.keys.mac_key(), &[challenge], &answer)
                            .is_ok()
                    })
            });
        if !ok {
            self.connection(conn)?.stage = Stage::New;
            self.send_status(conn, tag.clone(), 401);
            return self.after_phone_round_trip(conn, now, |s| {
                s.refuse_login(conn, &login_tag, 401, None)
            });
        }
        let client_id = client_id.to_owned();
        // The challenge is acknowledged at once; `Conn` comes after the phone confirmed.
        self.send_status(conn, tag.clone(), 200);
        self.rotate_tokens(&client_id);
        self.after_phone_round_trip(conn, now, |s| {
            s.complete_login(conn, now, &client_id, None, Some(login_tag), true, true);
            Ok(())
        })
    }

    fn refuse_login(
        &mut self,
        conn: ConnId,
        tag: &Tag,
        status: u16,
        tos: Option<u8>,
    ) -> Result<(), RequestError> {
        let body = match tos {
            Some(tos) => json!({ "status": status, "tos": tos }),
            None => json!({ "status": status }),
        };
        self.send_json(conn, tag.clone(), body);
        self.events
            .push_back(SimEvent::LoginRefused { conn, status });
        Ok(())
    }

    fn goodbye(&mut self, conn: ConnId) {
        let client_id = match self.connections.get(&conn).map(|c| &c.stage) {
            Some(Stage::LoggedIn { client_id }) => Some(client_id.clone()),
            _ => None,
        };
        match client_id {
            Some(client_id) => self.end_session(&client_id, LogoutVia::Goodbye),
            None => self.close(conn),
        }
    }

    fn json_query(
        &mut self,
        conn: ConnId,
        tag: &Tag,
        kind: &str,
        items: &[Value],
    ) -> Result<(), RequestError> {
        let account = self.account_of(conn).cloned().unwrap_or_default();
        let jid = items.get(2).and_then(Value::as_str);
        let known = |jid: &str| {
            let jid = jid.replace("@s.whatsapp.net", "@c.us");
            jid == account.wid
                || account.contacts.iter().any(|c| c.jid == jid)
                || self.accounts.iter().any(|a| a.wid == jid)
                || self.config.echo_jid.as_deref() == Some(jid.as_str())
        };
        let body = match (kind, jid) {
            ("exist", Some(jid)) => {
                if known(jid) {
                    json!({ "status": 200, "jid": jid.replace("@s.whatsapp.net", "@c.us"), "biz": false })
                } else {
                    json!({ "status": 404 })
                }
            }
            ("ProfilePicThumb", Some(jid)) => self.profile_pic_json(jid),
            ("Status", Some(jid)) => {
                if let Some(a) = self.account_by_jid(jid) {
                    json!({ "status": self.stores[a].status })
                } else if known(jid) {
                    json!({ "status": "Hey there! I am using WhatsApp." })
                } else {
                    json!({ "status": 401 })
                }
            }
            ("exist" | "ProfilePicThumb" | "Status", None) => {
                return Err(RequestError::Malformed(format!("query {kind} needs a jid")));
            }
            (other, _) => return Err(RequestError::UnknownCommand(format!("query {other}"))),
        };
        self.send_json(conn, tag.clone(), body);
        Ok(())
    }

    // ----- login completion and pushes ------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub(super) fn complete_login(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        client_id: &str,
        secret: Option<&[u8; 144]>,
        login_tag: Option<Tag>,
        restored: bool,
        challenged: bool,
    ) {
        let Some(session) = self.sessions.get_mut(client_id) else {
            return;
        };
        session.conn = Some(conn);
        let account = self
            .accounts
            .get(session.account)
            .cloned()
            .unwrap_or_default();
        let tos = self.account_state.get(session.account).map_or(0, |s| s.tos);
        let mut conn_body = json!({
            "ref": self.connections.get(&conn).and_then(|c| match &c.stage {
                Stage::AwaitingScan(r) => Some(r.current.clone()),
                _ => None,
            }),
            "wid": account.wid,
            "connected": true,
            "isResponse": "false",
            "serverToken": session.server_token,
            "browserToken": session.browser_token,
            "clientToken": session.client_token,
            "lc": "US",
            "lg": "en",
            "locales": "en-US",
            "is24h": true,
            "protoVersion": [0, 17],
            "binVersion": 10,
            "battery": account.battery,
            "plugged": account.plugged,
            "platform": account.platform,
            "features": { "KEY_PARSING": true, "MEDIA_UPLOAD_STUB": true, "URL": true },
            "phone": account.phone,
            "pushname": account.pushname,
            "tos": tos,
            "initial": !restored,
        });
        if let (Some(secret), Some(obj)) = (secret, conn_body.as_object_mut()) {
            obj.insert("secret".into(), Value::String(BASE64.encode(secret)));
        }
        // Pushes follow `Conn`, which may itself be held back for the phone round-trip.
        let conn_sent_at = match self.defer {
            Some((c, at)) if c == conn => at,
            _ => now,
        };
        let delay = self.config.initial_push_delay;
        let version = self.config.server_version.clone();
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        connection.client_id = Some(client_id.to_owned());
        connection.stage = Stage::LoggedIn {
            client_id: client_id.to_owned(),
        };
        connection.pending_scan = None;
        connection.pending_push = Some(conn_sent_at + delay);
        let conn_tag = connection.server_tag();
        let stream_tag = connection.server_tag();
        let props_tag = connection.server_tag();
        self.send_json(conn, conn_tag, json!(["Conn", conn_body]));
        self.send_json(
            conn,
            stream_tag,
            json!(["Stream", "update", false, version]),
        );
        self.send_json(
            conn,
            props_tag,
            json!(["Props", {
                "imageMaxKBytes": 1024,
                "maxParticipants": 257,
                "videoMaxEdge": 960,
                "mediaMaxMB": 64,
                "groupDescLength": 512,
                "preview": true,
            }]),
        );
        if let Some(login_tag) = login_tag {
            self.send_status(conn, login_tag, 200);
        }
        self.events.push_back(SimEvent::LoggedIn {
            conn,
            client_id: client_id.to_owned(),
            restored,
            challenged,
        });
    }

    /// The unsolicited contacts and chat lists a real server pushes after login.
    pub(super) fn push_initial_data(&mut self, conn: ConnId) {
        let Some(account) = self.account_of(conn).cloned() else {
            return;
        };
        let Ok(index) = self.account_index(conn) else {
            return;
        };
        let (recent, ids) = self.recent_messages_node(index);
        let responses = [
            Some(nodes::contacts_response(&account)),
            Some(self.chats_node(index)),
            recent,
        ];
        for response in responses.into_iter().flatten() {
            let Some(connection) = self.connections.get_mut(&conn) else {
                return;
            };
            let tag = connection.preempt_tag();
            self.send_node(conn, tag, &response);
        }
        self.flush_offline(conn, &ids);
    }

    fn rotate_tokens(&mut self, client_id: &str) {
        let client_token = self.token(32, "");
        let server_token = self.token(48, "1@");
        if let Some(session) = self.sessions.get_mut(client_id) {
            session.client_token = client_token;
            session.server_token = server_token;
        }
    }

    pub(super) fn end_session(&mut self, client_id: &str, via: LogoutVia) {
        let Some(session) = self.sessions.remove(client_id) else {
            return;
        };
        if let Some(conn) = session.conn {
            if via != LogoutVia::Goodbye {
                // The client did not ask: tell it why the connection ends.
                if let Some(connection) = self.connections.get_mut(&conn) {
                    let tag = connection.server_tag();
                    self.send_json(conn, tag, json!(["Cmd", { "type": "disconnect" }]));
                }
            }
            if let Some(connection) = self.connections.get_mut(&conn) {
                connection.stage = Stage::Closed { replaced: false };
            }
            self.close(conn);
        }
        self.events.push_back(SimEvent::LoggedOut {
            client_id: client_id.to_owned(),
            via,
        });
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
