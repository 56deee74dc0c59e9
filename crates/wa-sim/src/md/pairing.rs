//! QR pairing, the phone's side: reading the QR string a companion shows, and the stanzas of the
//! pairing (`pair-device` with its refs, `pair-success` with the signed identity).

use base64::Engine as _;
use rand::RngCore;
use wa_binary::Node;
use zeroize::Zeroizing;

use super::iq::SERVER;

/// How many QR refs a `pair-device` iq carries (as WhatsApp's servers send).
pub const PAIR_REFS: usize = 6;
/// The prefix Baileys and WhatsApp Web put before the QR fields.
pub const QR_URL_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// A QR string, decoded: `ref,noise pub b64,identity pub b64,adv secret b64,platform`.
#[derive(Clone, PartialEq, Eq)]
pub struct Qr {
    /// The ref the companion shows now.
    pub reference: String,
    /// The companion's Noise static key.
    pub noise_key: [u8; 32],
    /// The companion's identity key.
    pub identity: [u8; 32],
    /// The ADV secret (32 bytes).
    pub adv_secret: Zeroizing<Vec<u8>>,
    /// The platform field.
    pub platform: String,
}

impl std::fmt::Debug for Qr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qr")
            .field("reference", &self.reference)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// Why a QR string is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// Not five comma-separated fields.
    #[error("a QR is ref,noise key,identity key,adv secret,platform")]
    Fields,
    /// A field is not base64 of the right length.
    #[error("QR field {0} is not base64 of 32 bytes")]
    Key(&'static str),
}

fn key32(field: &str, name: &'static str) -> Result<Zeroizing<Vec<u8>>, QrError> {
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(field.trim())
            .map_err(|_| QrError::Key(name))?,
    );
    if bytes.len() != 32 {
        return Err(QrError::Key(name));
    }
    Ok(bytes)
}

fn array(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes);
    out
}

impl Qr {
    /// Decodes a QR string (with or without the `https://wa.me/...#` prefix).
    pub fn parse(text: &str) -> Result<Qr, QrError> {
        let text = text.trim();
        let text = text.strip_prefix(QR_URL_PREFIX).unwrap_or(text);
        let fields: Vec<&str> = text.split(',').collect();
        let [reference, noise, identity, adv, platform] = fields[..] else {
            return Err(QrError::Fields);
        };
        if reference.is_empty() {
            return Err(QrError::Fields);
        }
        Ok(Qr {
            reference: reference.to_owned(),
            noise_key: array(&key32(noise, "noise key")?),
            identity: array(&key32(identity, "identity key")?),
            adv_secret: key32(adv, "adv secret")?,
            platform: platform.to_owned(),
        })
    }
}

/// A random iq id.
pub fn new_id<R: RngCore>(rng: &mut R) -> String {
    format!("{:08x}", rng.next_u32())
}

/// The `pair-device` iq with fresh refs.
pub fn pair_device<R: RngCore>(rng: &mut R) -> (Node, String, Vec<String>) {
    let id = new_id(rng);
    let refs: Vec<String> = (0..PAIR_REFS)
        .map(|_| {
            let mut raw = [0u8; 18];
            rng.fill_bytes(&mut raw);
            format!(
                "2@{}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        })
        .collect();
    let iq = Node::new("iq")
        .attr("from", SERVER)
        .attr("type", "set")
        .attr("id", &id)
        .attr("xmlns", "md")
        .children([Node::new("pair-device").children(
            refs.iter()
                .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec())),
        )]);
    (iq, id, refs)
}

/// The `pair-success` iq: the HMAC-wrapped signed identity, the primary's platform and the
/// companion's JIDs.
pub fn pair_success(id: &str, device_identity: &[u8], jid: &str, lid: &str, now: u64) -> Node {
    Node::new("iq")
        .attr("from", SERVER)
        .attr("type", "set")
        .attr("id", id)
        .attr("xmlns", "md")
        .attr("t", now)
        .children([Node::new("pair-success").children([
            Node::new("device-identity").bytes(device_identity.to_vec()),
            Node::new("platform").attr("name", "android"),
            Node::new("device").attr("jid", jid).attr("lid", lid),
        ])])
}
