//! The server's settings ([`Config`]): what a test or the network driver chooses before the
//! server starts. Its own file because it is the one part of the core read by every caller.

use std::time::Duration;

use super::messaging;
use crate::seed::SeedAccount;
use crate::store::ECHO_JID;

/// The WhatsApp Web version the server announces (`curr` in the init reply, `Stream update`).
pub const DEFAULT_SERVER_VERSION: &str = "0.2.7314";

/// Server settings. `Config::default()` is what a test usually wants.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seed of the server's RNG (refs, tokens, keys, IVs). The core never reads the OS's
    /// randomness: `None` means seed 0 here, and `SimServer::start` replaces `None` with a seed
    /// drawn from the OS before it builds the core.
    pub rng_seed: Option<u64>,
    /// The simulated accounts; the first one scans QR codes unless another is named. Empty means
    /// one [`SeedAccount::default`]. Accounts built in code should pass [`SeedAccount::validate`]
    /// ([`SeedAccount::from_json`] and `SimServer::start` check it).
    pub accounts: Vec<SeedAccount>,
    /// How long after a QR is presented with [`Server::present_qr`] the phone scans it. `None`:
    /// presented QR codes are only scanned on [`Server::scan`].
    ///
    /// [`Server::present_qr`]: super::Server::present_qr
    /// [`Server::scan`]: super::Server::scan
    pub auto_scan_delay: Option<Duration>,
    /// Whether a takeover login is first answered with a `Cmd challenge` (and `Conn` as `s2`).
    pub challenge_on_restore: bool,
    /// Lifetime of a QR ref (`ttl` of the init and reref replies).
    pub ref_ttl: Duration,
    /// How many `reref` requests one connection may make before getting 429.
    pub max_rerefs: u32,
    /// A reref asked for sooner than this after the current ref was issued gets 304.
    pub reref_min_interval: Duration,
    /// Longest accepted WebSocket message; longer ones get 413. Default
    /// [`wa_core::client::MAX_SEND_FRAME_LEN`], the limit our client keeps to.
    pub max_frame_len: usize,
    /// The simulated phone's round-trip: answers to `admin login` and the `Conn` that follows a
    /// challenge are sent this long after the request, as the real server had to ask the phone.
    /// Clients depend on the gap: Baileys 3.5.3 starts listening for `s1`/`s2` only after it has
    /// processed the reply to `admin init` / `admin challenge`, so an answer in the same TCP read
    /// would be lost. `Duration::ZERO` answers at once.
    pub phone_latency: Duration,
    /// How long after `Conn` the contacts and chats are pushed (a real server's pushes arrive
    /// after the client has processed `Conn`; pushing in the same instant would race it).
    pub initial_push_delay: Duration,
    /// Version string announced in `curr` and `Stream`.
    pub server_version: String,
    /// Whether the phone answers `admin test` (`["Pong",true]`) or is unreachable.
    pub phone_reachable: bool,
    /// The built-in contact that acks (delivered, read) and echoes every message sent to it;
    /// `None` turns it off. Default [`ECHO_JID`].
    pub echo_jid: Option<String>,
    /// Delay between the echo contact's steps (delivered, composing, read, reply).
    pub echo_delay: Duration,
    /// `host:port` of the media host announced in `mediaConn` and used in media URLs. The
    /// network driver sets it to its own address.
    pub media_host: Option<String>,
    /// Scheme of media URLs and uploads: `https` (what real clients assume) or `http`. The
    /// network driver sets it from whether it serves TLS.
    pub media_scheme: String,
    /// How long a media download URL works before answering 404.
    pub media_url_ttl: Duration,
    /// How many of each chat's latest messages are pushed after login
    /// (`["action",{add:"last"},[message...]]`, after the chats); 0 pushes none.
    pub recent_messages_per_chat: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            rng_seed: None,
            accounts: vec![SeedAccount::default()],
            auto_scan_delay: None,
            challenge_on_restore: false,
            ref_ttl: Duration::from_secs(20),
            max_rerefs: 5,
            reref_min_interval: Duration::from_secs(1),
            max_frame_len: wa_core::client::MAX_SEND_FRAME_LEN,
            phone_latency: Duration::from_millis(250),
            initial_push_delay: Duration::from_millis(200),
            server_version: DEFAULT_SERVER_VERSION.to_owned(),
            phone_reachable: true,
            echo_jid: Some(ECHO_JID.to_owned()),
            echo_delay: messaging::DEFAULT_ECHO_DELAY,
            media_host: None,
            media_scheme: "https".to_owned(),
            media_url_ttl: Duration::from_secs(3600),
            recent_messages_per_chat: 20,
        }
    }
}
