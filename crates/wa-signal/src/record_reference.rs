//! The session record read and written through prost's generated structs: what every version
//! before the direct codecs did, kept (for tests only) as the reference that `record_codec` and
//! `record_decode` are checked against, byte for byte and record for record.

use wa_proto::prost::Message as _;
use wa_proto::signal as pb;
use zeroize::Zeroize as _;

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::record::{
    SESSION_RECORD_FORMAT, SessionRecord, bytes32, skipped_from_data, wipe_skipped,
};
use crate::session::{
    ChainKey, MAX_PREVIOUS_SESSIONS, PendingPreKey, RatchetKey, ReceiverChain, Secret32,
    SenderChain, SessionState,
};

fn corrupt() -> Error {
    Error::CorruptRecord {
        what: "session record",
    }
}

/// Reads a stored record through prost.
pub(crate) fn from_bytes(bytes: &[u8]) -> Result<SessionRecord> {
    let mut data = pb::SessionRecordData::decode(bytes).map_err(|_| corrupt())?;
    let record = record_from_data(&data);
    wipe_record(&mut data);
    record
}

pub(crate) fn record_from_data(data: &pb::SessionRecordData) -> Result<SessionRecord> {
    if data.format != Some(SESSION_RECORD_FORMAT) || data.previous.len() > MAX_PREVIOUS_SESSIONS {
        return Err(corrupt());
    }
    let previous: Vec<SessionState> = data
        .previous
        .iter()
        .map(state_from_data)
        .collect::<Result<_>>()?;
    Ok(SessionRecord {
        current: data.current.as_ref().map(state_from_data).transpose()?,
        previous,
    })
}

/// Wipes the secrets in a decoded or to-be-encoded record (prost's buffers are plain `Vec`s).
fn wipe_record(data: &mut pb::SessionRecordData) {
    for state in data.current.iter_mut().chain(data.previous.iter_mut()) {
        state.root_key.zeroize();
        if let Some(sender) = &mut state.sender_chain {
            sender.ratchet_private.zeroize();
            sender.chain_key.zeroize();
        }
        for chain in &mut state.receiver_chains {
            chain.chain_key.zeroize();
            wipe_skipped(&mut chain.skipped);
        }
    }
}

/// The record as prost's structs (the reference the direct encoder is tested against).
pub(crate) fn record_to_data(record: &SessionRecord) -> pb::SessionRecordData {
    pb::SessionRecordData {
        format: Some(SESSION_RECORD_FORMAT),
        current: record.current.as_ref().map(state_to_data),
        previous: record.previous.iter().map(state_to_data).collect(),
    }
}

fn state_to_data(state: &SessionState) -> pb::SessionStateData {
    pb::SessionStateData {
        local_identity: Some(state.local_identity.0.to_vec()),
        remote_identity: Some(state.remote_identity.0.to_vec()),
        remote_registration_id: Some(state.remote_registration_id),
        local_registration_id: Some(state.local_registration_id),
        root_key: Some(state.root_key.to_vec()),
        base_key: Some(state.base_key.0.to_vec()),
        sender_chain: Some(pb::SenderChainData {
            ratchet_public: Some(state.sender.ratchet.public.0.to_vec()),
            ratchet_private: Some(state.sender.ratchet.private.to_vec()),
            chain_key: Some(state.sender.chain.key.to_vec()),
            index: Some(state.sender.chain.index),
        }),
        receiver_chains: state
            .receivers
            .iter()
            .map(|c| pb::ReceiverChainData {
                ratchet_public: Some(c.ratchet.0.to_vec()),
                chain_key: Some(c.chain.key.to_vec()),
                index: Some(c.chain.index),
                skipped: c
                    .skipped
                    .iter()
                    .map(|(index, seed)| pb::SkippedKeyData {
                        index: Some(*index),
                        seed: Some(seed.to_vec()),
                    })
                    .collect(),
            })
            .collect(),
        previous_counter: Some(state.previous_counter),
        pending_pre_key: state.pending.as_ref().map(|p| pb::PendingPreKeyData {
            pre_key_id: p.pre_key_id,
            signed_pre_key_id: Some(p.signed_pre_key_id),
            base_key: Some(p.base_key.0.to_vec()),
        }),
    }
}

fn key32(field: &Option<Vec<u8>>) -> Result<PublicKey> {
    bytes32(field).map(PublicKey)
}

fn state_from_data(data: &pb::SessionStateData) -> Result<SessionState> {
    let sender = data.sender_chain.as_ref().ok_or_else(corrupt)?;
    // No curve operation here: the halves are compared only when a message after a ratchet
    // step fails to authenticate (see `RatchetKey`).
    let ratchet = RatchetKey {
        public: key32(&sender.ratchet_public)?,
        private: Secret32(bytes32(&sender.ratchet_private)?),
    };
    let receivers = data
        .receiver_chains
        .iter()
        .map(|c| {
            Ok(ReceiverChain {
                ratchet: key32(&c.ratchet_public)?,
                chain: ChainKey {
                    key: bytes32(&c.chain_key)?,
                    index: c.index.ok_or_else(corrupt)?,
                },
                skipped: skipped_from_data(&c.skipped)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let pending = match &data.pending_pre_key {
        Some(p) => Some(PendingPreKey {
            pre_key_id: p.pre_key_id,
            signed_pre_key_id: p.signed_pre_key_id.ok_or_else(corrupt)?,
            base_key: key32(&p.base_key)?,
        }),
        None => None,
    };
    Ok(SessionState {
        local_identity: key32(&data.local_identity)?,
        remote_identity: key32(&data.remote_identity)?,
        local_registration_id: data.local_registration_id.unwrap_or(0),
        remote_registration_id: data.remote_registration_id.unwrap_or(0),
        root_key: Secret32(bytes32(&data.root_key)?),
        base_key: key32(&data.base_key)?,
        sender: SenderChain {
            ratchet,
            chain: ChainKey {
                key: bytes32(&sender.chain_key)?,
                index: sender.index.ok_or_else(corrupt)?,
            },
        },
        receivers,
        previous_counter: data.previous_counter.unwrap_or(0),
        pending,
    })
}
