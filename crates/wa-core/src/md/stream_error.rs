//! `stream:error` and `failure` stanzas: what the server means by them and what the client
//! must do next (reconnect, log in again, or stop and tell the user).

use wa_binary::Node;

/// What a `stream:error` or `failure` means.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// 515: restart the stream (after pairing: reconnect and log in with the new credentials).
    RestartRequired,
    /// 401 with `<conflict type="device_removed"/>`: unlinked from the phone.
    DeviceRemoved,
    /// 401 (or `failure reason=401/403/406`): logged out; credentials are void.
    LoggedOut {
        /// The code or reason.
        code: u16,
    },
    /// 440 / `<conflict type="replaced"/>`: another connection took over this session.
    Replaced,
    /// 503: service unavailable, try again later.
    ServiceUnavailable,
    /// `failure reason=402`: temporarily banned.
    TempBanned,
    /// `failure reason=405`: this client version is too old.
    ClientOutdated,
    /// Anything else, with its code.
    Other {
        /// The code or reason (0 if absent).
        code: u16,
    },
}

/// What the client does after a [`StreamError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Reconnect now and log in with the credentials it has (515).
    ReconnectNow,
    /// Reconnect after a backoff.
    ReconnectLater,
    /// Stop: the credentials are void; tell the user and pair again.
    StopLoggedOut,
    /// Stop: another session replaced us; reconnecting would just fight it.
    StopReplaced,
    /// Stop and tell the user (banned, outdated).
    Stop,
}

impl StreamError {
    /// Reads a `stream:error` or `failure` node; `None` for any other tag.
    pub fn parse(node: &Node) -> Option<StreamError> {
        match &*node.tag {
            "stream:error" => {
                let code = node
                    .optional_str("code")
                    .and_then(|c| c.parse::<u16>().ok())
                    .unwrap_or(0);
                let conflict = node.child("conflict").and_then(|c| c.optional_str("type"));
                Some(match (code, conflict) {
                    (515, _) => StreamError::RestartRequired,
                    (_, Some("device_removed")) => StreamError::DeviceRemoved,
                    (_, Some("replaced")) | (440, _) => StreamError::Replaced,
                    (401, _) => StreamError::LoggedOut { code },
                    (503, _) => StreamError::ServiceUnavailable,
                    (code, _) => StreamError::Other { code },
                })
            }
            "failure" => {
                let reason = node
                    .optional_str("reason")
                    .and_then(|c| c.parse::<u16>().ok())
                    .unwrap_or(0);
                Some(match reason {
                    401 | 403 | 406 => StreamError::LoggedOut { code: reason },
                    402 => StreamError::TempBanned,
                    405 => StreamError::ClientOutdated,
                    500 | 503 => StreamError::ServiceUnavailable,
                    code => StreamError::Other { code },
                })
            }
            _ => None,
        }
    }

    /// The step that follows.
    pub fn next_step(&self) -> NextStep {
        match self {
            StreamError::RestartRequired => NextStep::ReconnectNow,
            StreamError::DeviceRemoved | StreamError::LoggedOut { .. } => NextStep::StopLoggedOut,
            StreamError::Replaced => NextStep::StopReplaced,
            StreamError::ServiceUnavailable | StreamError::Other { .. } => NextStep::ReconnectLater,
            StreamError::TempBanned | StreamError::ClientOutdated => NextStep::Stop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_error(code: &str, conflict: Option<&str>) -> Node {
        let node = Node::new("stream:error").attr("code", code);
        match conflict {
            Some(t) => node.children([Node::new("conflict").attr("type", t)]),
            None => node,
        }
    }

    #[test]
    fn every_stream_error_maps_to_its_step() {
        let cases = [
            (
                stream_error("515", None),
                StreamError::RestartRequired,
                NextStep::ReconnectNow,
            ),
            (
                stream_error("401", Some("device_removed")),
                StreamError::DeviceRemoved,
                NextStep::StopLoggedOut,
            ),
            (
                stream_error("401", None),
                StreamError::LoggedOut { code: 401 },
                NextStep::StopLoggedOut,
            ),
            (
                stream_error("440", None),
                StreamError::Replaced,
                NextStep::StopReplaced,
            ),
            (
                stream_error("409", Some("replaced")),
                StreamError::Replaced,
                NextStep::StopReplaced,
            ),
            (
                stream_error("503", None),
                StreamError::ServiceUnavailable,
                NextStep::ReconnectLater,
            ),
            (
                stream_error("500", None),
                StreamError::Other { code: 500 },
                NextStep::ReconnectLater,
            ),
            (
                Node::new("failure").attr("reason", "401"),
                StreamError::LoggedOut { code: 401 },
                NextStep::StopLoggedOut,
            ),
            (
                Node::new("failure").attr("reason", "402"),
                StreamError::TempBanned,
                NextStep::Stop,
            ),
            (
                Node::new("failure").attr("reason", "405"),
                StreamError::ClientOutdated,
                NextStep::Stop,
            ),
        ];
        for (node, error, step) in cases {
            let parsed = StreamError::parse(&node).unwrap();
            assert_eq!(parsed, error, "{node:?}");
            assert_eq!(parsed.next_step(), step, "{node:?}");
        }
        assert_eq!(StreamError::parse(&Node::new("iq")), None);
    }
}
