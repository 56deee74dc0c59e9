//! Sealing and opening legacy binary frames, with their metric and flag bytes.

use core::fmt;
use core::ops::{BitOr, BitOrAssign};

use rand_core::{CryptoRng, RngCore};

use super::SessionKeys;
use crate::primitives::{decrypt_prefixed, verify_tag};
use crate::{AES_BLOCK_LEN, Error, HMAC_LEN, aes256_cbc_encrypt, hmac_sha256};

/// Smallest server → client payload: HMAC (32) ‖ IV (16) ‖ one ciphertext block (16).
pub const SERVER_FRAME_MIN_LEN: usize = HMAC_LEN + 2 * AES_BLOCK_LEN;
/// Smallest client → server payload: metric ‖ flags ‖ the smallest server frame.
pub const CLIENT_FRAME_MIN_LEN: usize = 2 + SERVER_FRAME_MIN_LEN;

macro_rules! metrics {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $wire:literal;)*) => {
        /// What a client → server binary frame is about: its first byte.
        ///
        /// Numbers and names follow WhatsApp's own web client (mid-2020). Baileys 3.5 names a few
        /// differently and two wrongly (its `liveLocation = 3` is [`Metric::QueryReceipt`], its
        /// `queryRead = 22` is [`Metric::QueryMessageInfo`]); the bytes on the wire are the same.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        ///
        /// The list is complete: the legacy protocol was retired in 2021, so the enum is
        /// exhaustive.
        #[repr(u8)]
        pub enum Metric {
            $($(#[$doc])* $name = $value,)*
        }

        impl Metric {
            /// Every metric, in numeric order.
            pub const ALL: &'static [Metric] = &[$(Metric::$name,)*];

            /// The official client's name for this metric (e.g. `"QUERY_MESSAGES"`).
            pub const fn wire_name(self) -> &'static str {
                match self {
                    $(Metric::$name => $wire,)*
                }
            }
        }

        impl TryFrom<u8> for Metric {
            type Error = Error;

            fn try_from(byte: u8) -> Result<Metric, Error> {
                match byte {
                    $($value => Ok(Metric::$name),)*
                    other => Err(Error::UnknownMetric(other)),
                }
            }
        }
    };
}

metrics! {
    /// 1: debug log upload.
    DebugLog = 1, "DEBUG_LOG";
    /// 2: resume query.
    QueryResume = 2, "QUERY_RESUME";
    /// 3: receipt query.
    QueryReceipt = 3, "QUERY_RECEIPT";
    /// 4: media query (re-upload / download URL).
    QueryMedia = 4, "QUERY_MEDIA";
    /// 5: chat list query.
    QueryChat = 5, "QUERY_CHAT";
    /// 6: contacts query.
    QueryContacts = 6, "QUERY_CONTACTS";
    /// 7: message history query.
    QueryMessages = 7, "QUERY_MESSAGES";
    /// 8: presence update.
    Presence = 8, "PRESENCE";
    /// 9: presence subscription.
    PresenceSubscribe = 9, "PRESENCE_SUBSCRIBE";
    /// 10: group action.
    Group = 10, "GROUP";
    /// 11: read receipt.
    Read = 11, "READ";
    /// 12: chat operation (archive, pin, mute, ...).
    Chat = 12, "CHAT";
    /// 13: received/played receipt.
    Received = 13, "RECEIVED";
    /// 14: profile picture.
    Pic = 14, "PIC";
    /// 15: status text.
    Status = 15, "STATUS";
    /// 16: outgoing message relay.
    Message = 16, "MESSAGE";
    /// 17: actions query.
    QueryActions = 17, "QUERY_ACTIONS";
    /// 18: block / unblock.
    Block = 18, "BLOCK";
    /// 19: group metadata query.
    QueryGroup = 19, "QUERY_GROUP";
    /// 20: link preview query.
    QueryPreview = 20, "QUERY_PREVIEW";
    /// 21: emoji query.
    QueryEmoji = 21, "QUERY_EMOJI";
    /// 22: message info (delivery/read) query.
    QueryMessageInfo = 22, "QUERY_MESSAGE_INFO";
    /// 23: spam report.
    Spam = 23, "SPAM";
    /// 24: message search.
    QuerySearch = 24, "QUERY_SEARCH";
    /// 25: identity query.
    QueryIdentity = 25, "QUERY_IDENTITY";
    /// 26: URL query.
    QueryUrl = 26, "QUERY_URL";
    /// 27: profile (push name).
    Profile = 27, "PROFILE";
    /// 28: contact.
    Contact = 28, "CONTACT";
    /// 29: vCard query.
    QueryVcard = 29, "QUERY_VCARD";
    /// 30: status query.
    QueryStatus = 30, "QUERY_STATUS";
    /// 31: status update query.
    QueryStatusUpdate = 31, "QUERY_STATUS_UPDATE";
    /// 32: privacy status.
    PrivacyStatus = 32, "PRIVACY_STATUS";
    /// 33: live locations query.
    QueryLiveLocations = 33, "QUERY_LIVE_LOCATIONS";
    /// 34: live location.
    LiveLocation = 34, "LIVE_LOCATION";
    /// 35: verified name query.
    QueryVname = 35, "QUERY_VNAME";
    /// 36: labels query.
    QueryLabels = 36, "QUERY_LABELS";
    /// 37: call.
    Call = 37, "CALL";
    /// 38: call query.
    QueryCall = 38, "QUERY_CALL";
    /// 39: quick replies query.
    QueryQuickReplies = 39, "QUERY_QUICK_REPLIES";
    /// 40: call offer query.
    QueryCallOffer = 40, "QUERY_CALL_OFFER";
    /// 41: response query.
    QueryResponse = 41, "QUERY_RESPONSE";
    /// 42: sticker packs query.
    QueryStickerPacks = 42, "QUERY_STICKER_PACKS";
    /// 43: stickers query.
    QueryStickers = 43, "QUERY_STICKERS";
    /// 44: add or remove labels.
    AddOrRemoveLabels = 44, "ADD_OR_REMOVE_LABELS";
    /// 45: next label colour query.
    QueryNextLabelColor = 45, "QUERY_NEXT_LABEL_COLOR";
    /// 46: label palette query.
    QueryLabelPalette = 46, "QUERY_LABEL_PALETTE";
    /// 47: create or delete labels.
    CreateOrDeleteLabels = 47, "CREATE_OR_DELETE_LABELS";
    /// 48: edit labels.
    EditLabels = 48, "EDIT_LABELS";
    /// 49: recent stickers query.
    QueryRecentStickers = 49, "QUERY_RECENT_STICKERS";
}

