//! The `ClientPayload` a new companion sends in `ClientFinish`: who it is (a web client) and the
//! Signal keys it registers with. The server answers such a payload with a `pair-device` iq.

use wa_crypto::{CryptoRng, KeyPair, RngCore, xeddsa_sign_rng};
use wa_proto::prost::Message as _;
use wa_proto::proto::client_payload::{
    ConnectReason, ConnectType, DevicePairingRegistrationData, UserAgent, WebInfo, user_agent,
    web_info,
};
use wa_proto::proto::{ClientPayload, DeviceProps, device_props};

/// The Signal key type byte for Curve25519 keys.
pub const KEY_TYPE_CURVE25519: u8 = 5;

/// The keys a new device registers with.
#[derive(Clone, Debug)]
pub struct RegistrationKeys {
    /// Signal registration id (14 bits in practice).
    pub registration_id: u32,
    /// The identity key pair.
    pub identity: KeyPair,
    /// The signed prekey's id (24 bits).
    pub signed_prekey_id: u32,
    /// The signed prekey pair.
    pub signed_prekey: KeyPair,
}

/// How the companion describes itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceDescription {
    /// The name shown in the phone's list of linked devices.
    pub os: String,
    /// The WhatsApp Web version it claims, e.g. `[2, 3000, 1]`.
    pub version: [u32; 3],
    /// MD5 of the version string, if the caller has it (servers check it loosely).
    pub build_hash: Option<[u8; 16]>,
}

impl Default for DeviceDescription {
    fn default() -> DeviceDescription {
        DeviceDescription {
            os: "wa".into(),
            version: [2, 3000, 1],
            build_hash: None,
        }
    }
}

/// The registration `ClientPayload` of a new web companion. The signed prekey is signed (XEdDSA)
/// by the identity key over its type-prefixed public key, as Signal bundles are.
pub fn registration_payload<R: RngCore + CryptoRng>(
    keys: &RegistrationKeys,
    device: &DeviceDescription,
    rng: &mut R,
) -> ClientPayload {
    let mut prefixed = [0u8; 33];
    prefixed[0] = KEY_TYPE_CURVE25519;
    prefixed[1..].copy_from_slice(&keys.signed_prekey.public_bytes());
    let signature = xeddsa_sign_rng(&keys.identity, &prefixed, rng);
    registration_with_signature(keys, &signature, device)
}

/// The registration `ClientPayload` of unpaired `credentials`, with their stored signed-prekey
/// signature (the one later uploaded with the prekeys, so both agree).
pub fn registration_payload_for(
    credentials: &super::credentials::Credentials,
    device: &DeviceDescription,
) -> ClientPayload {
    let keys = RegistrationKeys {
        registration_id: credentials.registration_id,
        identity: credentials.identity.clone(),
        signed_prekey_id: credentials.signed_prekey.id,
        signed_prekey: credentials.signed_prekey.key_pair.clone(),
    };
    registration_with_signature(&keys, &credentials.signed_prekey.signature, device)
}

fn registration_with_signature(
    keys: &RegistrationKeys,
    signature: &[u8; 64],
    device: &DeviceDescription,
) -> ClientPayload {
    let props = DeviceProps {
        os: Some(device.os.clone()),
        version: Some(device_props::AppVersion {
            primary: Some(10),
            secondary: Some(15),
            tertiary: Some(7),
            ..Default::default()
        }),
        platform_type: Some(device_props::PlatformType::Chrome as i32),
        require_full_sync: Some(false),
        history_sync_config: None,
    };
    ClientPayload {
        device_pairing_data: Some(DevicePairingRegistrationData {
            e_regid: Some(keys.registration_id.to_be_bytes().to_vec()),
            e_keytype: Some(vec![KEY_TYPE_CURVE25519]),
            e_ident: Some(keys.identity.public_bytes().to_vec()),
            e_skey_id: Some(keys.signed_prekey_id.to_be_bytes()[1..].to_vec()),
            e_skey_val: Some(keys.signed_prekey.public_bytes().to_vec()),
            e_skey_sig: Some(signature.to_vec()),
            build_hash: device.build_hash.map(|h| h.to_vec()),
            device_props: Some(props.encode_to_vec()),
        }),
        ..base_payload(device)
    }
}

/// The fields every `ClientPayload` of this client shares: who it is (a web client) and how it
/// connects.
fn base_payload(device: &DeviceDescription) -> ClientPayload {
    let [major, minor, patch] = device.version;
    ClientPayload {
        passive: Some(false),
        pull: Some(false),
        user_agent: Some(UserAgent {
            platform: Some(user_agent::Platform::Web as i32),
            app_version: Some(user_agent::AppVersion {
                primary: Some(major),
                secondary: Some(minor),
                tertiary: Some(patch),
                ..Default::default()
            }),
            mcc: Some("000".into()),
            mnc: Some("000".into()),
            os_version: Some("0.1".into()),
            manufacturer: Some(String::new()),
            device: Some("Desktop".into()),
            os_build_number: Some("0.1".into()),
            release_channel: Some(user_agent::ReleaseChannel::Release as i32),
            locale_language_iso6391: Some("en".into()),
            locale_country_iso31661_alpha2: Some("US".into()),
            ..Default::default()
        }),
        web_info: Some(WebInfo {
            web_sub_platform: Some(web_info::WebSubPlatform::WebBrowser as i32),
            ..Default::default()
        }),
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(ConnectReason::UserActivated as i32),
        ..ClientPayload::default()
    }
}

/// The login `ClientPayload` of a paired companion: its phone number as `username`, its device
/// number, `passive` (the client sends `passive active` once it is ready for traffic) and `pull`.
/// `None` when `credentials` are not paired.
pub fn login_payload(
    credentials: &super::credentials::Credentials,
    device: &DeviceDescription,
) -> Option<ClientPayload> {
    let account = credentials.account.as_ref()?;
    let username = account.jid.user.parse::<u64>().ok()?;
    Some(ClientPayload {
        username: Some(username),
        device: Some(u32::from(account.jid.device)),
        passive: Some(true),
        pull: Some(true),
        lid_db_migrated: Some(false),
        push_name: credentials.push_name.clone(),
        ..base_payload(device)
    })
}
