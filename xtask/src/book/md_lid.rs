//! Generators for the LIDs section of the messaging chapter (md-06): a LID-addressed `message`
//! as delivered (with `sender_pn` and `addressing_mode`), what wa-core's `md::lid` reads from it,
//! the Signal addresses of the two forms, and hostile attribute values with the typed error each
//! gets. The stanza's values are those of the `md_lid` tests.

use wa_binary::{Codec, Jid, Node};
use wa_core::md::lid::{self, Addressing};

use super::{Dump, Generator, fenced, table};

pub(crate) const GENERATORS: [(&str, Generator); 3] = [
    ("md-lid-message", md_lid_message),
    ("md-lid-addresses", md_lid_addresses),
    ("md-lid-refused", md_lid_refused),
];

fn md_lid_message() -> Result<String, String> {
    let node = Node::new("message")
        .attr("from", "100000000000042:2@lid")
        .attr("sender_pn", "4915000002@s.whatsapp.net")
        .attr("addressing_mode", "lid")
        .attr("id", "3EB0C0FFEE000000000001")
        .attr("t", 1_700_000_000u64)
        .attr("type", "text")
        .children([Node::new("enc")
            .attr("v", "2")
            .attr("type", "msg")
            .bytes(vec![0x33; 8])]);
    let bytes = Codec::multi_device()
        .encode(&node)
        .map_err(|e| e.to_string())?;
    let mut dump = Dump::new();
    dump.add(
        &bytes,
        "message from a LID device, sender_pn, addressing_mode=lid",
    );
    let a = Addressing::parse(&node).map_err(|e| e.to_string())?;
    let pairs: Vec<String> = a
        .pairs()
        .iter()
        .map(|p| format!("LID `{}` ↔ phone number `{}`", p.lid, p.pn))
        .collect();
    Ok(format!(
        "{}\nRead back (`lid::Addressing::parse`): sender `{}`, in the other form `{}` (the bare \
         `sender_pn` takes the sender's device); learned: {}.",
        fenced("text", &dump.render()),
        a.sender,
        a.sender_alt.map(|j| j.to_string()).unwrap_or_default(),
        pairs.join("; ")
    ))
}

fn md_lid_addresses() -> Result<String, String> {
    let rows = [
        "4915000002:2@s.whatsapp.net",
        "100000000000042:2@lid",
        "123:4@s.whatsapp.net",
        "123:4@lid",
    ]
    .iter()
    .map(|s| {
        let jid: Jid = s.parse().map_err(|e| format!("{s}: {e}"))?;
        let address = lid::signal_address(&jid).ok_or(format!("{s}: no address"))?;
        Ok(vec![format!("`{s}`"), format!("`{address}`")])
    })
    .collect::<Result<Vec<_>, String>>()?;
    Ok(table(&["device JID", "Signal address"], &rows))
}

fn md_lid_refused() -> Result<String, String> {
    let cases: [(&str, &str, &str); 6] = [
        ("1@lid", "sender_pn", "2@lid"),
        ("1@lid", "sender_pn", "12a@s.whatsapp.net"),
        ("1@lid", "sender_pn", "2_3@s.whatsapp.net"),
        ("1:2@lid", "sender_pn", "2:5@s.whatsapp.net"),
        ("1@s.whatsapp.net", "addressing_mode", "lid"),
        ("1@s.whatsapp.net", "sender_lid", "2@evil.example"),
    ];
    let rows = cases
        .iter()
        .map(|(from, attr, value)| {
            let node = Node::new("message")
                .attr("id", "X")
                .attr("from", *from)
                .attr(*attr, *value);
            let outcome = match Addressing::parse(&node) {
                Ok(_) => "accepted".to_owned(),
                Err(e) => format!("`{e:?}`"),
            };
            vec![
                format!("`{from}`"),
                format!("`{attr}=\"{value}\"`"),
                outcome,
            ]
        })
        .collect::<Vec<_>>();
    Ok(table(&["from", "attribute", "refused with"], &rows))
}
