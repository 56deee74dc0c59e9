//! The routes that read what a session knows: chats (with their history loaded on demand),
//! messages, contacts, whether a number exists, and a message's media. Its own file because
//! they read and send nothing of the user's.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, call, session_or_404, unexpected, working};
use crate::serve::ids::{self, IdKind};
use crate::serve::session::{Op, OpResult, Session, Status};
use crate::serve::{App, chats};

// ----- chats and contacts --------------------------------------------------------------------

#[derive(Deserialize)]
pub(super) struct Page {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
}

fn page<T>(items: Vec<T>, page: &Page) -> Vec<T> {
    items
        .into_iter()
        .skip(page.offset.unwrap_or(0))
        .take(page.limit.unwrap_or(usize::MAX))
        .collect()
}

fn chat_json(session: &Session, chat: &super::chats::Chat) -> Value {
    let state = session.lock();
    json!({
        "id": chat.id,
        "name": state.data.name_of(&chat.id),
        "isGroup": chat.id.ends_with("@g.us"),
        "timestamp": chat.timestamp,
        "conversationTimestamp": chat.timestamp,
        "unreadCount": chat.unread,
        "archived": chat.archived,
    })
}

fn sorted_chats(session: &Session) -> Vec<super::chats::Chat> {
    let mut chats: Vec<_> = session.lock().data.chats.values().cloned().collect();
    chats.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(a.id.cmp(&b.id)));
    chats
}

pub(super) async fn list_chats(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(query): Query<Page>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    let chats = sorted_chats(&session);
    let list = page(chats, &query)
        .iter()
        .map(|c| chat_json(&session, c))
        .collect();
    Ok(Json(Value::Array(list)))
}

pub(super) async fn chats_overview(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(query): Query<Page>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    let chats = sorted_chats(&session);
    let list = page(chats, &query)
        .iter()
        .map(|chat| {
            let state = session.lock();
            json!({
                "id": chat.id,
                "name": state.data.name_of(&chat.id),
                "picture": Value::Null,
                "lastMessage": state.data.last_message(&chat.id),
                "unreadCount": chat.unread,
                "timestamp": chat.timestamp,
                "archived": chat.archived,
                "presence": state.data.presence.get(&chat.id).map(|(p, what)| json!({"participant": p, "lastKnownPresence": what})),
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

pub(super) async fn chat_messages(
    State(app): State<Arc<App>>,
    Path((name, chat)): Path<(String, String)>,
    Query(query): Query<Page>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    let chat = ids::parse("chatId", &chat, IdKind::Chat)?;
    load_history(&session, &chat).await;
    let messages = session
        .lock()
        .data
        .messages
        .get(&chat)
        .cloned()
        .unwrap_or_default();
    // WAHA: newest first.
    let newest_first: Vec<Value> = messages.into_iter().rev().collect();
    Ok(Json(Value::Array(page(newest_first, &query))))
}

/// Asks the server once per chat for its recent history (what the login push did not bring);
/// a failure leaves what is known.
async fn load_history(session: &Session, chat: &str) {
    {
        let mut state = session.lock();
        if state.status != Status::Working || !state.data.history_loaded.insert(chat.to_owned()) {
            return;
        }
    }
    let Ok(OpResult::Messages(messages)) = call(session, Op::History(chat.to_owned(), 50)).await
    else {
        session.lock().data.history_loaded.remove(chat);
        return;
    };
    let mut state = session.lock();
    let me = state.me.as_ref().map(|(id, _)| id.clone());
    for info in messages {
        let json = chats::message_json(&info, me.as_deref(), &session.name);
        state.data.add_info(chat, info, json, false);
    }
}

#[derive(Deserialize)]
pub(super) struct SessionQuery {
    #[serde(default)]
    session: Option<String>,
    #[serde(default, rename = "contactId")]
    contact_id: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

fn query_session(app: &App, query: &SessionQuery) -> ApiResult<Arc<Session>> {
    session_or_404(app, query.session.as_deref().unwrap_or("default"))
}

pub(super) async fn all_contacts(
    State(app): State<Arc<App>>,
    Query(query): Query<SessionQuery>,
) -> ApiResult {
    let session = query_session(&app, &query)?;
    let list = session
        .lock()
        .data
        .contacts
        .values()
        .map(|c| c.to_json())
        .collect();
    Ok(Json(Value::Array(list)))
}

pub(super) async fn get_contact(
    State(app): State<Arc<App>>,
    Query(query): Query<SessionQuery>,
) -> ApiResult {
    let session = query_session(&app, &query)?;
    let id = query
        .contact_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("contactId is required"))?;
    let id = ids::parse("contactId", id, IdKind::Chat)?;
    let contact = session.lock().data.contacts.get(&id).map(|c| c.to_json());
    contact
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no contact {id}")))
}

pub(super) async fn check_exists(
    State(app): State<Arc<App>>,
    Query(query): Query<SessionQuery>,
) -> ApiResult {
    let name = query
        .session
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let session = working(&app, &name)?;
    let phone = query
        .phone
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("phone is required"))?;
    let jid = ids::parse_phone("phone", phone)?;
    let OpResult::Bool(exists) = call(&session, Op::Exists(jid.clone())).await? else {
        return Err(unexpected());
    };
    Ok(Json(json!({
        "numberExists": exists,
        "chatId": if exists { json!(jid) } else { Value::Null },
    })))
}

/// `GET /api/files/{session}/{messageId}`: a message's media, decrypted.
pub(super) async fn get_file(
    State(app): State<Arc<App>>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let session = session_or_404(&app, &name)?;
    let cached = session.lock().data.media.get(&id).cloned();
    let (mimetype, bytes) = match cached {
        Some(found) => found,
        None => {
            let info = session
                .lock()
                .data
                .info(&id)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("no message {id}")))?;
            let mimetype = message_mimetype(&info)
                .ok_or_else(|| ApiError::not_found(format!("message {id} has no media")))?;
            let OpResult::Bytes(bytes) = call(&session, Op::Download(Box::new(info))).await? else {
                return Err(unexpected());
            };
            let found = (mimetype, Arc::new(bytes));
            session.lock().data.media.insert(id, found.clone());
            found
        }
    };
    let mimetype = HeaderValue::from_str(&mimetype)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, mimetype),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
        ],
        bytes.as_ref().clone(),
    )
        .into_response())
}

fn message_mimetype(info: &wa_proto::proto::WebMessageInfo) -> Option<String> {
    let m = info.message.as_ref()?.content();
    m.image_message
        .as_ref()
        .map(|x| x.mimetype.clone())
        .or_else(|| m.video_message.as_ref().map(|x| x.mimetype.clone()))
        .or_else(|| m.audio_message.as_ref().map(|x| x.mimetype.clone()))
        .or_else(|| m.document_message.as_ref().map(|x| x.mimetype.clone()))
        .or_else(|| m.sticker_message.as_ref().map(|x| x.mimetype.clone()))
        .map(|m| m.unwrap_or_else(|| "application/octet-stream".to_owned()))
}
