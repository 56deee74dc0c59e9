//! What the server sends a session: replies matched to our requests (init, reref, login,
//! challenge, the user's), refusals by status, `Conn` (keys, phone info), `Cmd` (challenge,
//! disconnect, `Stream`, `Props`) and binary frames. Its own file because it is the reading
//! half of the state machine; commands and timers stay in `client`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use wa_binary::{Codec, Node};
use wa_crypto::legacy::{SessionKeys, challenge_response, open_server_frame};
use zeroize::Zeroizing;

use super::{
    ClientSession, CloseReason, ConnInfo, DEFAULT_QR_TTL, Event, Phase, PhoneInfo, Purpose, QrCode,
    QrState, RequestKind, SessionError, StreamUpdate,
};
use crate::frame::Tag;
use crate::session::SessionData;
use crate::time::Timestamp;

impl ClientSession {
    pub(super) fn handle_json(&mut self, now: Timestamp, tag: Tag, body: Value) {
        if let Some(pending) = self.pending.remove(&tag) {
            let logged_out = pending.kind == RequestKind::User
                && !pending.unauthorized_is_answer
                && status_of(&body) == Some(401);
            self.handle_reply(now, tag, pending.kind, body);
            if logged_out {
                // The server no longer knows this session (the phone logged it out): the
                // requester gets its answer first, then the session ends.
                self.close(CloseReason::Unpaired { status: 401 });
            }
            return;
        }
        let Value::Array(items) = body else {
            self.events.push_back(Event::Json { tag, body });
            return;
        };
        let mut items = items.into_iter();
        let (first, second) = (items.next(), items.next());
        match (first.as_ref().and_then(Value::as_str), second) {
            (Some("Conn"), Some(Value::Object(conn))) => self.handle_conn(&conn),
            (Some("Cmd"), Some(Value::Object(cmd))) => self.handle_cmd(now, cmd),
            (Some("Props"), Some(Value::Object(props))) => {
                self.events.push_back(Event::Props(props));
            }
            (Some("Stream"), Some(Value::String(kind))) => {
                let args = items.collect();
                self.events
                    .push_back(Event::Stream(StreamUpdate { kind, args }));
            }
            (_, second) => {
                // Not one the session handles: hand the array back as it came.
                let body = first.into_iter().chain(second).chain(items).collect();
                self.events.push_back(Event::Json {
                    tag,
                    body: Value::Array(body),
                });
            }
        }
    }

    fn handle_reply(&mut self, now: Timestamp, tag: Tag, kind: RequestKind, body: Value) {
        let status = status_of(&body);
        match kind {
            RequestKind::User => self.events.push_back(Event::Response { tag, body }),
            RequestKind::Init => {
                let Phase::AwaitInit(purpose) = self.phase else {
                    return;
                };
                match status {
                    Some(200) => match purpose {
                        Purpose::NewLogin => {
                            let Some(reference) = body.get("ref").and_then(Value::as_str) else {
                                self.close(CloseReason::Protocol(SessionError::MissingField {
                                    message: "init reply",
                                    field: "ref",
                                }));
                                return;
                            };
                            let ttl = ttl_of(&body).unwrap_or(DEFAULT_QR_TTL);
                            self.qr = Some(QrState {
                                reference: reference.to_owned(),
                                ttl,
                                expires_at: None,
                            });
                            self.phase = Phase::AwaitScan;
                            self.show_qr(now, ttl);
                        }
                        Purpose::Restore => self.send_login(now),
                    },
                    other => self.close_for_status(kind, other, &body),
                }
            }
            RequestKind::Reref => {
                if !matches!(self.phase, Phase::AwaitScan) {
                    return;
                }
                match status {
                    Some(200) => {
                        let Some(reference) = body.get("ref").and_then(Value::as_str) else {
                            self.close(CloseReason::Protocol(SessionError::MissingField {
                                message: "reref reply",
                                field: "ref",
                            }));
                            return;
                        };
                        let ttl = ttl_of(&body)
                            .or(self.qr.as_ref().map(|q| q.ttl))
                            .unwrap_or(DEFAULT_QR_TTL);
                        self.qr = Some(QrState {
                            reference: reference.to_owned(),
                            ttl,
                            expires_at: None,
                        });
                        self.show_qr(now, ttl);
                    }
                    Some(304) => {
                        let ttl = ttl_of(&body)
                            .or(self.qr.as_ref().map(|q| q.ttl))
                            .unwrap_or(DEFAULT_QR_TTL);
                        self.show_qr(now, ttl);
                    }
                    Some(429) => self.close(CloseReason::QrRefsExhausted),
                    other => self.close_for_status(kind, other, &body),
                }
            }
            RequestKind::Login => {
                if matches!(self.phase, Phase::Restoring) && status != Some(200) {
                    self.close_for_status(kind, status, &body);
                }
            }
            RequestKind::Challenge => {
                if !matches!(self.phase, Phase::Restoring) {
                    return;
                }
                match status {
                    Some(200) => {}
                    Some(s) if s >= 500 => self.close(CloseReason::ServerError {
                        request: kind,
                        status: s,
                    }),
                    Some(s) if s >= 400 => self.close(CloseReason::Unpaired { status: s }),
                    other => self.close_for_status(kind, other, &body),
                }
            }
        }
    }

