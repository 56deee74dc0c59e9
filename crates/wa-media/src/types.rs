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
}

impl MediaType {
    /// Every media type, for iteration in tests and tools.
    pub const ALL: [MediaType; 11] = [
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
    ];

    /// The HKDF `info` the 32-byte media key is expanded with.
    pub fn hkdf_info(self) -> &'static [u8] {
        match self {
            MediaType::Image | MediaType::Sticker => b"WhatsApp Image Keys",
            MediaType::Video | MediaType::Gif => b"WhatsApp Video Keys",
            MediaType::Audio | MediaType::Ptt => b"WhatsApp Audio Keys",
            MediaType::Document => b"WhatsApp Document Keys",
            MediaType::History => b"WhatsApp History Keys",
            MediaType::AppState => b"WhatsApp App State Keys",
            MediaType::StickerPack => b"WhatsApp Sticker Pack Keys",
            MediaType::LinkThumbnail => b"WhatsApp Link Thumbnail Keys",
        }
    }

    /// Whether WhatsApp streams this type, so an upload carries a streaming sidecar.
    pub fn is_streamable(self) -> bool {
        matches!(
            self,
            MediaType::Video | MediaType::Gif | MediaType::Audio | MediaType::Ptt
        )
    }

    /// The `<type>` segment of the upload route `https://<host>/mms/<type>/<token>`.
    pub fn mms_type(self) -> &'static str {
        match self {
            MediaType::Image | MediaType::Sticker => "image",
            MediaType::Video => "video",
            MediaType::Gif => "gif",
            MediaType::Audio => "audio",
            MediaType::Ptt => "ptt",
            MediaType::Document => "document",
            MediaType::History => "md-msg-hist",
            MediaType::AppState => "md-app-state",
            MediaType::StickerPack => "sticker-pack",
            MediaType::LinkThumbnail => "thumbnail-link",
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
        }
    }
}
