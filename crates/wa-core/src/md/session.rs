//! The companion's session machine after the Noise handshake: pairing (QR or pair code), the
//! 515 restart, login, prekeys, keepalive, stream errors and logout.
//!
//! Sans-IO, in the style of `quinn-proto`: the driver feeds decoded nodes
//! ([`MdSession::handle_node`]) and the clock ([`MdSession::handle_timeout`]), and drains nodes
//! to send ([`MdSession::poll_transmit`]), events ([`MdSession::poll_event`]) and the next
//! deadline ([`MdSession::poll_timeout`]). Times are milliseconds on any monotonic clock; RNGs
//! are passed in. One `MdSession` spans connections: call [`MdSession::connected`] after each
//! handshake (with [`MdSession::client_payload`] as the payload sent in it).
//!
//! The driver must handle every event before sending the nodes queued with it: an event such as
//! [`MdEvent::PreKeysGenerated`] or [`MdEvent::CredentialsChanged`] asks it to persist state
//! that the next node relies on.

use std::collections::{BTreeMap, VecDeque};

use wa_binary::{Jid, Node};
use wa_crypto::{CryptoRng, RngCore};
use wa_proto::proto::ClientPayload;
use wa_signal::{PreKey, SignedPreKey};

use super::adv::{self, AdvError};
use super::credentials::{Account, Credentials};
use super::pair_code::{CompanionLink, PairCodeError};
use super::pairing::{self, QrRotation};
use super::payload::{DeviceDescription, login_payload, registration_payload_for};
use super::prekeys::{self, INITIAL_UPLOAD, MIN_COUNT, PreKeyError, WANTED_COUNT};
use super::stream_error::{NextStep, StreamError};

/// The server's JID as iqs address it.
pub const SERVER: &str = "s.whatsapp.net";

/// Tunables.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// How the device describes itself in its payloads.
    pub device: DeviceDescription,
    /// The QR's platform field (`1` = Chrome).
    pub platform_id: String,
    /// What the phone shows for a pair-code link, e.g. `Chrome (Linux)`.
    pub platform_display: String,
    /// Time between `w:p` pings (ms).
    pub ping_interval_ms: u64,
    /// How long a ping may go unanswered before the link counts as lost (ms).
    pub ping_timeout_ms: u64,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            device: DeviceDescription::default(),
            platform_id: "1".into(),
            platform_display: "Chrome (Linux)".into(),
            ping_interval_ms: 25_000,
            ping_timeout_ms: 10_000,
        }
    }
}

/// A refused pairing step. The session's state is unchanged by any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairError {
    /// The `pair-success` device identity was refused.
    #[error(transparent)]
    Adv(#[from] AdvError),
    /// `pair-success` lacked its device identity or JID, or the JID did not parse.
    #[error("malformed pair-success")]
    MalformedPairSuccess,
    /// Pair-code linking failed.
    #[error(transparent)]
    PairCode(#[from] PairCodeError),
    /// A pair code was asked for when the connection is not waiting for a pairing.
    #[error("not waiting for a pairing (already paired, or not connected)")]
    NotPairing,
    /// The server answered the pair-code request with an error.
    #[error("the server refused the pair-code request (code {0})")]
    Refused(u16),
}

/// What the session tells its driver.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MdEvent {
    /// Show this QR until `expires_at` (ms).
    Qr {
        /// The QR string.
        code: String,
        /// When it expires.
        expires_at: u64,
    },
    /// Every ref expired unscanned: reconnect for new ones, or give up.
    QrExhausted,
    /// The credentials changed: persist them now (before sending what follows).
    CredentialsChanged,
    /// Paired: the server will now ask for a restart (515).
    Paired {
        /// Our device JID.
        jid: Jid,
        /// Our LID, if given.
        lid: Option<Jid>,
        /// The phone's platform.
        platform: Option<String>,
    },
    /// A pairing step was refused (typed); nothing changed.
    PairFailed(PairError),
    /// Logged in (`success`).
    LoggedIn,
    /// New one-time prekeys: persist their private halves before the upload goes out.
    PreKeysGenerated(Vec<PreKey>),
    /// The server confirmed an upload of this many prekeys.
    PreKeysUploaded {
        /// How many.
        count: usize,
    },
    /// The server's digest of our key bundle did not match (or was missing): re-uploading.
    DigestMismatch,
    /// The server's digest matched what we hold.
    DigestVerified,
    /// A new signed prekey is active (the old one can be dropped once its sessions settled).
    SignedPreKeyRotated {
        /// Its id.
        id: u32,
    },
    /// An iq of ours failed (`what` names it).
    IqFailed {
        /// Which request.
        what: &'static str,
        /// The error code (0 if absent).
        code: u16,
    },
    /// The server ended the stream; `next` says what to do.
    StreamEnded {
        /// What it said.
        error: StreamError,
        /// What to do.
        next: NextStep,
    },
    /// No answer to a ping in time: the link is lost; reconnect after a backoff.
    LinkLost,
    /// Logged out at our request: the credentials are void.
    LoggedOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not connected.
    Offline,
    /// Connected unpaired: waiting for `pair-device` / a scan / a pair code.
    Pairing,
    /// Paired on this connection; waiting for the 515.
    AwaitingRestart,
    /// Connected with a login payload; waiting for `success`.
    LoggingIn,
    /// Logged in.
    Online,
    /// Stopped for good (logged out, replaced, banned).
    Stopped,
}

