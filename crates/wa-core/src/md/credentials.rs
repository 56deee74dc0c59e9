//! A companion device's durable identity: the keys it registered with, the ADV secret of its
//! pairing and, once paired, the account's signed device identity. Stored by the caller as one
//! opaque, versioned blob ([`Credentials::to_bytes`] / [`Credentials::from_bytes`]).
//!
//! Secrets (private keys, the ADV secret) are zeroized on drop and never shown by `Debug`.

use core::fmt;

use wa_binary::Jid;
use wa_crypto::{CryptoRng, KeyPair, RngCore};
use wa_signal::{SignedPreKey, generate_registration_id};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The blob's first bytes, so a file of something else is refused early.
const MAGIC: &[u8; 4] = b"WAMD";
/// The current blob version. Readers refuse versions they do not know (never guess).
pub const CREDENTIALS_VERSION: u8 = 1;
/// Longest string field accepted from a blob (JIDs, platform, names): a blob is trusted storage,
/// but a truncated or foreign file must not make us allocate wildly.
const MAX_STRING: usize = 1024;

/// What the account (the phone) signed for this device at pairing, as kept after pairing.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// This device's JID (`user:device@s.whatsapp.net`).
    pub jid: Jid,
    /// This device's LID, when the server gave one.
    pub lid: Option<Jid>,
    /// The serialized `ADVDeviceIdentity` the account signed.
    pub details: Vec<u8>,
    /// The account's signing key (the phone's identity key).
    pub account_signature_key: [u8; 32],
    /// The account's XEdDSA signature over `[6,0] ‖ details ‖ our identity key`.
    pub account_signature: [u8; 64],
    /// Our XEdDSA signature over `[6,1] ‖ details ‖ identity key ‖ account key`.
    pub device_signature: [u8; 64],
    /// The device's key index in the account's list.
    pub key_index: u32,
    /// The business name, for business accounts.
    pub business_name: Option<String>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("jid", &self.jid.to_string())
            .field("lid", &self.lid.as_ref().map(ToString::to_string))
            .field("key_index", &self.key_index)
            .finish_non_exhaustive()
    }
}

/// Everything a companion must keep to log in again. See the module docs.
#[derive(Clone)]
pub struct Credentials {
    /// The Noise static key the server knows this device by.
    pub noise: KeyPair,
    /// The Signal identity key.
    pub identity: KeyPair,
    /// The Signal registration id.
    pub registration_id: u32,
    /// The current signed prekey.
    pub signed_prekey: SignedPreKey,
    /// The ADV secret: shown in the QR, or derived during pair-code linking.
    pub adv_secret: Zeroizing<[u8; 32]>,
    /// Set once paired.
    pub account: Option<Account>,
    /// The platform the phone reported (`android`, `smba`...).
    pub platform: Option<String>,
    /// The push name to log in with.
    pub push_name: Option<String>,
    /// The id the next generated one-time prekey gets (ids stay below 2^24, wrapping to 1).
    pub next_prekey_id: u32,
    /// True once the server confirmed an upload of prekeys (so a restart refills, not re-seeds).
    pub prekeys_uploaded: bool,
}

impl ZeroizeOnDrop for Credentials {}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("noise", &self.noise)
            .field("identity", &self.identity)
            .field("registration_id", &self.registration_id)
            .field("signed_prekey_id", &self.signed_prekey.id)
            .field("adv_secret", &"<redacted>")
            .field("account", &self.account)
            .field("platform", &self.platform)
            .field("next_prekey_id", &self.next_prekey_id)
            .finish_non_exhaustive()
    }
}

/// Why a credentials blob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// Not a credentials blob (wrong magic bytes).
    #[error("not a wa credentials blob")]
    NotCredentials,
    /// A version this build does not read.
    #[error("unsupported credentials version {0}")]
    UnsupportedVersion(u8),
    /// The blob ended early or a field is malformed.
    #[error("truncated or malformed credentials blob ({0})")]
    Malformed(&'static str),
}

