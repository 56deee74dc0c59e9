//! The group routes (WAHA's `/api/{session}/groups...`): metadata, creation, participants,
//! subject, leaving and invite codes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wa_client::legacy::chat::GroupOp;

use super::App;
use super::api::{ApiError, ApiResult, call, unexpected, working};
use super::ids::{self, IdKind};
use super::session::{Op, OpResult, Session};

fn group_json(reply: &Value, id: &str) -> Value {
    let participants: Vec<Value> = reply
        .get("participants")
        .and_then(Value::as_array)
        .map(|list| list.iter().map(participant_json).collect())
        .unwrap_or_default();
    json!({
        "id": reply.get("id").cloned().unwrap_or(json!(id)),
        "subject": reply.get("subject"),
        "owner": reply.get("owner"),
        "creation": reply.get("creation"),
        "description": reply.get("desc"),
        "participants": participants,
    })
}

fn participant_json(p: &Value) -> Value {
    let admin = p.get("isAdmin").and_then(Value::as_bool).unwrap_or(false);
    let superadmin = p
        .get("isSuperAdmin")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    json!({
        "id": p.get("id"),
        "role": if superadmin { "superadmin" } else if admin { "admin" } else { "participant" },
        "isAdmin": admin,
        "isSuperAdmin": superadmin,
    })
}

async fn metadata(session: &Session, group: &str) -> ApiResult {
    let OpResult::Json(reply) = call(session, Op::GroupMetadata(group.to_owned())).await? else {
        return Err(unexpected());
    };
    Ok(Json(group_json(&reply, group)))
}

pub(super) async fn get_group(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let group = group_id(&group)?;
    metadata(&session, &group).await
}

pub(super) async fn list_groups(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let ids: Vec<String> = session
        .lock()
        .data
        .chats
        .keys()
        .filter(|id| id.ends_with("@g.us"))
        .cloned()
        .collect();
    let mut groups = Vec::new();
    for id in ids {
        match metadata(&session, &id).await {
            Ok(Json(group)) => groups.push(group),
            // Groups we left or cannot see are not listed.
            Err(_) => continue,
        }
    }
    Ok(Json(Value::Array(groups)))
}

#[derive(Deserialize)]
pub(super) struct ParticipantRef {
    id: String,
}

#[derive(Deserialize)]
pub(super) struct GroupBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    participants: Option<Vec<ParticipantRef>>,
}

impl GroupBody {
    fn participant_jids(&self) -> ApiResult<Vec<String>> {
        let mut jids = Vec::new();
        for (i, p) in self.participants.iter().flatten().enumerate() {
            jids.push(ids::parse(
                &format!("participants[{i}].id"),
                &p.id,
                IdKind::User,
            )?);
        }
        Ok(jids)
    }
}

/// A group id from the path.
fn group_id(group: &str) -> ApiResult<String> {
    Ok(ids::parse("id", group, IdKind::Group)?)
}

pub(super) async fn create_group(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Json(body): Json<GroupBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let session = working(&app, &name)?;
    let subject = body
        .name
        .clone()
        .or(body.subject.clone())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    let participants = body.participant_jids()?;
    let OpResult::Text(gid) =
        call(&session, Op::GroupCreate(subject.clone(), participants)).await?
    else {
        return Err(unexpected());
    };
    {
        let mut state = session.lock();
        let entry = state.data.chats.entry(gid.clone()).or_default();
        entry.id = gid.clone();
        entry.name = Some(subject);
        entry.timestamp = super::now_millis() / 1000;
    }
    let Json(group) = metadata(&session, &gid).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

pub(super) async fn group_participants(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    let Json(group) = get_group(State(app), Path((name, group))).await?;
    Ok(Json(
        group.get("participants").cloned().unwrap_or(json!([])),
    ))
}

pub(super) async fn change_participants(
    State(app): State<Arc<App>>,
    Path((name, group, action)): Path<(String, String, String)>,
    Json(body): Json<GroupBody>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let group = group_id(&group)?;
    let jids = body.participant_jids()?;
    if jids.is_empty() {
        return Err(ApiError::bad_request("participants is required"));
    }
    let op = match action.as_str() {
        "add" => GroupOp::Add(jids),
        "remove" => GroupOp::Remove(jids),
        "promote" => GroupOp::Promote(jids),
        "demote" => GroupOp::Demote(jids),
        _ => return Err(ApiError::not_found("no such route")),
    };
    let OpResult::Json(reply) = call(&session, Op::ChangeGroup(group, op)).await? else {
        return Err(unexpected());
    };
    Ok(Json(reply))
}

pub(super) async fn admin_participants(
    state: State<Arc<App>>,
    Path((name, group, action)): Path<(String, String, String)>,
    body: Json<GroupBody>,
) -> ApiResult {
    let action = match action.as_str() {
        "promote" | "demote" => action,
        _ => return Err(ApiError::not_found("no such route")),
    };
    change_participants(state, Path((name, group, action)), body).await
}

pub(super) async fn set_subject(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
    Json(body): Json<GroupBody>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let group = group_id(&group)?;
    let subject = body
        .subject
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("subject is required"))?;
    call(
        &session,
        Op::ChangeGroup(group.clone(), GroupOp::Subject(subject.clone())),
    )
    .await?;
    if let Some(chat) = session.lock().data.chats.get_mut(&group) {
        chat.name = Some(subject);
    }
    Ok(Json(json!({})))
}

pub(super) async fn leave_group(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let group = group_id(&group)?;
    call(&session, Op::ChangeGroup(group, GroupOp::Leave)).await?;
    Ok(Json(json!({})))
}

pub(super) async fn group_invite_code(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let group = group_id(&group)?;
    let OpResult::Text(code) = call(&session, Op::InviteCode(group)).await? else {
        return Err(unexpected());
    };
    Ok(Json(json!(code)))
}

pub(super) async fn group_invite_revoke(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let group = group_id(&group)?;
    let OpResult::Text(code) = call(&session, Op::InviteReset(group)).await? else {
        return Err(unexpected());
    };
    Ok(Json(json!(code)))
}
