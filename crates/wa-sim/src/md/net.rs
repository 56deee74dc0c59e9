//! The `/ws/chat` WebSocket: one task per connection feeding its [`MdSession`] into the shared
//! [`MdServer`], and a channel per connection for what other connections or the control API
//! address to it (a `pair-success` after a scan, a `stream:error` after an unlink).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;

use super::server::{Action, MdServer, Out};
use super::state::{self, StateError};
use super::{MdEvent, MdSession, MdSim, Wire, pump};

/// How long a connection the server ends (after a `stream:error`, say) waits for the client to
/// close first. Clients read the last frame asynchronously: closing at once can overtake it, and
/// Baileys 7 then reports "Connection Terminated" (428) instead of the 515 or 401 it was sent.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The multi-device side of a running simulator: its identity, its server state, the live
/// connections' channels and where the state is kept on disk (if anywhere).
#[derive(Debug)]
pub(crate) struct MdHub {
    pub(crate) sim: Arc<MdSim>,
    server: Mutex<MdServer>,
    conns: Mutex<HashMap<u64, mpsc::UnboundedSender<Action>>>,
    next_conn: AtomicU64,
    state_path: Option<PathBuf>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl MdHub {
    /// A hub with `sim` and an empty server, keeping nothing on disk.
    pub(crate) fn new(sim: Arc<MdSim>) -> MdHub {
        MdHub {
            sim,
            server: Mutex::new(MdServer::new(rand::random())),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            state_path: None,
        }
    }

    /// A hub whose state lives in `path`: read back if the file exists (identity, phones,
    /// devices), created there otherwise.
    pub(crate) fn with_state(path: PathBuf) -> Result<MdHub, StateError> {
        let (sim, server) = match state::load(&path)? {
            Some((sim, kept)) => (sim, MdServer::restore(kept, rand::random())),
            None => (
                MdSim::generate(rand::random(), unix_now()),
                MdServer::new(rand::random()),
            ),
        };
        state::save(&path, &sim, server.persistent())?;
        Ok(MdHub {
            sim: Arc::new(sim),
            server: Mutex::new(server),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            state_path: Some(path),
        })
    }

    /// A hub for a restarted simulator: same identity and state, no connections.
    pub(crate) fn restarted(&self) -> MdHub {
        let kept = lock(&self.server).persistent().clone();
        MdHub {
            sim: self.sim.clone(),
            server: Mutex::new(MdServer::restore(kept, rand::random())),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            state_path: self.state_path.clone(),
        }
    }

    /// Closes every live connection (a simulated restart).
    pub(crate) fn close_all(&self) {
        for tx in lock(&self.conns).values() {
            let _ = tx.send(Action::Close);
        }
    }

    /// Runs `f` on the server, then delivers what it produced (events to `record`, nodes and
    /// closes to their connections) and saves the state if it changed, all under the server's
    /// lock so deliveries keep their order.
    pub(crate) fn with<T>(
        &self,
        record: &dyn Fn(u64, MdEvent),
        f: impl FnOnce(&mut MdServer, u64) -> (T, Vec<Out>),
    ) -> T {
        let mut server = lock(&self.server);
        let (result, outs) = f(&mut server, unix_now());
        self.deliver(outs, record);
        self.save_if_dirty(&mut server);
        result
    }

    fn deliver(&self, outs: Vec<Out>, record: &dyn Fn(u64, MdEvent)) {
        let conns = lock(&self.conns);
        for out in outs {
            match out.action {
                Action::Event(event) => record(out.conn, event),
                action => {
                    if let Some(tx) = conns.get(&out.conn) {
                        let _ = tx.send(action);
                    }
                }
            }
        }
    }

    fn save_if_dirty(&self, server: &mut MdServer) {
        let Some(path) = &self.state_path else {
            return;
        };
        if !server.take_dirty() {
            return;
        }
        if let Err(error) = state::save(path, &self.sim, server.persistent()) {
            tracing::warn!(%error, "wa-sim could not save its multi-device state");
        }
    }
}

/// Serves one connection until either side closes; `record` receives its events with the
/// connection's number.
pub(crate) async fn serve(hub: Arc<MdHub>, socket: WebSocket, record: impl Fn(u64, MdEvent)) {
    let conn = hub.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    lock(&hub.conns).insert(conn, tx);
    let mut session = MdSession::new(&hub.sim, rand::random());
    let (mut sink, mut stream) = socket.split();
    let mut server_closes = false;
    'conn: loop {
        let frames: Vec<Vec<u8>> = tokio::select! {
            message = stream.next() => {
                let bytes = match message {
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    // The protocol is binary only: text is a framing error like any other.
                    Some(Ok(Message::Text(_))) => {
                        record(conn, MdEvent::Closed {
                            reason: "text message on a binary protocol".into(),
                        });
                        break 'conn;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    _ => break 'conn,
                };
                // Actions for this connection are queued on its own channel behind the ones
                // other connections sent before, so order holds.
                hub.with(&record, |server, now| {
                    let wire = pump(server, &mut session, conn, &bytes, now);
                    let mut direct = Vec::new();
                    let mut outs = Vec::new();
                    for item in wire {
                        match item {
                            Wire::Bytes(bytes) => direct.push(bytes),
                            Wire::Out(out) => outs.push(out),
                        }
                    }
                    (direct, outs)
                })
            }
            action = rx.recv() => {
                match action {
                    Some(Action::Send(node)) => match session.encode(&node) {
                        Some(bytes) => vec![bytes],
                        None => break 'conn,
                    },
                    Some(Action::Event(event)) => {
                        record(conn, event);
                        continue;
                    }
                    Some(Action::Close) => {
                        server_closes = true;
                        break 'conn;
                    }
                    None => break 'conn,
                }
            }
        };
        for bytes in frames {
            if sink
                .send(Message::Binary(Bytes::from(bytes)))
                .await
                .is_err()
            {
                break 'conn;
            }
        }
    }
    lock(&hub.conns).remove(&conn);
    hub.with(&record, |server, _| {
        server.disconnected(conn);
        ((), Vec::new())
    });
    if server_closes {
        // Whatever the client sends now is past the server's decision; it is read and dropped.
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
    }
    let _ = sink.send(Message::Close(None)).await;
    let _ = sink.close().await;
}