impl Credentials {
    /// Fresh credentials for a new, unpaired device.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Credentials {
        let noise = KeyPair::generate(rng);
        let identity = KeyPair::generate(rng);
        let registration_id = generate_registration_id(rng);
        let signed_prekey = SignedPreKey::generate(&identity, 1, rng);
        let mut adv_secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(adv_secret.as_mut());
        Credentials {
            noise,
            identity,
            registration_id,
            signed_prekey,
            adv_secret,
            account: None,
            platform: None,
            push_name: None,
            next_prekey_id: 1,
            prekeys_uploaded: false,
        }
    }

    /// Whether this device has been paired with an account.
    pub fn is_paired(&self) -> bool {
        self.account.is_some()
    }

    /// Serializes to the versioned blob. The result holds private keys: keep it wrapped
    /// (it is returned in [`Zeroizing`]) and store it with owner-only permissions.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(512));
        out.extend_from_slice(MAGIC);
        out.push(CREDENTIALS_VERSION);
        out.extend_from_slice(self.noise.private_bytes().as_ref());
        out.extend_from_slice(self.identity.private_bytes().as_ref());
        out.extend_from_slice(&self.registration_id.to_be_bytes());
        out.extend_from_slice(&self.signed_prekey.id.to_be_bytes());
        out.extend_from_slice(self.signed_prekey.key_pair.private_bytes().as_ref());
        out.extend_from_slice(&self.signed_prekey.signature);
        out.extend_from_slice(self.adv_secret.as_ref());
        out.extend_from_slice(&self.next_prekey_id.to_be_bytes());
        out.push(u8::from(self.prekeys_uploaded));
        put_opt_str(&mut out, self.platform.as_deref());
        put_opt_str(&mut out, self.push_name.as_deref());
        match &self.account {
            None => out.push(0),
            Some(account) => {
                out.push(1);
                put_str(&mut out, &account.jid.to_string());
                put_opt_str(
                    &mut out,
                    account.lid.as_ref().map(ToString::to_string).as_deref(),
                );
                put_bytes(&mut out, &account.details);
                out.extend_from_slice(&account.account_signature_key);
                out.extend_from_slice(&account.account_signature);
                out.extend_from_slice(&account.device_signature);
                out.extend_from_slice(&account.key_index.to_be_bytes());
                put_opt_str(&mut out, account.business_name.as_deref());
            }
        }
        out
    }

    /// Parses a blob written by [`Credentials::to_bytes`].
    ///
    /// # Errors
    /// [`CredentialsError`] for a foreign, newer or damaged blob.
    pub fn from_bytes(bytes: &[u8]) -> Result<Credentials, CredentialsError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4, "magic")? != MAGIC {
            return Err(CredentialsError::NotCredentials);
        }
        let version = r.u8("version")?;
        if version != CREDENTIALS_VERSION {
            return Err(CredentialsError::UnsupportedVersion(version));
        }
        let noise = KeyPair::from_private_bytes(*r.array32("noise key")?);
        let identity = KeyPair::from_private_bytes(*r.array32("identity key")?);
        let registration_id = r.u32("registration id")?;
        let spk_id = r.u32("signed prekey id")?;
        let spk_pair = KeyPair::from_private_bytes(*r.array32("signed prekey")?);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(r.take(64, "signed prekey signature")?);
        let adv_secret = r.array32("adv secret")?;
        let next_prekey_id = r.u32("next prekey id")?;
        let prekeys_uploaded = r.u8("uploaded flag")? != 0;
        let platform = r.opt_str("platform")?;
        let push_name = r.opt_str("push name")?;
        let account = match r.u8("account flag")? {
            0 => None,
            1 => {
                let jid = parse_jid(&r.str("jid")?)?;
                let lid = r.opt_str("lid")?.map(|s| parse_jid(&s)).transpose()?;
                let details = r.bytes("details")?.to_vec();
                let mut account_signature_key = [0u8; 32];
                account_signature_key.copy_from_slice(r.take(32, "account key")?);
                let mut account_signature = [0u8; 64];
                account_signature.copy_from_slice(r.take(64, "account signature")?);
                let mut device_signature = [0u8; 64];
                device_signature.copy_from_slice(r.take(64, "device signature")?);
                let key_index = r.u32("key index")?;
                let business_name = r.opt_str("business name")?;
                Some(Account {
                    jid,
                    lid,
                    details,
                    account_signature_key,
                    account_signature,
                    device_signature,
                    key_index,
                    business_name,
                })
            }
            _ => return Err(CredentialsError::Malformed("account flag")),
        };
        if r.pos != bytes.len() {
            return Err(CredentialsError::Malformed("trailing bytes"));
        }
        Ok(Credentials {
            noise,
            identity,
            registration_id,
            signed_prekey: SignedPreKey {
                id: spk_id,
                key_pair: spk_pair,
                signature,
            },
            adv_secret,
            account,
            platform,
            push_name,
            next_prekey_id,
            prekeys_uploaded,
        })
    }
}

