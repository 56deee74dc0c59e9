//! The commands a harness gives the server from outside the protocol: the simulated phone's
//! scans, logouts and unpairing, settings changed at run time, the media host, armed faults, and
//! inspection of its state. Its own file because none of it is a client's request.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore;
use wa_core::{Frame, Timestamp};
use wa_crypto::legacy::SessionKeys;

use super::{
    ConnId, ConnectionInfo, LogoutVia, Server, Session, SessionInfo, SimEvent, Stage,
    StateSnapshot, tag_of,
};
use crate::error::{LogoutError, ScanError};
use crate::media::{MediaError, MediaHost};
use crate::store::{AccountStore, Group};

impl Server {
    // ----- control commands -----------------------------------------------------------------

    /// The phone scans `qr` (`ref,base64(public key),clientId`, as the client shows it) now,
    /// with the first account.
    pub fn scan(&mut self, now: Timestamp, qr: &str) -> Result<ConnId, ScanError> {
        self.scan_as(now, qr, None)
    }

    /// The phone of account `wid` (or the first account) scans `qr` now: the connection showing
    /// that ref is paired and receives `s1 Conn` with a fresh `secret`, then `Stream` and `Props`.
    pub fn scan_as(
        &mut self,
        now: Timestamp,
        qr: &str,
        wid: Option<&str>,
    ) -> Result<ConnId, ScanError> {
        let (qr_ref, public_key, client_id) = parse_qr(qr)?;
        let account = match wid {
            None => 0,
            Some(wid) => self
                .accounts
                .iter()
                .position(|a| a.wid == wid)
                .ok_or_else(|| ScanError::UnknownAccount(wid.to_owned()))?,
        };
        let (conn, connection) = self
            .connections
            .iter()
            .find(|(_, c)| matches!(&c.stage, Stage::AwaitingScan(r) if r.current == qr_ref))
            .ok_or_else(|| ScanError::UnknownRef(qr_ref.clone()))?;
        let conn = *conn;
        if let Stage::AwaitingScan(refs) = &connection.stage {
            if now >= refs.issued_at + self.config.ref_ttl {
                return Err(ScanError::ExpiredRef(qr_ref));
            }
        }
        if connection.client_id.as_deref() != Some(client_id.as_str()) {
            return Err(ScanError::ClientIdMismatch);
        }

        let keys = SessionKeys::generate(&mut self.rng);
        let secret = keys.build_secret(&public_key, &mut self.rng);
        let session = Session {
            account,
            keys,
            client_token: self.token(32, ""),
            server_token: self.token(48, "1@"),
            browser_token: self.token(48, "1@"),
            conn: None,
        };
        // A client id pairs once; scanning again replaces the old session.
        if let Some(old) = self.sessions.remove(&client_id) {
            if let Some(old_conn) = old.conn {
                self.close(old_conn);
            }
        }
        self.sessions.insert(client_id.clone(), session);
        self.events.push_back(SimEvent::Paired {
            conn,
            client_id: client_id.clone(),
            wid: self.accounts[account].wid.clone(),
        });
        self.complete_login(conn, now, &client_id, Some(&secret), None, false, false);
        Ok(conn)
    }

    /// The phone sees `qr`; with [`Config::auto_scan_delay`] set it scans it that long after
    /// `now` (in [`Server::handle_timeout`]). Returns the time of the scan, or `None` when
    /// auto-scan is off.
    ///
    /// [`Config::auto_scan_delay`]: super::Config::auto_scan_delay
    pub fn present_qr(&mut self, now: Timestamp, qr: &str) -> Result<Option<Timestamp>, ScanError> {
        let (qr_ref, _, _) = parse_qr(qr)?;
        let Some(delay) = self.config.auto_scan_delay else {
            return Ok(None);
        };
        let connection = self
            .connections
            .values_mut()
            .find(|c| matches!(&c.stage, Stage::AwaitingScan(r) if r.current == qr_ref))
            .ok_or(ScanError::UnknownRef(qr_ref))?;
        let at = now + delay;
        connection.pending_scan = Some((qr.to_owned(), at));
        Ok(Some(at))
    }

    /// `POST /logout?t=<browserToken>&m=<b64(HMAC(macKey, encKey))>`: unpairs the session.
    pub fn http_logout(&mut self, _now: Timestamp, t: &str, m: &str) -> Result<(), LogoutError> {
        if t.is_empty() || m.is_empty() {
            return Err(LogoutError::MissingParameter);
        }
        let client_id = self
            .sessions
            .iter()
            .find(|(_, s)| s.browser_token == t)
            .map(|(id, _)| id.clone())
            .ok_or(LogoutError::UnknownToken)?;
        let session = self
            .sessions
            .get(&client_id)
            .ok_or(LogoutError::UnknownToken)?;
        let given = BASE64.decode(m).map_err(|_| LogoutError::BadMac)?;
        // Same check as `logout_token` (HMAC(macKey, encKey)), compared in constant time.
        wa_crypto::hmac_sha256_verify(session.keys.mac_key(), &[session.keys.enc_key()], &given)
            .map_err(|_| LogoutError::BadMac)?;
        self.end_session(&client_id, LogoutVia::Http);
        Ok(())
    }

