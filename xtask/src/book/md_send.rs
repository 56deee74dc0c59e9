//! Generators for the send side's durable parts (md-06): the server's error ack and what the
//! messenger does with each error code, from `md::STALE_DEVICE_ERRORS`.

use wa_binary::{Codec, Node};
use wa_core::md::STALE_DEVICE_ERRORS;
use wa_core::md::stanza::ServerAck;

use super::{Dump, Generator, fenced, table};

pub(crate) const GENERATORS: [(&str, Generator); 1] = [("md-error-ack", md_error_ack)];

fn md_error_ack() -> Result<String, String> {
    let nack = Node::new("ack")
        .attr("class", "message")
        .attr("id", "3EB0B00C0FFEE0000000AA")
        .attr("from", "15550000002@s.whatsapp.net")
        .attr("t", 1_735_689_600u64)
        .attr("error", 479);
    let bytes = Codec::multi_device()
        .encode(&nack)
        .map_err(|e| e.to_string())?;
    let parsed = ServerAck::parse(&nack).ok_or("the ack does not parse")?;
    let mut dump = Dump::new();
    dump.add(&bytes, "ack class=message id from t error=479");
    let rows: Vec<Vec<String>> = [479u16, 463, 400]
        .iter()
        .map(|code| {
            let action = if STALE_DEVICE_ERRORS.contains(code) {
                "device lists dropped and asked again; the message sent once more (same id); \
                 `ResendAfterError`, then `Sent` with the second ack"
            } else {
                "device lists dropped; `Sent` with the error (no resend)"
            };
            vec![format!("`{code}`"), action.to_owned()]
        })
        .collect();
    Ok(format!(
        "{}\nParsed: id `{}`, error `{:?}`.\n\n{}",
        fenced("text", &dump.render()),
        parsed.id,
        parsed.error,
        table(&["error", "what the messenger does"], &rows)
    ))
}
