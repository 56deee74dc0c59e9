//! The sending routes: text, image, file, voice, video, location, contact card, seen and typing,
//! with the JSON bodies they take and the file fetching they need. Its own file because every
//! route in it sends something for the user.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use wa_client::legacy::chat::Presence;
use wa_client::legacy::chat::compose::{MediaKind, MediaOptions};

use super::{ApiError, ApiResult, call, unexpected, working};
use crate::serve::ids::{self, IdKind};
use crate::serve::session::{Op, OpResult, OutgoingMessage, Session};
use crate::serve::{App, chats};

// ----- sending -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileBody {
    #[serde(default)]
    mimetype: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactCard {
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    whatsapp_id: Option<String>,
    #[serde(default)]
    vcard: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SendBody {
    #[serde(default)]
    session: Option<String>,
    chat_id: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default, rename = "reply_to", alias = "replyTo")]
    reply_to: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    file: Option<FileBody>,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    contacts: Option<Vec<ContactCard>>,
}

/// Largest file accepted for sending (base64 or fetched by URL).
pub(super) const MAX_FILE: usize = 64 * 1024 * 1024;

impl SendBody {
    fn session_name(&self) -> String {
        self.session.clone().unwrap_or_else(|| "default".to_owned())
    }

    fn chat(&self) -> ApiResult<String> {
        Ok(ids::parse("chatId", &self.chat_id, IdKind::Chat)?)
    }
}

async fn file_bytes(app: &App, file: &FileBody) -> ApiResult<Vec<u8>> {
    if let Some(data) = &file.data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| ApiError::bad_request(format!("file.data is not base64: {e}")))?;
        if bytes.len() > MAX_FILE {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file too large",
            ));
        }
        return Ok(bytes);
    }
    let Some(url) = &file.url else {
        return Err(ApiError::bad_request("file needs url or data"));
    };
    let mut response = app.http.get(url).send().await.map_err(|e| {
        ApiError::bad_request(format!("cannot fetch file.url: {}", e.without_url()))
    })?;
    if !response.status().is_success() {
        return Err(ApiError::bad_request(format!(
            "fetching file.url answered {}",
            response.status()
        )));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot fetch file.url: {}", e.without_url())))?
    {
        if bytes.len() + chunk.len() > MAX_FILE {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file too large",
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Sends, records the message as ours (with its media bytes), publishes `message.any`, and
/// answers with the message.
async fn send_and_record(
    app: &App,
    session: &Session,
    chat: String,
    message: OutgoingMessage,
    media: Option<(String, Vec<u8>)>,
) -> ApiResult {
    let media = media.map(|(mimetype, bytes)| (mimetype, Arc::new(bytes)));
    let OpResult::Sent(sent) = call(
        session,
        Op::Send {
            chat: chat.clone(),
            message: Box::new(message),
        },
    )
    .await?
    else {
        return Err(unexpected());
    };
    let json = {
        let mut state = session.lock();
        let me = state.me.as_ref().map(|(id, _)| id.clone());
        let mut info = sent.info.clone();
        // The server has it (at least): the state `send` returned.
        if let Some(status) = wa_proto::proto::web_message_info::Status::from_ack(sent.status.ack())
        {
            info.status = Some(status as i32);
        }
        let json = chats::message_json(&info, me.as_deref(), &session.name);
        let id = json["id"].as_str().unwrap_or_default().to_owned();
        if let Some(media) = media {
            state.data.media.insert(id.clone(), media);
        }
        // An ack may have raced ahead of us: keep the higher one.
        if !state.data.add_info(&chat, info, json.clone(), false) {
            return Ok(Json(
                state
                    .data
                    .messages
                    .get(&chat)
                    .and_then(|list| list.iter().find(|m| m["id"] == json["id"]).cloned())
                    .unwrap_or(json),
            ));
        }
        json
    };
    app.emit(&session.name, "message.any", json.clone());
    Ok(Json(json))
}

pub(super) async fn send_text(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    let session = working(&app, &body.session_name())?;
    let chat = body.chat()?;
    let text = body
        .text
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("text is required"))?;
    let quoted = match &body.reply_to {
        Some(id) => Some(
            session
                .lock()
                .data
                .info(id)
                .cloned()
                .map(Box::new)
                .ok_or_else(|| ApiError::not_found(format!("reply_to: no message {id}")))?,
        ),
        None => None,
    };
    send_and_record(
        &app,
        &session,
        chat,
        OutgoingMessage::Text(text, quoted),
        None,
    )
    .await
}

async fn send_media(app: &App, body: SendBody, kind: MediaKind, default_mime: &str) -> ApiResult {
    let session = working(app, &body.session_name())?;
    let chat = body.chat()?;
    let file = body
        .file
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("file is required"))?;
    let data = file_bytes(app, file).await?;
    let mimetype = file
        .mimetype
        .clone()
        .unwrap_or_else(|| default_mime.to_owned());
    let options = MediaOptions {
        mimetype: Some(mimetype.clone()),
        caption: body.caption.clone().filter(|c| !c.is_empty()),
        file_name: file.filename.clone(),
        dimensions: image_dimensions(&data),
        ..MediaOptions::default()
    };
    send_and_record(
        app,
        &session,
        chat,
        OutgoingMessage::Media(kind, data.clone(), Box::new(options)),
        Some((mimetype, data)),
    )
    .await
}

/// Width and height of a PNG or JPEG, when cheap to read.
fn image_dimensions(data: &[u8]) -> Option<(u32, u32)> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        let w = data.get(16..20)?;
        let h = data.get(20..24)?;
        return Some((
            u32::from_be_bytes([w[0], w[1], w[2], w[3]]),
            u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        ));
    }
    None
}