#[derive(Debug)]
enum Pending {
    Count,
    Upload(Vec<(u32, [u8; 32])>),
    Digest,
    Rotate(SignedPreKey),
    Passive,
    Ping,
    PairCodeHello,
    PairCodeFinish,
    Logout,
}

/// The machine. See the module docs.
#[derive(Debug)]
pub struct MdSession {
    creds: Credentials,
    config: SessionConfig,
    phase: Phase,
    out: VecDeque<Node>,
    events: VecDeque<MdEvent>,
    pending: BTreeMap<String, Pending>,
    id_prefix: String,
    next_id: u64,
    qr: Option<QrRotation>,
    link: Option<CompanionLink>,
    next_ping_at: Option<u64>,
    ping_deadline: Option<u64>,
    known_prekeys: BTreeMap<u32, [u8; 32]>,
    digest_reuploaded: bool,
    pair_code_answered: bool,
}

impl MdSession {
    /// A session for `creds` (fresh for a new device, restored for a paired one).
    pub fn new<R: RngCore + CryptoRng>(
        creds: Credentials,
        config: SessionConfig,
        rng: &mut R,
    ) -> MdSession {
        MdSession {
            creds,
            config,
            phase: Phase::Offline,
            out: VecDeque::new(),
            events: VecDeque::new(),
            pending: BTreeMap::new(),
            id_prefix: format!("{:08X}", rng.next_u32()),
            next_id: 0,
            qr: None,
            link: None,
            next_ping_at: None,
            ping_deadline: None,
            known_prekeys: BTreeMap::new(),
            digest_reuploaded: false,
            pair_code_answered: false,
        }
    }

    /// The credentials (persist them on [`MdEvent::CredentialsChanged`]).
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Tells the session which one-time prekeys (id, public key) the store holds, so a digest
    /// check after a restart can be answered without re-uploading.
    pub fn remember_prekeys(&mut self, keys: impl IntoIterator<Item = (u32, [u8; 32])>) {
        self.known_prekeys.extend(keys);
    }

    /// The payload for the next handshake: login when paired, registration otherwise.
    pub fn client_payload(&self) -> ClientPayload {
        login_payload(&self.creds, &self.config.device)
            .unwrap_or_else(|| registration_payload_for(&self.creds, &self.config.device))
    }