impl From<Metric> for u8 {
    fn from(metric: Metric) -> u8 {
        metric as u8
    }
}

/// The flag byte of a client → server binary frame, as a bit set.
///
/// Bit meanings follow WhatsApp's own client. Bit 7 means the client **expects a response**;
/// Baileys, go-whatsapp and the seed call it `ignore`, which is backwards. Values in use:
/// queries, relays, read and chat operations `0x80`; groups, picture, block, status and spam
/// `0x88`; presence available `0xA0`, unavailable `0x10`; composing/paused/recording `0x04`.
///
/// Unknown bits (0 and 1) are kept as received, so [`Flags::bits`] round-trips any byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// No bits set.
    pub const EMPTY: Flags = Flags(0);
    /// Bit 7: the sender expects a response (libraries call this `ignore`, backwards).
    pub const EXPECTS_RESPONSE: Flags = Flags(0x80);
    /// Bit 6: ask for an ack (only meaningful with [`Flags::EXPECTS_RESPONSE`]).
    pub const ACK_REQUEST: Flags = Flags(0x40);
    /// Bit 5: presence is `available`.
    pub const AVAILABLE: Flags = Flags(0x20);
    /// Bit 4: presence is `unavailable`.
    pub const UNAVAILABLE: Flags = Flags(0x10);
    /// Bit 3: an expiry is set.
    pub const EXPIRES: Flags = Flags(0x08);
    /// Bit 2: skip delivery to offline devices (chat states).
    pub const SKIP_OFFLINE: Flags = Flags(0x04);

    const NAMED: [(Flags, &'static str); 6] = [
        (Flags::EXPECTS_RESPONSE, "EXPECTS_RESPONSE"),
        (Flags::ACK_REQUEST, "ACK_REQUEST"),
        (Flags::AVAILABLE, "AVAILABLE"),
        (Flags::UNAVAILABLE, "UNAVAILABLE"),
        (Flags::EXPIRES, "EXPIRES"),
        (Flags::SKIP_OFFLINE, "SKIP_OFFLINE"),
    ];

    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Wraps a raw byte, keeping every bit.
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits)
    }

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits of both.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// `self` without the bits of `other`.
    pub const fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// True if no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Flags {
    type Output = Flags;

    fn bitor(self, other: Flags) -> Flags {
        self.union(other)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, other: Flags) {
        *self = self.union(other);
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#04x}", self.0)?;
        let mut separator = ": ";
        let mut named = Flags::EMPTY;
        for (flag, name) in Flags::NAMED {
            if self.contains(flag) {
                write!(f, "{separator}{name}")?;
                separator = " | ";
                named |= flag;
            }
        }
        let unknown = self.difference(named);
        if !unknown.is_empty() {
            write!(f, "{separator}{:#04x}", unknown.0)?;
        }
        f.write_str(")")
    }
}