    /// The phone removes the session of `client_id` (as "log out from all computers" does).
    /// Returns whether such a session existed.
    pub fn unpair(&mut self, client_id: &str) -> bool {
        if !self.sessions.contains_key(client_id) {
            return false;
        }
        self.end_session(client_id, LogoutVia::Phone);
        true
    }

    /// Sets the `tos` value of account `wid`: 2 or more refuses its logins with
    /// `{status:403, tos}`. Returns whether the account exists.
    pub fn set_account_tos(&mut self, wid: &str, tos: u8) -> bool {
        match self.accounts.iter().position(|a| a.wid == wid) {
            Some(i) => {
                if let Some(state) = self.account_state.get_mut(i) {
                    state.tos = tos;
                }
                true
            }
            None => false,
        }
    }

    /// Turns the challenge on restore on or off.
    pub fn set_challenge_on_restore(&mut self, on: bool) {
        self.config.challenge_on_restore = on;
    }

    /// Sets the QR ref lifetime and the minimum interval between rerefs (for new refs).
    pub fn set_ref_timing(&mut self, ttl: Duration, reref_min_interval: Duration) {
        self.config.ref_ttl = ttl;
        self.config.reref_min_interval = reref_min_interval;
    }

    /// Sets (or clears) the auto-scan delay.
    pub fn set_auto_scan_delay(&mut self, delay: Option<Duration>) {
        self.config.auto_scan_delay = delay;
    }

    // ----- media host -----------------------------------------------------------------------

    /// An upload to the media host: `POST /mms/<type>/<token>?auth=<auth>&token=<token>` (the
    /// `mediaConn` route) or the `encr_upload` URL. `token` is b64url(SHA-256(body)). Returns
    /// the download URL (absolute, with [`Config::media_scheme`] and [`Config::media_host`]).
    ///
    /// [`Config::media_scheme`]: super::Config::media_scheme
    /// [`Config::media_host`]: super::Config::media_host
    pub fn media_upload(
        &mut self,
        now: Timestamp,
        auth: &str,
        token: &str,
        body: Vec<u8>,
    ) -> Result<String, MediaError> {
        if auth != self.media.auth {
            return Err(MediaError::BadAuth);
        }
        let blob = self.media.put(token, body)?;
        let path = self
            .media
            .issue_path(&blob, now)
            .ok_or(MediaError::NotFound)?;
        Ok(self.media_url_for(&path))
    }

    /// A download from the media host: the blob behind `path` (`/mms/d/...` from an upload or
    /// a `media` query, or `/pp/<number>` for a profile picture). Expired URLs give
    /// [`MediaError::NotFound`] (404).
    pub fn media_download(&self, now: Timestamp, path: &str) -> Result<Vec<u8>, MediaError> {
        if let Some(number) = path.strip_prefix("/pp/") {
            return self
                .account_by_jid(&format!("{number}@c.us"))
                .and_then(|a| self.stores[a].picture.clone())
                .ok_or(MediaError::NotFound);
        }
        self.media.get(path, now).map(<[u8]>::to_vec)
    }

    /// The media host (blobs, URL lifetime).
    pub fn media(&self) -> &MediaHost {
        &self.media
    }

    /// Sets the delay between the echo contact's steps.
    pub fn set_echo_delay(&mut self, delay: Duration) {
        self.config.echo_delay = delay;
    }

    /// Makes every media URL issued so far expire now (clients must re-query with a `media`
    /// query to download again).
    pub fn expire_media_urls(&mut self, now: Timestamp) {
        self.media.expire_all(now);
    }

    /// Sets how long newly issued media URLs work.
    pub fn set_media_url_ttl(&mut self, ttl: Duration) {
        self.config.media_url_ttl = ttl;
        self.media.url_ttl = ttl;
    }

    // ----- faults -----------------------------------------------------------------------------

    /// The next relayed message is stored and routed, but its connection is closed instead of
    /// acked (the client must resend; the resend is acked, not delivered again).
    pub fn fault_drop_next_relay_ack(&mut self) {
        self.faults.drop_next_relay_ack = true;
    }

    /// A message from a client longer than `limit` bytes closes its connection without an
    /// answer (as a server whose WebSocket layer will not read a frame that long does); `None`
    /// turns it off. Clients must not jam on it: see the protocol book's limits.
    pub fn fault_close_on_frames_over(&mut self, limit: Option<usize>) {
        self.faults.close_on_frames_over = limit;
    }

    /// The next `count` relayed messages are answered `{"status":503}` (server busy), neither
    /// stored nor routed: the client must relay them again later, with the same ids.
    pub fn fault_defer_next_relays(&mut self, count: u32) {
        self.faults.defer_next_relays = count;
    }

    /// The next message delivered to an account is pushed twice (clients must de-duplicate).
    pub fn fault_duplicate_next_delivery(&mut self) {
        self.faults.duplicate_next_delivery = true;
    }