pub(super) async fn send_image(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    send_media(&app, body, MediaKind::Image, "image/jpeg").await
}

pub(super) async fn send_file(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    send_media(&app, body, MediaKind::Document, "application/octet-stream").await
}

pub(super) async fn send_voice(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    send_media(&app, body, MediaKind::VoiceNote, "audio/ogg; codecs=opus").await
}

pub(super) async fn send_video(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    send_media(&app, body, MediaKind::Video, "video/mp4").await
}

pub(super) async fn send_location(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    let session = working(&app, &body.session_name())?;
    let chat = body.chat()?;
    let (Some(lat), Some(lon)) = (body.latitude, body.longitude) else {
        return Err(ApiError::bad_request("latitude and longitude are required"));
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(ApiError::bad_request("latitude or longitude out of range"));
    }
    send_and_record(
        &app,
        &session,
        chat,
        OutgoingMessage::Location(lat, lon, body.title.clone()),
        None,
    )
    .await
}

/// A vCard 3.0 for a contact given by name and number.
fn build_vcard(card: &ContactCard) -> String {
    let name = card.full_name.clone().unwrap_or_default();
    let phone = card.phone_number.clone().unwrap_or_default();
    let waid = card
        .whatsapp_id
        .clone()
        .unwrap_or_else(|| phone.chars().filter(char::is_ascii_digit).collect());
    let mut vcard = format!("BEGIN:VCARD\nVERSION:3.0\nFN:{name}\n");
    if let Some(org) = &card.organization {
        vcard.push_str(&format!("ORG:{org};\n"));
    }
    vcard.push_str(&format!(
        "TEL;type=CELL;type=VOICE;waid={waid}:{phone}\nEND:VCARD"
    ));
    vcard
}

pub(super) async fn send_contact_vcard(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    let session = working(&app, &body.session_name())?;
    let chat = body.chat()?;
    let cards = body.contacts.as_deref().unwrap_or_default();
    if cards.is_empty() {
        return Err(ApiError::bad_request("contacts is required"));
    }
    let mut last = None;
    for card in cards {
        let vcard = card.vcard.clone().unwrap_or_else(|| build_vcard(card));
        let name = card
            .full_name
            .clone()
            .unwrap_or_else(|| "Contact".to_owned());
        last = Some(
            send_and_record(
                &app,
                &session,
                chat.clone(),
                OutgoingMessage::Contact(name, vcard),
                None,
            )
            .await?,
        );
    }
    last.ok_or_else(unexpected)
}

pub(super) async fn send_seen(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    let session = working(&app, &body.session_name())?;
    let chat = body.chat()?;
    let last = {
        let state = session.lock();
        state
            .data
            .messages
            .get(&chat)
            .and_then(|list| list.iter().rev().find(|m| m["fromMe"] == false))
            .and_then(|m| m["id"].as_str())
            .and_then(|id| state.data.info(id))
            .map(|info| info.key.clone())
    };
    if let Some(last) = last {
        call(
            &session,
            Op::Read {
                chat: chat.clone(),
                last,
            },
        )
        .await?;
    }
    if let Some(entry) = session.lock().data.chats.get_mut(&chat) {
        entry.unread = 0;
    }
    Ok(Json(json!({})))
}

async fn typing(app: &App, body: SendBody, presence: Presence) -> ApiResult {
    let session = working(app, &body.session_name())?;
    let chat = body.chat()?;
    call(&session, Op::Presence(presence, chat)).await?;
    Ok(Json(json!({})))
}

pub(super) async fn start_typing(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    typing(&app, body, Presence::Composing).await
}

pub(super) async fn stop_typing(
    State(app): State<Arc<App>>,
    Json(body): Json<SendBody>,
) -> ApiResult {
    typing(&app, body, Presence::Paused).await
}