/// An opened client → server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    /// The metric byte as sent. `0` means "no metric"; unknown values are kept rather than
    /// rejected, so a server can accept frames from newer clients.
    pub metric_byte: u8,
    /// The flag byte.
    pub flags: Flags,
    /// The decrypted payload (a binary node).
    pub plaintext: Vec<u8>,
}

impl ClientFrame {
    /// The metric, if the byte is a known one (`None` for `0` and unknown values).
    pub fn metric(&self) -> Option<Metric> {
        Metric::try_from(self.metric_byte).ok()
    }
}

/// Seals a client → server binary payload (what follows `tag,`):
/// `metric ‖ flags ‖ HMAC-SHA256(macKey, IV ‖ CT) ‖ IV ‖ CT`, where
/// `CT = AES-256-CBC(encKey, IV, PKCS7(plaintext))` with a random IV.
///
/// `metric: None` writes byte `0`.
pub fn seal_client_frame<R: RngCore + CryptoRng>(
    keys: &SessionKeys,
    metric: Option<Metric>,
    flags: Flags,
    plaintext: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let sealed = seal_server_frame(keys, plaintext, rng);
    let mut out = Vec::with_capacity(2 + sealed.len());
    out.push(metric.map_or(0, u8::from));
    out.push(flags.bits());
    out.extend_from_slice(&sealed);
    out
}

/// Opens a client → server payload (server side): splits off the metric and flag bytes, verifies
/// the HMAC in constant time, then decrypts.
///
/// # Errors
/// [`Error::TooShort`] under [`CLIENT_FRAME_MIN_LEN`] bytes, [`Error::UnalignedCiphertext`],
/// [`Error::HmacMismatch`], [`Error::BadPadding`].
pub fn open_client_frame(keys: &SessionKeys, payload: &[u8]) -> Result<ClientFrame, Error> {
    const WHAT: &str = "client frame";
    let too_short = || Error::TooShort {
        what: WHAT,
        min: CLIENT_FRAME_MIN_LEN,
        actual: payload.len(),
    };
    if payload.len() < CLIENT_FRAME_MIN_LEN {
        return Err(too_short());
    }
    let ([metric_byte, flags], sealed) = payload.split_first_chunk::<2>().ok_or_else(too_short)?;
    let plaintext = open_sealed(keys, sealed, WHAT)?;
    Ok(ClientFrame {
        metric_byte: *metric_byte,
        flags: Flags(*flags),
        plaintext,
    })
}

/// Seals a server → client binary payload (what follows `tag,`):
/// `HMAC-SHA256(macKey, IV ‖ CT) ‖ IV ‖ CT`, as [`seal_client_frame`] without metric and flags.
pub fn seal_server_frame<R: RngCore + CryptoRng>(
    keys: &SessionKeys,
    plaintext: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let encrypted = aes256_cbc_encrypt(keys.enc_key(), plaintext, rng);
    let tag = hmac_sha256(keys.mac_key(), &[&encrypted]);
    let mut out = Vec::with_capacity(HMAC_LEN + encrypted.len());
    out.extend_from_slice(&tag);
    out.extend_from_slice(&encrypted);
    out
}

/// Opens a server → client payload (client side): verifies the HMAC in constant time, then
/// decrypts.
///
/// # Errors
/// [`Error::TooShort`] under [`SERVER_FRAME_MIN_LEN`] bytes, [`Error::UnalignedCiphertext`],
/// [`Error::HmacMismatch`], [`Error::BadPadding`].
pub fn open_server_frame(keys: &SessionKeys, payload: &[u8]) -> Result<Vec<u8>, Error> {
    open_sealed(keys, payload, "server frame")
}

/// `HMAC ‖ IV ‖ CT` → plaintext. Lengths are checked before the HMAC (they are public), and the
/// HMAC before decryption, so bad padding is never reported for unauthenticated data.
fn open_sealed(keys: &SessionKeys, sealed: &[u8], what: &'static str) -> Result<Vec<u8>, Error> {
    let too_short = || Error::TooShort {
        what,
        min: SERVER_FRAME_MIN_LEN,
        actual: sealed.len(),
    };
    if sealed.len() < SERVER_FRAME_MIN_LEN {
        return Err(too_short());
    }
    let (tag, encrypted) = sealed
        .split_first_chunk::<HMAC_LEN>()
        .ok_or_else(too_short)?;
    let ciphertext_len = encrypted.len() - AES_BLOCK_LEN;
    if ciphertext_len % AES_BLOCK_LEN != 0 {
        return Err(Error::UnalignedCiphertext {
            what,
            len: ciphertext_len,
        });
    }
    verify_tag(keys.mac_key(), &[encrypted], tag, what)?;
    decrypt_prefixed(keys.enc_key(), encrypted, what)
}
