//! The `/ws/chat` WebSocket: one task per connection feeding an [`MdSession`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt as _, StreamExt as _};

use super::{MdEvent, MdOutput, MdSession, MdSim};

/// Serves one connection until either side closes; `record` receives its events with the
/// connection's number.
pub(crate) async fn serve(
    sim: Arc<MdSim>,
    socket: WebSocket,
    conn: u64,
    seed: u64,
    record: impl Fn(u64, MdEvent),
) {
    let mut session = MdSession::new(&sim, seed);
    let (mut sink, mut stream) = socket.split();
    'read: while let Some(Ok(message)) = stream.next().await {
        let bytes = match message {
            Message::Binary(bytes) => bytes.to_vec(),
            // The protocol is binary only: text is a framing error like any other.
            Message::Text(_) => {
                record(
                    conn,
                    MdEvent::Closed {
                        reason: "text message on a binary protocol".into(),
                    },
                );
                break;
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        for output in session.receive(&bytes) {
            match output {
                MdOutput::Send(bytes) => {
                    if sink
                        .send(Message::Binary(Bytes::from(bytes)))
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                MdOutput::Event(event) => record(conn, event),
                MdOutput::Close => break 'read,
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    let _ = sink.close().await;
}