    fn show_qr(&mut self, now: Timestamp, ttl: Duration) {
        let (Some(qr), Some(key_pair)) = (self.qr.as_mut(), self.key_pair.as_ref()) else {
            return;
        };
        let expires_at = now + ttl;
        qr.ttl = ttl;
        qr.expires_at = Some(expires_at);
        let code = QrCode {
            reference: qr.reference.clone(),
            public_key: key_pair.public_bytes(),
            client_id: self.client_id.clone(),
            expires_at,
        };
        self.events.push_back(Event::Qr(code));
    }

    fn send_login(&mut self, now: Timestamp) {
        let Some(session) = self.session.as_ref() else {
            return;
        };
        let body = json!([
            "admin",
            "login",
            session.client_token,
            session.server_token,
            session.client_id,
            "takeover"
        ]);
        self.send_admin(now, RequestKind::Login, body);
        self.login_deadline = Some(now + self.config.request_timeout);
        self.phase = Phase::Restoring;
    }

    fn close_for_status(&mut self, request: RequestKind, status: Option<u16>, body: &Value) {
        let reason = match status {
            None => CloseReason::Protocol(SessionError::MissingField {
                message: "reply",
                field: "status",
            }),
            Some(401 | 419) => CloseReason::Unpaired {
                status: status.unwrap_or(401),
            },
            Some(403) => CloseReason::Forbidden {
                tos: body.get("tos").and_then(Value::as_u64),
            },
            Some(405) => CloseReason::AlreadyAuthorized,
            Some(409) => CloseReason::Replaced,
            Some(s) if s >= 500 => CloseReason::ServerError { request, status: s },
            Some(s) => CloseReason::Rejected { request, status: s },
        };
        self.close(reason);
    }

    fn handle_conn(&mut self, conn: &Map<String, Value>) {
        match self.phase {
            Phase::AwaitScan | Phase::Restoring | Phase::Connected | Phase::AwaitInit(_) => {}
            Phase::Idle | Phase::Closed => return,
        }
        let text = |field: &str| conn.get(field).and_then(Value::as_str).map(str::to_owned);
        if let Some(secret) = conn.get("secret").and_then(Value::as_str) {
            match self.derive_keys(secret) {
                Ok(keys) => self.keys = Some(keys),
                Err(e) => {
                    self.close(CloseReason::Protocol(e));
                    return;
                }
            }
        }
        let Some(keys) = self.keys.as_ref() else {
            self.close(CloseReason::Protocol(SessionError::ConnWithoutSecret));
            return;
        };
        let session = match self.session.take() {
            Some(mut s) => {
                s.enc_key = *keys.enc_key();
                s.mac_key = *keys.mac_key();
                s
            }
            None => {
                let required = |field: &'static str| {
                    text(field).ok_or(SessionError::MissingField {
                        message: "Conn",
                        field,
                    })
                };
                let fields = (|| {
                    Ok::<_, SessionError>((
                        required("clientToken")?,
                        required("serverToken")?,
                        required("wid")?,
                    ))
                })();
                let (client_token, server_token, wid) = match fields {
                    Ok(f) => f,
                    Err(e) => {
                        self.close(CloseReason::Protocol(e));
                        return;
                    }
                };
                let private_key = self
                    .key_pair
                    .as_ref()
                    .map(|k| *k.private_bytes())
                    .unwrap_or_default();
                SessionData {
                    client_id: self.client_id.clone(),
                    private_key,
                    client_token,
                    server_token,
                    browser_token: text("browserToken").unwrap_or_default(),
                    enc_key: *keys.enc_key(),
                    mac_key: *keys.mac_key(),
                    wid,
                }
            }
        };
        let mut session = session;
        if let Some(t) = text("clientToken") {
            session.client_token = t;
        }
        if let Some(t) = text("serverToken") {
            session.server_token = t;
        }
        if let Some(t) = text("browserToken") {
            session.browser_token = t;
        }
        if let Some(wid) = text("wid") {
            session.wid = wid;
        }
        let info = conn_info(conn, &session.wid);
        self.events
            .push_back(Event::SessionUpdated(Box::new(session.clone())));
        self.session = Some(session);
        self.login_deadline = None;
        self.qr = None;
        // Replies to login-phase requests (the login itself, a late reref) no longer matter,
        // but are still recognised rather than reported as unsolicited.
        for pending in self.pending.values_mut() {
            if pending.kind != RequestKind::User {
                pending.deadline = None;
            }
        }
        if matches!(self.phase, Phase::Connected) {
            self.events.push_back(Event::ConnUpdated(info));
        } else {
            self.phase = Phase::Connected;
            self.events.push_back(Event::Connected(info));
        }
    }

    fn derive_keys(&self, secret_b64: &str) -> Result<SessionKeys, SessionError> {
        let secret = Zeroizing::new(
            BASE64
                .decode(secret_b64)
                .map_err(|_| SessionError::BadSecret("not base64".into()))?,
        );
        let key_pair = self
            .key_pair
            .as_ref()
            .ok_or_else(|| SessionError::BadSecret("no key pair for this session".into()))?;
        SessionKeys::from_secret(key_pair, &secret)
            .map_err(|e| SessionError::BadSecret(e.to_string()))
    }

    fn handle_cmd(&mut self, now: Timestamp, cmd: Map<String, Value>) {
        match cmd.get("type").and_then(Value::as_str) {
            Some("challenge") => {
                if !matches!(self.phase, Phase::Restoring) {
                    self.events.push_back(Event::Cmd(cmd));
                    return;
                }
                let challenge = cmd
                    .get("challenge")
                    .and_then(Value::as_str)
                    .and_then(|c| BASE64.decode(c).ok());
                let (Some(challenge), Some(keys), Some(session)) =
                    (challenge, self.keys.as_ref(), self.session.as_ref())
                else {
                    self.close(CloseReason::Protocol(SessionError::MissingField {
                        message: "Cmd challenge",
                        field: "challenge",
                    }));
                    return;
                };
                let answer = BASE64.encode(challenge_response(keys, &challenge));
                let body = json!([
                    "admin",
                    "challenge",
                    answer,
                    session.server_token,
                    session.client_id
                ]);
                self.send_admin(now, RequestKind::Challenge, body);
                self.login_deadline = Some(now + self.config.request_timeout);
                self.events.push_back(Event::ChallengeAnswered);
            }
            Some("disconnect") => {
                let kind = cmd.get("kind").and_then(Value::as_str);
                if kind == Some("replaced") {
                    self.close(CloseReason::Replaced);
                } else {
                    self.close(CloseReason::ServerDisconnected {
                        kind: kind.map(str::to_owned),
                    });
                }
            }
            _ => self.events.push_back(Event::Cmd(cmd)),
        }
    }

    pub(super) fn handle_binary(&mut self, tag: Tag, payload: &[u8]) {
        if self
            .pending
            .get(&tag)
            .is_some_and(|p| p.kind == RequestKind::User)
        {
            self.pending.remove(&tag);
        }
        let Some(keys) = self.keys.as_ref() else {
            self.events
                .push_back(Event::Error(SessionError::BinaryBeforeLogin { tag }));
            return;
        };
        let plaintext = match open_server_frame(keys, payload) {
            Ok(plaintext) => Zeroizing::new(plaintext),
            Err(source) => {
                self.events
                    .push_back(Event::Error(SessionError::Decrypt { tag, source }));
                return;
            }
        };
        match Codec::legacy().decode(&plaintext) {
            Ok(node) => self.events.push_back(Event::Node { tag, node }),
            Err(source) => self
                .events
                .push_back(Event::Error(SessionError::Decode { tag, source })),
        }
    }
}

