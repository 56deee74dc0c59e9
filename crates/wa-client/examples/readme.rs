//! The library example shown in the workspace README (kept identical by an xtask test).
use wa_client::legacy::chat::{ChatEvent, MessageBatch, normalize_jid};
use wa_client::legacy::{Client, ClientError, ClientEvent, FileStore};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let mut client = Client::builder()
        .durable_store(FileStore::new("session.json"))
        .build()?;
    match client.session_data()? {
        Some(_) => client.restore()?, // takeover, answering the server's challenge
        None => client.login()?,      // a QR code arrives as an event
    }
    while let Some(event) = client.next_event().await {
        match event {
            ClientEvent::Qr(qr) => println!("scan this: {}", qr.qr_string()),
            ClientEvent::Connected(info) => println!("logged in as {}", info.wid),
            ClientEvent::Chat(ChatEvent::Messages {
                batch: MessageBatch::Relay,
                messages,
                ..
            }) => {
                for m in messages.iter().filter(|m| m.key.from_me != Some(true)) {
                    let chat = normalize_jid(m.key.remote_jid.as_deref().unwrap_or_default());
                    let text = m.message.as_ref().and_then(|b| b.text_content());
                    if let Some(text) = text {
                        client
                            .send_text(&chat, &format!("you said: {text}"))
                            .await?;
                        client.read(&chat, &m.key).await?; // blue ticks
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
