//! JIDs: `user[_agent][:device]@server`.

use std::fmt;
use std::str::FromStr;

/// The server part of a JID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Server {
    /// `s.whatsapp.net`: phone-number users (multi-device, and the legacy wire form).
    Whatsapp,
    /// `c.us`: phone-number users as the legacy protocol names them.
    LegacyUser,
    /// `g.us`: groups.
    Group,
    /// `broadcast`: broadcast lists and `status@broadcast`.
    Broadcast,
    /// `lid`: hidden (linked-identity) users.
    Lid,
    /// `hosted`: hosted phone-number users.
    Hosted,
    /// `hosted.lid`: hosted hidden users.
    HostedLid,
    /// `newsletter`: channels.
    Newsletter,
    /// `call`: call links.
    Call,
    /// `interop`: users of other messengers.
    Interop,
    /// `msgr`: Messenger users.
    Messenger,
    /// `bot`: bots.
    Bot,
    /// Any other server, kept verbatim.
    Other(String),
}

impl Server {
    /// The server's wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Server::Whatsapp => "s.whatsapp.net",
            Server::LegacyUser => "c.us",
            Server::Group => "g.us",
            Server::Broadcast => "broadcast",
            Server::Lid => "lid",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Newsletter => "newsletter",
            Server::Call => "call",
            Server::Interop => "interop",
            Server::Messenger => "msgr",
            Server::Bot => "bot",
            Server::Other(s) => s,
        }
    }

    /// Parses a server string (never fails: unknown servers are [`Server::Other`]).
    pub fn parse(s: &str) -> Server {
        match s {
            "s.whatsapp.net" => Server::Whatsapp,
            "c.us" => Server::LegacyUser,
            "g.us" => Server::Group,
            "broadcast" => Server::Broadcast,
            "lid" => Server::Lid,
            "hosted" => Server::Hosted,
            "hosted.lid" => Server::HostedLid,
            "newsletter" => Server::Newsletter,
            "call" => Server::Call,
            "interop" => Server::Interop,
            "msgr" => Server::Messenger,
            "bot" => Server::Bot,
            other => Server::Other(other.to_owned()),
        }
    }

    /// The AD_JID domain type byte for this server, when it has one (0 s.whatsapp.net, 1 lid,
    /// 128 hosted, 129 hosted.lid).
    pub fn domain_type(&self) -> Option<u8> {
        match self {
            Server::Whatsapp => Some(0),
            Server::Lid => Some(1),
            Server::Hosted => Some(128),
            Server::HostedLid => Some(129),
            _ => None,
        }
    }

    /// The server an AD_JID domain type byte stands for (unknown types read as `s.whatsapp.net`,
    /// as Baileys reads them).
    pub fn from_domain_type(domain: u8) -> Server {
        match domain {
            1 => Server::Lid,
            128 => Server::Hosted,
            129 => Server::HostedLid,
            _ => Server::Whatsapp,
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WhatsApp address: `[integrator-]user[_agent][:device]@server`, or a bare server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jid {
    /// The user part (phone number, group id, `status`, ...); empty for a bare server.
    pub user: String,
    /// The agent (0 when absent).
    pub agent: u8,
    /// The device (0 = the primary device, written without `:0`).
    pub device: u16,
    /// The interop integrator (0 when absent).
    pub integrator: u16,
    /// The server.
    pub server: Server,
}

/// Why a string is not a JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JidError {
    /// The string is empty.
    #[error("empty JID")]
    Empty,
    /// Nothing after the `@`.
    #[error("JID has no server after `@`")]
    NoServer,
    /// The device after `:` is not a number in 0..=65535.
    #[error("JID device is not a number in 0..=65535")]
    BadDevice,
    /// The agent after `_` is not a number in 0..=255.
    #[error("JID agent is not a number in 0..=255")]
    BadAgent,
    /// The integrator before `-` (interop JIDs) is not a number in 0..=65535.
    #[error("JID integrator is not a number in 0..=65535")]
    BadIntegrator,
}

fn parse_decimal<T: FromStr>(s: &str) -> Option<T> {
    // FromStr for integers accepts a leading `+`; JIDs never carry one.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Jid {
    /// A user JID `user@server` (device 0, no agent).
    pub fn new(user: impl Into<String>, server: Server) -> Jid {
        Jid {
            user: user.into(),
            agent: 0,
            device: 0,
            integrator: 0,
            server,
        }
    }

    /// A phone-number user `number@s.whatsapp.net`.
    pub fn user(number: impl Into<String>) -> Jid {
        Jid::new(number, Server::Whatsapp)
    }

    /// A group `id@g.us`.
    pub fn group(id: impl Into<String>) -> Jid {
        Jid::new(id, Server::Group)
    }

    /// A bare server JID (`s.whatsapp.net`, `g.us`, ...), as used in `to` of server requests.
    pub fn server(server: Server) -> Jid {
        Jid::new("", server)
    }

    /// The status broadcast `status@broadcast`.
    pub fn status_broadcast() -> Jid {
        Jid::new("status", Server::Broadcast)
    }

    /// The same JID on another device.
    pub fn with_device(mut self, device: u16) -> Jid {
        self.device = device;
        self
    }

    /// The same user without agent and device (the "non-AD" form).
    pub fn to_non_ad(&self) -> Jid {
        Jid::new(self.user.clone(), self.server.clone())
    }

    /// Whether this is a group.
    pub fn is_group(&self) -> bool {
        self.server == Server::Group
    }

    /// Whether this is a broadcast list or the status broadcast.
    pub fn is_broadcast(&self) -> bool {
        self.server == Server::Broadcast
    }

    /// Whether this is `status@broadcast`.
    pub fn is_status_broadcast(&self) -> bool {
        self.is_broadcast() && self.user == "status"
    }

    /// Whether this is a phone-number user (`s.whatsapp.net` or legacy `c.us`).
    pub fn is_user(&self) -> bool {
        matches!(self.server, Server::Whatsapp | Server::LegacyUser)
    }

    /// The legacy spelling: `s.whatsapp.net` becomes `c.us`.
    pub fn to_legacy(&self) -> Jid {
        let mut jid = self.clone();
        if jid.server == Server::Whatsapp {
            jid.server = Server::LegacyUser;
        }
        jid
    }

    /// The multi-device spelling: `c.us` becomes `s.whatsapp.net`.
    pub fn to_multi_device(&self) -> Jid {
        let mut jid = self.clone();
        if jid.server == Server::LegacyUser {
            jid.server = Server::Whatsapp;
        }
        jid
    }
}

impl FromStr for Jid {
    type Err = JidError;

    /// Parses `[integrator-]user[_agent][:device]@server`; a string without `@` is a bare server.
    /// The interop form (`integrator-user...`) is recognised only on the `interop` server, since
    /// group ids (`creator-time@g.us`) contain `-` too.
    fn from_str(s: &str) -> Result<Jid, JidError> {
        if s.is_empty() {
            return Err(JidError::Empty);
        }
        let Some((user_part, server)) = s.split_once('@') else {
            return Ok(Jid::server(Server::parse(s)));
        };
        if server.is_empty() {
            return Err(JidError::NoServer);
        }
        let server = Server::parse(server);
        let (user_agent, device) = match user_part.split_once(':') {
            Some((ua, d)) => (ua, parse_decimal::<u16>(d).ok_or(JidError::BadDevice)?),
            None => (user_part, 0),
        };
        let (user, agent) = match user_agent.split_once('_') {
            Some((u, a)) => (u, parse_decimal::<u8>(a).ok_or(JidError::BadAgent)?),
            None => (user_agent, 0),
        };
        let (user, integrator) = match (&server, user.split_once('-')) {
            (Server::Interop, Some((i, u))) => {
                (u, parse_decimal::<u16>(i).ok_or(JidError::BadIntegrator)?)
            }
            _ => (user, 0),
        };
        Ok(Jid {
            user: user.to_owned(),
            agent,
            device,
            integrator,
            server,
        })
    }
}

impl TryFrom<&str> for Jid {
    type Error = JidError;
    fn try_from(s: &str) -> Result<Jid, JidError> {
        s.parse()
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.user.is_empty() && self.agent == 0 && self.device == 0 && self.integrator == 0 {
            return f.write_str(self.server.as_str());
        }
        if self.integrator != 0 {
            write!(f, "{}-", self.integrator)?;
        }
        f.write_str(&self.user)?;
        if self.agent != 0 {
            write!(f, "_{}", self.agent)?;
        }
        if self.device != 0 {
            write!(f, ":{}", self.device)?;
        }
        write!(f, "@{}", self.server)
    }
}

impl From<Jid> for String {
    fn from(jid: Jid) -> String {
        jid.to_string()
    }
}

impl From<&Jid> for String {
    fn from(jid: &Jid) -> String {
        jid.to_string()
    }
}

impl serde::Serialize for Jid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Jid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Jid, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_every_kind() {
        for s in [
            "15551234567@s.whatsapp.net",
            "15551234567@c.us",
            "15551234567:2@s.whatsapp.net",
            "15551234567_1:3@s.whatsapp.net",
            "123456789012345:4@lid",
            "15551234567@hosted",
            "1234@hosted.lid",
            "15551234567-1600000000@g.us",
            "120363025000000000@g.us",
            "1600000000@broadcast",
            "status@broadcast",
            "123@newsletter",
            "7-5551234:1@interop",
            "s.whatsapp.net",
            "g.us",
        ] {
            let jid: Jid = s.parse().unwrap();
            assert_eq!(jid.to_string(), s);
        }
        let jid: Jid = "15551234567_1:3@s.whatsapp.net".parse().unwrap();
        assert_eq!(
            (jid.user.as_str(), jid.agent, jid.device),
            ("15551234567", 1, 3)
        );
        let group: Jid = "15551234567-1600000000@g.us".parse().unwrap();
        assert_eq!(group.user, "15551234567-1600000000");
        assert!(group.is_group());
        let interop: Jid = "7-5551234:1@interop".parse().unwrap();
        assert_eq!((interop.integrator, interop.user.as_str()), (7, "5551234"));
    }

    #[test]
    fn legacy_and_multi_device_spellings_convert() {
        let md: Jid = "1555@s.whatsapp.net".parse().unwrap();
        assert_eq!(md.to_legacy().to_string(), "1555@c.us");
        assert_eq!(md.to_legacy().to_multi_device(), md);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!("".parse::<Jid>(), Err(JidError::Empty));
        assert_eq!("1@".parse::<Jid>(), Err(JidError::NoServer));
        assert_eq!("1:x@lid".parse::<Jid>(), Err(JidError::BadDevice));
        assert_eq!("1:+2@lid".parse::<Jid>(), Err(JidError::BadDevice));
        assert_eq!("1_300@lid".parse::<Jid>(), Err(JidError::BadAgent));
    }
}