/// Whether a 401 reply to this JSON request refuses one item (a picture hidden from us, a
/// number or group we may not see, a group we do not administer) rather than meaning the
/// session was logged out, as a 401 to any other request does.
pub(super) fn json_401_is_an_answer(body: &Value) -> bool {
    matches!(
        body.get(1).and_then(Value::as_str),
        Some("ProfilePicThumb" | "Status" | "GroupMetadata" | "inviteCode" | "inviteReset")
    )
}

/// Whether a 401 reply to this node refuses one item: group actions and the `group` query
/// answer 401 to a non-member or non-admin.
pub(super) fn node_401_is_an_answer(node: &Node) -> bool {
    match node.tag.as_str() {
        "action" => node.child("group").is_some(),
        "query" => node.attrs.get("type") == Some("group"),
        _ => false,
    }
}

fn status_of(body: &Value) -> Option<u16> {
    body.get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
}

fn ttl_of(body: &Value) -> Option<Duration> {
    body.get("ttl")
        .and_then(Value::as_u64)
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
}

fn lenient_string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn conn_info(conn: &Map<String, Value>, wid: &str) -> ConnInfo {
    let phone = conn.get("phone").and_then(Value::as_object);
    let phone_field = |name: &str| lenient_string(phone.and_then(|p| p.get(name)));
    let battery = match conn.get("battery") {
        Some(Value::Number(n)) => n.as_u64().and_then(|b| u8::try_from(b).ok()),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    ConnInfo {
        wid: wid.to_owned(),
        pushname: lenient_string(conn.get("pushname")),
        platform: lenient_string(conn.get("platform")),
        phone: PhoneInfo {
            device_manufacturer: phone_field("device_manufacturer"),
            device_model: phone_field("device_model"),
            os_version: phone_field("os_version"),
            os_build_number: phone_field("os_build_number"),
            mcc: phone_field("mcc"),
            mnc: phone_field("mnc"),
            wa_version: phone_field("wa_version"),
        },
        battery,
        plugged: conn.get("plugged").and_then(Value::as_bool),
        connected: conn.get("connected").and_then(Value::as_bool),
        tos: conn.get("tos").and_then(Value::as_u64),
        locale_country: lenient_string(conn.get("lc")),
        locale_language: lenient_string(conn.get("lg")),
    }
}
