//! QR pairing: the server's `pair-device` refs become QR strings, shown one after the other (the
//! first for 60 s, each next one for 20 s), and `pair-success` is checked ([`super::adv`]) and
//! answered with `pair-device-sign`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use wa_binary::Node;

use super::credentials::Credentials;

/// What precedes the QR fields in today's clients (the phone's camera opens the link screen).
pub const QR_PREFIX: &str = "https://wa.me/settings/linked_devices#";
/// How long the first ref is shown.
pub const FIRST_QR_MS: u64 = 60_000;
/// How long every later ref is shown.
pub const NEXT_QR_MS: u64 = 20_000;
/// Most refs accepted from one `pair-device` (WhatsApp sends six).
const MAX_REFS: usize = 64;

/// The QR string for `pairing_ref`: `prefix ref,noise,identity,adv,platform` with standard
/// base64 keys.
pub fn qr_string(pairing_ref: &str, creds: &Credentials, platform_id: &str) -> String {
    format!(
        "{QR_PREFIX}{pairing_ref},{},{},{},{platform_id}",
        STANDARD.encode(creds.noise.public_bytes()),
        STANDARD.encode(creds.identity.public_bytes()),
        STANDARD.encode(creds.adv_secret.as_ref()),
    )
}

/// The refs of a `pair-device` node (non-UTF-8 and non-`ref` children skipped).
pub fn refs(pair_device: &Node) -> Vec<String> {
    pair_device
        .children_named("ref")
        .filter_map(Node::content_str)
        .take(MAX_REFS)
        .map(str::to_owned)
        .collect()
}

/// Which ref is showing and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrRotation {
    refs: Vec<String>,
    index: usize,
    expires_at: u64,
}

impl QrRotation {
    /// Starts showing the first of `refs` at `now` (ms); `None` without refs.
    pub fn start(refs: Vec<String>, now: u64) -> Option<QrRotation> {
        if refs.is_empty() {
            return None;
        }
        Some(QrRotation {
            refs,
            index: 0,
            expires_at: now.saturating_add(FIRST_QR_MS),
        })
    }

    /// The ref showing now.
    pub fn current(&self) -> &str {
        &self.refs[self.index]
    }

    /// When the current ref expires (ms).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Moves to the next ref if the current one expired by `now`; `Some(true)` when it moved,
    /// `Some(false)` when nothing is due, `None` when the refs ran out.
    pub fn advance(&mut self, now: u64) -> Option<bool> {
        if now < self.expires_at {
            return Some(false);
        }
        if self.index + 1 >= self.refs.len() {
            return None;
        }
        self.index += 1;
        self.expires_at = now.saturating_add(NEXT_QR_MS);
        Some(true)
    }
}

/// What `pair-success` says besides the device identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairSuccessInfo {
    /// The `device-identity` bytes.
    pub device_identity: Vec<u8>,
    /// `device jid`.
    pub jid: Option<String>,
    /// `device lid`.
    pub lid: Option<String>,
    /// `platform name`.
    pub platform: Option<String>,
    /// `biz name`.
    pub business_name: Option<String>,
}

/// Reads a `pair-success` node; `None` if `device-identity` or `device jid` is missing.
pub fn parse_pair_success(node: &Node) -> Option<PairSuccessInfo> {
    let device = node.child("device")?;
    Some(PairSuccessInfo {
        device_identity: node.child("device-identity")?.content_bytes()?.to_vec(),
        jid: Some(device.optional_str("jid")?.to_owned()),
        lid: device.optional_str("lid").map(str::to_owned),
        platform: node
            .child("platform")
            .and_then(|p| p.optional_str("name"))
            .map(str::to_owned),
        business_name: node
            .child("biz")
            .and_then(|p| p.optional_str("name"))
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_rotate_60_then_20_seconds_then_run_out() {
        let mut qr = QrRotation::start(vec!["a".into(), "b".into(), "c".into()], 1_000).unwrap();
        assert_eq!((qr.current(), qr.expires_at()), ("a", 61_000));
        assert_eq!(qr.advance(60_999), Some(false));
        assert_eq!(qr.advance(61_000), Some(true));
        assert_eq!((qr.current(), qr.expires_at()), ("b", 81_000));
        assert_eq!(qr.advance(81_000), Some(true));
        assert_eq!(qr.current(), "c");
        assert_eq!(qr.advance(101_000), None);
        assert!(QrRotation::start(Vec::new(), 0).is_none());
    }
}
