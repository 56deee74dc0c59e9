//! Media types and what each one implies (HKDF info, upload path, sidecar).

/// A kind of WhatsApp media. Each kind selects the HKDF info string its keys are expanded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// A photo (`WhatsApp Image Keys`).
    Image,
    /// A sticker; shares the image keys (`WhatsApp Image Keys`).
    Sticker,
    /// A video (`WhatsApp Video Keys`).
    Video,
    /// A GIF, sent as a looping video (`WhatsApp Video Keys`).
    Gif,
    /// An audio file (`WhatsApp Audio Keys`).
    Audio,
    /// A push-to-talk voice note (`WhatsApp Audio Keys`).
    Ptt,
    /// A document (`WhatsApp Document Keys`).
    Document,
    /// A history-sync blob (`WhatsApp History Keys`).
    History,
    /// A multi-device app-state blob (`WhatsApp App State Keys`).
    AppState,
    /// A multi-device sticker pack (`WhatsApp Sticker Pack Keys`).
    StickerPack,
    /// A multi-device link-preview thumbnail (`WhatsApp Link Thumbnail Keys`).
    LinkThumbnail,
    /// The uploaded thumbnail of an image (`WhatsApp Image Thumbnail Keys`).
    ImageThumbnail,
    /// The uploaded thumbnail of a video (`WhatsApp Video Thumbnail Keys`).
    VideoThumbnail,
    /// The uploaded thumbnail of a document (`WhatsApp Document Thumbnail Keys`).
    DocumentThumbnail,
    /// The background image of a payment message (`WhatsApp Payment Background Keys`).
    PaymentBackground,
    /// A round video message, `ptvMessage` (`WhatsApp Video Keys`).
    Ptv,
}

impl MediaType {
    /// Every media type, for iteration in tests and tools.
    pub const ALL: [MediaType; 16] = [
        MediaType::Image,
        MediaType::Sticker,
        MediaType::Video,
        MediaType::Gif,
        MediaType::Audio,
        MediaType::Ptt,
        MediaType::Document,
        MediaType::History,
        MediaType::AppState,
        MediaType::StickerPack,
        MediaType::LinkThumbnail,
        MediaType::ImageThumbnail,
        MediaType::VideoThumbnail,
        MediaType::DocumentThumbnail,
        MediaType::PaymentBackground,
        MediaType::Ptv,
    ];

    /// The HKDF `info` the 32-byte media key is expanded with.
    pub fn hkdf_info(self) -> &'static [u8] {
        match self {
            MediaType::Image | MediaType::Sticker => b"WhatsApp Image Keys",
            MediaType::Video | MediaType::Gif | MediaType::Ptv => b"WhatsApp Video Keys",
            MediaType::Audio | MediaType::Ptt => b"WhatsApp Audio Keys",
            MediaType::Document => b"WhatsApp Document Keys",
            MediaType::History => b"WhatsApp History Keys",
            MediaType::AppState => b"WhatsApp App State Keys",
            MediaType::StickerPack => b"WhatsApp Sticker Pack Keys",
            MediaType::LinkThumbnail => b"WhatsApp Link Thumbnail Keys",
            MediaType::ImageThumbnail => b"WhatsApp Image Thumbnail Keys",
            MediaType::VideoThumbnail => b"WhatsApp Video Thumbnail Keys",
            MediaType::DocumentThumbnail => b"WhatsApp Document Thumbnail Keys",
            MediaType::PaymentBackground => b"WhatsApp Payment Background Keys",
        }
    }

    /// Whether WhatsApp streams this type, so an upload carries a streaming sidecar.
    pub fn is_streamable(self) -> bool {
        matches!(
            self,
            MediaType::Video | MediaType::Gif | MediaType::Audio | MediaType::Ptt | MediaType::Ptv
        )
    }

    /// The `<type>` segment of the upload route `https://<host>/mms/<type>/<token>`.
    pub fn mms_type(self) -> &'static str {
        match self {
            MediaType::Image | MediaType::Sticker => "image",
            // A round video is uploaded as a video; only the message says `ptvMessage`.
            MediaType::Video | MediaType::Ptv => "video",
            MediaType::Gif => "gif",
            MediaType::Audio => "audio",
            MediaType::Ptt => "ptt",
            MediaType::Document => "document",
            MediaType::History => "md-msg-hist",
            MediaType::AppState => "md-app-state",
            MediaType::StickerPack => "sticker-pack",
            MediaType::LinkThumbnail => "thumbnail-link",
            MediaType::ImageThumbnail => "thumbnail-image",
            MediaType::VideoThumbnail => "thumbnail-video",
            MediaType::DocumentThumbnail => "thumbnail-document",
            MediaType::PaymentBackground => "payment-bg-image",
        }
    }

    /// The name the legacy protocol's `encr_upload` action uses for this type.
    pub fn legacy_upload_type(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Sticker => "sticker",
            MediaType::Video => "video",
            MediaType::Gif => "gif",
            MediaType::Audio => "audio",
            MediaType::Ptt => "ptt",
            MediaType::Document => "document",
            MediaType::History => "history",
            MediaType::AppState => "app-state",
            MediaType::StickerPack => "sticker-pack",
            MediaType::LinkThumbnail => "thumbnail-link",
            // MD-only kinds: the legacy protocol never had them; their MD names stand in.
            MediaType::ImageThumbnail => "thumbnail-image",
            MediaType::VideoThumbnail => "thumbnail-video",
            MediaType::DocumentThumbnail => "thumbnail-document",
            MediaType::PaymentBackground => "payment-bg-image",
            MediaType::Ptv => "video",
        }
    }
}