    /// Whether the session stopped for good (no reconnect).
    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }

    /// Whether the server accepted the last pair-code request (the code can be shown).
    pub fn pair_code_answered(&self) -> bool {
        self.pair_code_answered
    }

    /// Whether the session is logged in.
    pub fn is_online(&self) -> bool {
        self.phase == Phase::Online
    }

    /// A handshake just completed with [`MdSession::client_payload`].
    pub fn connected(&mut self, _now: u64) {
        if self.phase == Phase::Stopped {
            return;
        }
        self.reset_connection();
        self.phase = if self.creds.is_paired() {
            Phase::LoggingIn
        } else {
            Phase::Pairing
        };
    }

    /// The connection closed (any reason).
    pub fn disconnected(&mut self) {
        if self.phase != Phase::Stopped {
            self.phase = Phase::Offline;
        }
        self.reset_connection();
    }

    fn reset_connection(&mut self) {
        self.pending.clear();
        self.out.clear();
        self.qr = None;
        self.next_ping_at = None;
        self.ping_deadline = None;
        self.digest_reuploaded = false;
    }

    /// The next node to send.
    pub fn poll_transmit(&mut self) -> Option<Node> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MdEvent> {
        self.events.pop_front()
    }

    /// When [`MdSession::handle_timeout`] must be called next (ms).
    pub fn poll_timeout(&self) -> Option<u64> {
        [
            self.qr.as_ref().map(QrRotation::expires_at),
            self.next_ping_at,
            self.ping_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances timers: QR rotation, pings, link-loss detection.
    pub fn handle_timeout(&mut self, now: u64) {
        if let Some(qr) = &mut self.qr {
            match qr.advance(now) {
                Some(true) => {
                    let code =
                        pairing::qr_string(qr.current(), &self.creds, &self.config.platform_id);
                    let expires_at = qr.expires_at();
                    self.events.push_back(MdEvent::Qr { code, expires_at });
                }
                Some(false) => {}
                None => {
                    self.qr = None;
                    self.events.push_back(MdEvent::QrExhausted);
                }
            }
        }
        if self.ping_deadline.is_some_and(|d| now >= d) {
            self.ping_deadline = None;
            self.next_ping_at = None;
            self.phase = Phase::Offline;
            self.events.push_back(MdEvent::LinkLost);
            return;
        }
        if self.phase == Phase::Online && self.next_ping_at.is_some_and(|t| now >= t) {
            self.iq("w:p", "get", vec![Node::new("ping")], Pending::Ping);
            self.next_ping_at = Some(now.saturating_add(self.config.ping_interval_ms));
            self.ping_deadline = Some(now.saturating_add(self.config.ping_timeout_ms));
        }
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}.{}", self.id_prefix, self.next_id)
    }

    fn iq(&mut self, xmlns: &str, kind: &str, content: Vec<Node>, pending: Pending) -> String {
        let id = self.new_id();
        self.out.push_back(
            Node::new("iq")
                .attr("id", &id)
                .attr("xmlns", xmlns)
                .attr("type", kind)
                .attr("to", SERVER)
                .children(content),
        );
        self.pending.insert(id.clone(), pending);
        id
    }

    fn reply_result(&mut self, id: &str, content: Option<Node>) {
        let node = Node::new("iq")
            .attr("to", SERVER)
            .attr("type", "result")
            .attr("id", id);
        self.out.push_back(match content {
            Some(child) => node.children([child]),
            None => node,
        });
    }

    /// Starts pair-code linking for `phone` on an unpaired connection; returns the 8-character
    /// code for the user to type on the phone.
    ///
    /// # Errors
    /// [`PairError::NotPairing`] when not connected unpaired; [`PairError::PairCode`] for a bad
    /// phone number.
    pub fn request_pair_code<R: RngCore + CryptoRng>(
        &mut self,
        phone: &str,
        rng: &mut R,
    ) -> Result<String, PairError> {
        if self.phase != Phase::Pairing {
            return Err(PairError::NotPairing);
        }
        let (link, code, hello) = CompanionLink::start(
            phone,
            &self.creds.noise.public_bytes(),
            &self.config.platform_id,
            &self.config.platform_display,
            rng,
        )?;
        self.link = Some(link);
        self.pair_code_answered = false;
        self.iq("md", "set", vec![hello], Pending::PairCodeHello);
        Ok(code)
    }

    /// Asks the server to unlink this device (`remove-companion-device`). On its answer the
    /// session emits [`MdEvent::LoggedOut`] and stops.
    pub fn logout(&mut self) {
        let Some(account) = &self.creds.account else {
            return;
        };
        let jid = account.jid.to_string();
        self.iq(
            "md",
            "set",
            vec![
                Node::new("remove-companion-device")
                    .attr("jid", jid)
                    .attr("reason", "user_initiated"),
            ],
            Pending::Logout,
        );
    }

    /// Rotates the signed prekey (the schedule is the driver's): sends `<rotate>`; the new key
    /// replaces the old one when the server acknowledges.
    pub fn rotate_signed_prekey<R: RngCore + CryptoRng>(&mut self, rng: &mut R) {
        if self.phase != Phase::Online {
            return;
        }
        let (key, node) = prekeys::rotate_signed_prekey(&self.creds, rng);
        self.iq("encrypt", "set", vec![node], Pending::Rotate(key));
    }

    /// Handles one node from the server.
    pub fn handle_node<R: RngCore + CryptoRng>(&mut self, node: &Node, now: u64, rng: &mut R) {
        if self.phase == Phase::Stopped {
            return;
        }
        if let Some(error) = StreamError::parse(node) {
            let next = error.next_step();
            self.reset_connection();
            self.phase = match next {
                NextStep::ReconnectNow | NextStep::ReconnectLater => Phase::Offline,
                NextStep::StopLoggedOut | NextStep::StopReplaced | NextStep::Stop => Phase::Stopped,
            };
            self.events.push_back(MdEvent::StreamEnded { error, next });
            return;
        }
        match &*node.tag {
            "iq" => self.handle_iq(node, now, rng),
            "success" => self.handle_success(node, now, rng),
            "notification" => self.handle_notification(node, rng),
            _ => {}
        }
    }

    fn handle_iq<R: RngCore + CryptoRng>(&mut self, node: &Node, now: u64, rng: &mut R) {
        let id = node.optional_str("id").unwrap_or_default().to_owned();
        match node.optional_str("type") {
            Some("result") | Some("error") => {
                if let Some(pending) = self.pending.remove(&id) {
                    let error = node.optional_str("type") == Some("error");
                    self.handle_answer(pending, node, error, rng);
                }
            }
            Some("set") | Some("get") => {
                if let Some(child) = node.child("pair-device") {
                    if self.phase == Phase::Pairing {
                        self.reply_result(&id, None);
                        self.start_qr(pairing::refs(child), now);
                    }
                } else if let Some(child) = node.child("pair-success") {
                    if self.phase == Phase::Pairing {
                        self.handle_pair_success(&id, child, rng);
                    }
                } else if node.child("ping").is_some() {
                    self.reply_result(&id, None);
                }
            }
            _ => {}
        }
    }

    fn start_qr(&mut self, refs: Vec<String>, now: u64) {
        self.qr = QrRotation::start(refs, now);
        if let Some(qr) = &self.qr {
            let code = pairing::qr_string(qr.current(), &self.creds, &self.config.platform_id);
            self.events.push_back(MdEvent::Qr {
                code,
                expires_at: qr.expires_at(),
            });
        }
    }

    fn pair_error_reply(&mut self, id: &str, code: u16, text: &str) {
        self.out.push_back(
            Node::new("iq")
                .attr("to", SERVER)
                .attr("type", "error")
                .attr("id", id)
                .children([Node::new("error").attr("code", code).attr("text", text)]),
        );
    }

    fn handle_pair_success<R: RngCore + CryptoRng>(&mut self, id: &str, node: &Node, rng: &mut R) {
        let parsed = pairing::parse_pair_success(node).and_then(|info| {
            let jid: Jid = info.jid.as_deref()?.parse().ok()?;
            let lid = match info.lid.as_deref() {
                Some(l) => Some(l.parse::<Jid>().ok()?),
                None => None,
            };
            Some((info, jid, lid))
        });
        let Some((info, jid, lid)) = parsed else {
            self.pair_error_reply(id, 500, "internal-error");
            self.events
                .push_back(MdEvent::PairFailed(PairError::MalformedPairSuccess));
            return;
        };
        let verified = match adv::verify_and_sign(
            &info.device_identity,
            &self.creds.adv_secret,
            &self.creds.identity,
            rng,
        ) {
            Ok(v) => v,
            Err(error) => {
                let (code, text) = match error {
                    AdvError::HmacMismatch => (401, "hmac-mismatch"),
                    AdvError::AccountSignature => (401, "signature-mismatch"),
                    _ => (500, "internal-error"),
                };
                self.pair_error_reply(id, code, text);
                self.events.push_back(MdEvent::PairFailed(error.into()));
                return;
            }
        };
        self.creds.account = Some(Account {
            jid: jid.clone(),
            lid: lid.clone(),
            details: verified.details,
            account_signature_key: verified.account_signature_key,
            account_signature: verified.account_signature,
            device_signature: verified.device_signature,
            key_index: verified.key_index,
            business_name: info.business_name,
        });
        self.creds.platform = info.platform.clone();
        self.qr = None;
        self.link = None;
        self.phase = Phase::AwaitingRestart;
        self.events.push_back(MdEvent::CredentialsChanged);
        self.events.push_back(MdEvent::Paired {
            jid,
            lid,
            platform: info.platform,
        });
        self.reply_result(
            id,
            Some(
                Node::new("pair-device-sign").children([Node::new("device-identity")
                    .attr("key-index", verified.key_index)
                    .bytes(verified.reply)]),
            ),
        );
    }

    fn handle_notification<R: RngCore + CryptoRng>(&mut self, node: &Node, rng: &mut R) {
        let id = node.optional_str("id").unwrap_or_default().to_owned();
        let kind = node.optional_str("type").unwrap_or_default().to_owned();
        let from = node.optional_str("from").unwrap_or(SERVER).to_owned();
        self.out.push_back(
            Node::new("ack")
                .attr("id", &id)
                .attr("class", "notification")
                .attr("type", &kind)
                .attr("to", from),
        );
        if kind != "link_code_companion_reg" || self.phase != Phase::Pairing {
            return;
        }
        let (Some(link), Some(reg)) = (&self.link, node.child("link_code_companion_reg")) else {
            return;
        };
        match link.finish(reg, &self.creds.identity, rng) {
            Ok((secret, finish)) => {
                self.creds.adv_secret = secret;
                self.events.push_back(MdEvent::CredentialsChanged);
                self.iq("md", "set", vec![finish], Pending::PairCodeFinish);
            }
            Err(error) => self.events.push_back(MdEvent::PairFailed(error.into())),
        }
    }

    fn handle_success<R: RngCore + CryptoRng>(&mut self, node: &Node, now: u64, rng: &mut R) {
        if self.phase != Phase::LoggingIn {
            return;
        }
        self.phase = Phase::Online;
        if let (Some(account), Some(lid)) = (
            &mut self.creds.account,
            node.optional_str("lid").and_then(|l| l.parse::<Jid>().ok()),
        ) {
            if account.lid.as_ref() != Some(&lid) {
                account.lid = Some(lid);
                self.events.push_back(MdEvent::CredentialsChanged);
            }
        }
        self.events.push_back(MdEvent::LoggedIn);
        if self.creds.prekeys_uploaded {
            self.iq(
                "encrypt",
                "get",
                vec![prekeys::count_query()],
                Pending::Count,
            );
        } else {
            // A new device uploads its initial batch whatever the count would say: asking
            // first only costs a round trip (the pairing's critical path).
            self.upload(INITIAL_UPLOAD, rng);
        }
        self.iq(
            "passive",
            "set",
            vec![Node::new("active")],
            Pending::Passive,
        );
        self.next_ping_at = Some(now.saturating_add(self.config.ping_interval_ms));
    }

    fn upload<R: RngCore + CryptoRng>(&mut self, count: u32, rng: &mut R) {
        let keys = prekeys::generate(&mut self.creds, count, rng);
        let publics = keys
            .iter()
            .map(|k| (k.id, k.key_pair.public_bytes()))
            .collect();
        let content = prekeys::upload_content(&self.creds, &keys);
        self.events.push_back(MdEvent::CredentialsChanged);
        self.events.push_back(MdEvent::PreKeysGenerated(keys));
        self.iq("encrypt", "set", content, Pending::Upload(publics));
    }

    fn handle_answer<R: RngCore + CryptoRng>(
        &mut self,
        pending: Pending,
        node: &Node,
        error: bool,
        rng: &mut R,
    ) {
        if error {
            let code = node
                .child("error")
                .and_then(|e| e.optional_str("code"))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            match pending {
                // No bundle on the server: upload one.
                Pending::Digest if code == 404 => self.reupload_after_digest(rng),
                Pending::PairCodeHello | Pending::PairCodeFinish => {
                    self.link = None;
                    self.events
                        .push_back(MdEvent::PairFailed(PairError::Refused(code)));
                }
                Pending::Ping => self.ping_deadline = None,
                other => self.events.push_back(MdEvent::IqFailed {
                    what: pending_name(&other),
                    code,
                }),
            }
            return;
        }
        match pending {
            Pending::Count => match prekeys::parse_count(node) {
                Ok(count) if count < MIN_COUNT || !self.creds.prekeys_uploaded => {
                    let wanted = if self.creds.prekeys_uploaded {
                        WANTED_COUNT
                    } else {
                        INITIAL_UPLOAD
                    };
                    self.upload(wanted, rng);
                }
                Ok(_) => {
                    self.iq(
                        "encrypt",
                        "get",
                        vec![prekeys::digest_query()],
                        Pending::Digest,
                    );
                }
                Err(PreKeyError::Malformed(_)) => self.events.push_back(MdEvent::IqFailed {
                    what: "prekey count",
                    code: 0,
                }),
            },
            Pending::Upload(publics) => {
                let count = publics.len();
                self.known_prekeys.extend(publics);
                if !self.creds.prekeys_uploaded {
                    self.creds.prekeys_uploaded = true;
                    self.events.push_back(MdEvent::CredentialsChanged);
                }
                self.events.push_back(MdEvent::PreKeysUploaded { count });
                self.iq(
                    "encrypt",
                    "get",
                    vec![prekeys::digest_query()],
                    Pending::Digest,
                );
            }
            Pending::Digest => {
                let ok = prekeys::parse_digest(node).is_ok_and(|digest| {
                    prekeys::digest_matches(&digest, &self.creds, |id| {
                        self.known_prekeys.get(&id).copied()
                    })
                });
                if ok {
                    self.events.push_back(MdEvent::DigestVerified);
                } else {
                    self.reupload_after_digest(rng);
                }
            }
            Pending::Rotate(key) => {
                let id = key.id;
                self.creds.signed_prekey = key;
                self.events.push_back(MdEvent::CredentialsChanged);
                self.events.push_back(MdEvent::SignedPreKeyRotated { id });
            }
            Pending::Ping => self.ping_deadline = None,
            Pending::Passive | Pending::PairCodeFinish => {}
            Pending::PairCodeHello => {
                let pairing_ref = node
                    .child("link_code_companion_reg")
                    .and_then(|r| r.child("link_code_pairing_ref"))
                    .and_then(Node::content_bytes);
                if let (Some(link), Some(r)) = (&mut self.link, pairing_ref) {
                    link.set_ref(r.to_vec());
                }
                self.pair_code_answered = true;
            }
            Pending::Logout => {
                self.phase = Phase::Stopped;
                self.events.push_back(MdEvent::LoggedOut);
            }
        }
    }

    fn reupload_after_digest<R: RngCore + CryptoRng>(&mut self, rng: &mut R) {
        self.events.push_back(MdEvent::DigestMismatch);
        // One re-upload per connection: a server that keeps disagreeing must not loop us.
        if !self.digest_reuploaded {
            self.digest_reuploaded = true;
            self.upload(WANTED_COUNT, rng);
        }
    }
}

fn pending_name(pending: &Pending) -> &'static str {
    match pending {
        Pending::Count => "prekey count",
        Pending::Upload(_) => "prekey upload",
        Pending::Digest => "prekey digest",
        Pending::Rotate(_) => "signed prekey rotation",
        Pending::Passive => "passive active",
        Pending::Ping => "ping",
        Pending::PairCodeHello => "pair code hello",
        Pending::PairCodeFinish => "pair code finish",
        Pending::Logout => "logout",
    }
}
