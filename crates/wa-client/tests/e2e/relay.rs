//! A relay in front of the simulator that goes silent or hangs up: keepalives lost and a
//! login cut short, both recovered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use wa_client::legacy::ClientEvent;
use wa_core::client::{ClientConfig, CloseReason};
use wa_core::session::{MemoryStore, SessionStore};
use wa_sim::{Config, SimEvent};

use crate::{client_for, connected, expect, next_qr, qr_login, sim_event, start_sim};

/// A TCP relay in front of the simulator that can go silent (drop bytes, keep sockets open),
/// cut every connection, or hang up when the client sends a WebSocket message containing a
/// given text (before the server sees it), to play a dead link or a server that hangs up.
struct Relay {
    addr: std::net::SocketAddr,
    silent: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
    hang_up_on: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = Arc::new(AtomicBool::new(false));
        let hang_up_on = Arc::new(std::sync::Mutex::new(None));
        let (cut, _) = broadcast::channel(4);
        let relay = Relay {
            addr,
            silent: Arc::clone(&silent),
            cut: cut.clone(),
            hang_up_on: Arc::clone(&hang_up_on),
        };
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                let silent = Arc::clone(&silent);
                let hang_up_on = Arc::clone(&hang_up_on);
                let mut cut = cut.subscribe();
                tokio::spawn(async move {
                    let (mut ri, mut wi) = inbound.into_split();
                    let (mut ro, mut wo) = outbound.into_split();
                    let up = pump_client_frames(&mut ri, &mut wo, &silent, &hang_up_on);
                    let down = pump(&mut ro, &mut wi, &silent);
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        relay
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    silent: &AtomicBool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if silent.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Length of the first complete client WebSocket frame in `buf` and its unmasked payload.
fn client_frame(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    let len7 = usize::from(*buf.get(1)? & 0x7f);
    let (len, mut at) = match len7 {
        126 => (
            usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        n => (n, 2),
    };
    let mask: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    at += 4;
    let payload = buf.get(at..at + len)?;
    let unmasked = payload
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Some((at + len, unmasked))
}

/// Relays client → server, frame by frame after the HTTP upgrade, hanging up instead of
/// forwarding a frame that contains the `hang_up_on` needle.
async fn pump_client_frames(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    silent: &AtomicBool,
    hang_up_on: &std::sync::Mutex<Option<Vec<u8>>>,
) {
    let mut pending = Vec::new();
    let mut upgraded = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if silent.load(Ordering::SeqCst) {
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        if !upgraded {
            let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head: Vec<u8> = pending.drain(..end + 4).collect();
            if to.write_all(&head).await.is_err() {
                return;
            }
            upgraded = true;
        }
        while let Some((frame_len, payload)) = client_frame(&pending) {
            let needle = hang_up_on.lock().unwrap().clone();
            if let Some(needle) = needle {
                if payload
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
                {
                    return;
                }
            }
            let frame: Vec<u8> = pending.drain(..frame_len).collect();
            if to.write_all(&frame).await.is_err() {
                return;
            }
        }
    }
}

#[tokio::test]
async fn lost_keepalive_reconnects_and_restores() {
    let sim = start_sim(Config::default()).await;
    let relay = Relay::start(sim.local_addr()).await;
    let config = ClientConfig {
        keepalive_interval: Duration::from_millis(100),
        link_timeout: Duration::from_millis(400),
        ..ClientConfig::default()
    };
    let store = Arc::new(MemoryStore::new());
    let mut client = client_for(&relay.url(), &sim.http_url(), Arc::clone(&store), config);
    let paired = qr_login(&sim, &mut client).await;

    relay.silent.store(true, Ordering::SeqCst);
    let reason = expect(&mut client, |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        ClientEvent::Stopped(reason) => panic!("{reason:?}"),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::LinkLost);
    relay.silent.store(false, Ordering::SeqCst);

    // Back by takeover with the stored tokens, no QR.
    connected(&mut client).await;
    let restored = store.load().unwrap().unwrap();
    assert_eq!(restored.client_id, paired.client_id);
    sim_event(&sim, |e| {
        matches!(e, SimEvent::LoggedIn { restored: true, .. })
    })
    .await;
    client.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn server_hanging_up_mid_login_is_retried() {
    let sim = start_sim(Config::default()).await;
    let relay = Relay::start(sim.local_addr()).await;
    let store = Arc::new(MemoryStore::new());
    let mut client = client_for(
        &relay.url(),
        &sim.http_url(),
        Arc::clone(&store),
        ClientConfig::default(),
    );

    // QR login: the connection drops while the QR is shown; a new login starts.
    client.login().unwrap();
    let first = next_qr(&mut client).await;
    relay.cut.send(()).unwrap();
    let reason = expect(&mut client, |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::TransportClosed);
    let second = next_qr(&mut client).await;
    assert_ne!(second.reference, first.reference);
    sim.scan(&second.qr_string()).unwrap();
    connected(&mut client).await;
    client.shutdown().await;

    // Restore: the server hangs up when the challenge answer arrives (before handling it, so
    // the stored tokens stay valid); the retry is challenged again and gets through.
    sim.with_server(|s, _| s.set_challenge_on_restore(true));
    *relay.hang_up_on.lock().unwrap() = Some(b"\"challenge\",\"".to_vec());
    let mut client = client_for(
        &relay.url(),
        &sim.http_url(),
        Arc::clone(&store),
        ClientConfig::default(),
    );
    client.restore().unwrap();
    expect(&mut client, |e| {
        matches!(e, ClientEvent::ChallengeAnswered).then_some(())
    })
    .await;
    let reason = expect(&mut client, |e| match e {
        ClientEvent::Disconnected { reason, .. } => Some(reason.clone()),
        ClientEvent::Connected(_) => panic!("connected through a hung-up link"),
        _ => None,
    })
    .await;
    assert_eq!(reason, CloseReason::TransportClosed);
    *relay.hang_up_on.lock().unwrap() = None;
    let mut answered_again = false;
    let info = expect(&mut client, |e| match e {
        ClientEvent::ChallengeAnswered => {
            answered_again = true;
            None
        }
        ClientEvent::Connected(info) => Some(info.clone()),
        ClientEvent::Stopped(reason) => panic!("{reason:?}"),
        _ => None,
    })
    .await;
    assert!(answered_again);
    assert_eq!(info.wid, "15550100001@c.us");
    client.shutdown().await;
    sim.shutdown().await;
}