    /// Sends `conn` a frame the client must survive: `truncated` is a binary frame cut inside
    /// its HMAC; otherwise a tagged binary frame of random bytes (fails the HMAC). Returns
    /// whether `conn` is open.
    pub fn fault_send_garbage(&mut self, conn: ConnId, truncated: bool) -> bool {
        if self.logged_in_client(conn).is_none() && !self.connections.contains_key(&conn) {
            return false;
        }
        let mut payload = vec![0u8; if truncated { 12 } else { 80 }];
        self.rng.fill_bytes(&mut payload);
        let fault = if truncated { "truncated" } else { "garbage" };
        let tag = tag_of(&format!("sim-{fault}-{}", self.next_push));
        self.next_push += 1;
        self.send(conn, Frame::binary(tag, payload));
        self.events.push_back(SimEvent::FaultInjected {
            conn,
            fault: fault.to_owned(),
        });
        true
    }

    /// The logged-in connections of account `wid`.
    pub fn account_connections(&self, wid: &str) -> Vec<ConnId> {
        self.account_by_jid(wid)
            .map(|a| {
                let mut conns: Vec<ConnId> = self
                    .sessions
                    .values()
                    .filter(|s| s.account == a)
                    .filter_map(|s| s.conn)
                    .collect();
                conns.sort();
                conns
            })
            .unwrap_or_default()
    }

    // ----- inspection -----------------------------------------------------------------------

    /// What account `wid`'s phone remembers (chats, messages, blocklist, profile).
    pub fn store(&self, wid: &str) -> Option<&AccountStore> {
        self.account_by_jid(wid).and_then(|a| self.stores.get(a))
    }

    /// A group by id.
    pub fn group(&self, gid: &str) -> Option<&Group> {
        self.groups.get(gid)
    }

    /// The keys of the session of `client_id`, if it is paired.
    pub fn session_keys(&self, client_id: &str) -> Option<&SessionKeys> {
        self.sessions.get(client_id).map(|s| &s.keys)
    }

    /// The paired session of `client_id`.
    pub fn session(&self, client_id: &str) -> Option<SessionInfo> {
        self.sessions
            .get(client_id)
            .map(|s| self.session_info(client_id, s))
    }

    /// The current QR ref of `conn`, if it awaits a scan.
    pub fn qr_ref(&self, conn: ConnId) -> Option<&str> {
        match &self.connections.get(&conn)?.stage {
            Stage::AwaitingScan(refs) => Some(&refs.current),
            _ => None,
        }
    }

    /// The client id of the session `conn` is logged in to.
    pub fn logged_in_client(&self, conn: ConnId) -> Option<&str> {
        match &self.connections.get(&conn)?.stage {
            Stage::LoggedIn { client_id } => Some(client_id),
            _ => None,
        }
    }

    /// A snapshot of connections and sessions.
    pub fn state(&self) -> StateSnapshot {
        let mut sessions: Vec<SessionInfo> = self
            .sessions
            .iter()
            .map(|(id, s)| self.session_info(id, s))
            .collect();
        sessions.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        StateSnapshot {
            connections: self
                .connections
                .iter()
                .map(|(id, c)| ConnectionInfo {
                    conn: *id,
                    client_id: c.client_id.clone(),
                    stage: c.stage.name(),
                    qr_ref: match &c.stage {
                        Stage::AwaitingScan(r) => Some(r.current.clone()),
                        _ => None,
                    },
                })
                .collect(),
            sessions,
            accounts: self.accounts.iter().map(|a| a.wid.clone()).collect(),
        }
    }

    fn session_info(&self, client_id: &str, s: &Session) -> SessionInfo {
        SessionInfo {
            client_id: client_id.to_owned(),
            wid: self
                .accounts
                .get(s.account)
                .map(|a| a.wid.clone())
                .unwrap_or_default(),
            client_token: s.client_token.clone(),
            server_token: s.server_token.clone(),
            browser_token: s.browser_token.clone(),
            conn: s.conn,
        }
    }
}

/// Splits `ref,base64(public key),clientId`. Refs themselves never contain commas.
fn parse_qr(qr: &str) -> Result<(String, [u8; 32], String), ScanError> {
    let mut parts = qr.trim().split(',');
    let (Some(qr_ref), Some(key), Some(client_id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ScanError::MalformedQr(
            "expected three comma-separated parts".into(),
        ));
    };
    let key = BASE64
        .decode(key)
        .map_err(|e| ScanError::MalformedQr(format!("public key is not base64: {e}")))?;
    let key: [u8; 32] = key.try_into().map_err(|k: Vec<u8>| {
        ScanError::MalformedQr(format!("public key has {} bytes, not 32", k.len()))
    })?;
    if qr_ref.is_empty() || client_id.is_empty() {
        return Err(ScanError::MalformedQr("empty ref or client id".into()));
    }
    Ok((qr_ref.to_owned(), key, client_id.to_owned()))
}