fn parse_jid(s: &str) -> Result<Jid, CredentialsError> {
    s.parse().map_err(|_| CredentialsError::Malformed("jid"))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Fields are bounded (MAX_STRING, protobuf details of a few dozen bytes), so u16 suffices.
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CredentialsError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(CredentialsError::Malformed(what))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, CredentialsError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, CredentialsError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn array32(&mut self, what: &'static str) -> Result<Zeroizing<[u8; 32]>, CredentialsError> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(self.take(32, what)?);
        Ok(out)
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], CredentialsError> {
        let b = self.take(2, what)?;
        let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
        if len > MAX_STRING {
            return Err(CredentialsError::Malformed(what));
        }
        self.take(len, what)
    }

    fn str(&mut self, what: &'static str) -> Result<String, CredentialsError> {
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| CredentialsError::Malformed(what))
    }

    fn opt_str(&mut self, what: &'static str) -> Result<Option<String>, CredentialsError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => self.str(what).map(Some),
            _ => Err(CredentialsError::Malformed(what)),
        }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        // Not secret, but ties the account to this device: wipe with the rest.
        self.details.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn paired() -> Credentials {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut creds = Credentials::generate(&mut rng);
        creds.platform = Some("android".into());
        creds.push_name = Some("wa test".into());
        creds.next_prekey_id = 813;
        creds.prekeys_uploaded = true;
        creds.account = Some(Account {
            jid: "15550001111:3@s.whatsapp.net".parse().unwrap(),
            lid: Some("99887766:3@lid".parse().unwrap()),
            details: vec![8, 1, 16, 2, 24, 3],
            account_signature_key: [4; 32],
            account_signature: [5; 64],
            device_signature: [6; 64],
            key_index: 3,
            business_name: None,
        });
        creds
    }

    #[test]
    fn blob_round_trips_every_field() {
        let creds = paired();
        let bytes = creds.to_bytes();
        let back = Credentials::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes().as_slice(), bytes.as_slice());
        assert_eq!(back.noise.public_bytes(), creds.noise.public_bytes());
        assert_eq!(back.identity.public_bytes(), creds.identity.public_bytes());
        assert_eq!(back.account, creds.account);
        assert_eq!(back.next_prekey_id, 813);
        assert!(back.prekeys_uploaded);
        assert_eq!(*back.adv_secret, *creds.adv_secret);
    }

    #[test]
    fn every_truncation_and_foreign_blob_is_refused() {
        let bytes = paired().to_bytes();
        for cut in 0..bytes.len() {
            assert!(Credentials::from_bytes(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut newer = bytes.to_vec();
        newer[4] = 2;
        assert_eq!(
            Credentials::from_bytes(&newer).unwrap_err(),
            CredentialsError::UnsupportedVersion(2)
        );
        assert_eq!(
            Credentials::from_bytes(b"XXXX\x01").unwrap_err(),
            CredentialsError::NotCredentials
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let creds = paired();
        let shown = format!("{creds:?}");
        let private = creds.identity.private_bytes();
        let hex: String = private.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex));
        assert!(!shown.contains(&format!("{:?}", private.as_ref())));
        assert!(shown.contains("<redacted>"));
    }
}
