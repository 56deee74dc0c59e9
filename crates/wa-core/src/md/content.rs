//! Typed message content for one-to-one chats, sans-IO: [`Content`] is what a `wa_proto`
//! [`Message`] says in the kinds a chat client shows (text, text with a quote, mentions or a
//! link preview, contact cards, locations, reactions, delete-for-everyone and the
//! disappearing-messages setting), built with [`Content::to_message`] and read back with
//! [`Content::from_message`]. Reading never fails: what is not one of these kinds (or is
//! malformed, e.g. a location that is not a number) is [`Content::Other`], and the application
//! still has the raw `Message`.
//!
//! Field facts: `Message` 1 (conversation), 4 (contactMessage), 5 (locationMessage), 6
//! (extendedTextMessage), 12 (protocolMessage: type 0 REVOKE with the key, type 3
//! EPHEMERAL_SETTING with `ephemeralExpiration` 4), 13 (contactsArrayMessage), 40
//! (ephemeralMessage, a wrapper) and 46 (reactionMessage: key 1, text 2, senderTimestampMs 4);
//! a quote is `contextInfo` 17 of the extended text with `stanzaId` 1, `participant` 2 and
//! `quotedMessage` 3, mentions are its `mentionedJid` 15.

use wa_proto::proto::{
    ContactMessage, ContactsArrayMessage, ContextInfo, ExtendedTextMessage, LocationMessage,
    Message, MessageKey, ProtocolMessage, ReactionMessage, protocol_message,
};

/// Which message another one refers to (a reaction's or a revoke's target): WhatsApp's
/// `MessageKey`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRef {
    /// The chat: the other user's JID in a one-to-one chat (also for our own messages).
    pub chat: String,
    /// Whether this account sent the message.
    pub from_me: bool,
    /// The message id.
    pub id: String,
    /// The sender inside a group; `None` in one-to-one chats.
    pub participant: Option<String>,
}

impl MessageRef {
    fn to_key(&self) -> MessageKey {
        MessageKey {
            remote_jid: Some(self.chat.clone()),
            from_me: Some(self.from_me),
            id: Some(self.id.clone()),
            participant: self.participant.clone(),
        }
    }

    /// The reference a key names; `None` without a chat or id (nothing to point at).
    fn from_key(key: &MessageKey) -> Option<MessageRef> {
        Some(MessageRef {
            chat: key.remote_jid.clone().filter(|s| !s.is_empty())?,
            from_me: key.from_me.unwrap_or(false),
            id: key.id.clone().filter(|s| !s.is_empty())?,
            participant: key.participant.clone(),
        })
    }
}

/// A quoted message inside a reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Quote {
    /// The quoted message's id.
    pub id: String,
    /// Who sent the quoted message (a user JID).
    pub sender: String,
    /// The quoted content (receivers show it without looking the message up).
    pub message: Box<Message>,
}

/// A link preview, as data (the thumbnail is optional and stays as bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkPreview {
    /// The link as written in the text.
    pub matched_text: String,
    /// The URL it resolved to.
    pub canonical_url: Option<String>,
    /// The page title.
    pub title: Option<String>,
    /// The page description.
    pub description: Option<String>,
    /// A small JPEG.
    pub thumbnail: Option<Vec<u8>>,
}

/// One contact card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactCard {
    /// The name shown.
    pub display_name: String,
    /// The card in vCard format.
    pub vcard: String,
}

/// What a message says, in the kinds this module knows. See the module docs.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Content {
    /// Plain text (`conversation`).
    Text(String),
    /// Text with a quote, mentions or a link preview (`extendedTextMessage`).
    ExtendedText {
        /// The text.
        text: String,
        /// The message it replies to.
        quote: Option<Quote>,
        /// Users mentioned with @ (user JIDs).
        mentions: Vec<String>,
        /// A link preview.
        link: Option<LinkPreview>,
    },
    /// One contact card.
    Contact(ContactCard),
    /// Several contact cards under one name.
    Contacts {
        /// The name shown for the set.
        display_name: String,
        /// The cards.
        cards: Vec<ContactCard>,
    },
    /// A place.
    Location {
        /// Degrees north, -90 to 90.
        latitude: f64,
        /// Degrees east, -180 to 180.
        longitude: f64,
        /// The place's name.
        name: Option<String>,
        /// Its address.
        address: Option<String>,
    },
    /// An emoji reaction to `target`; an empty `emoji` takes our reaction back.
    Reaction {
        /// The message reacted to.
        target: MessageRef,
        /// The emoji, or empty.
        emoji: String,
        /// When it was made (unix milliseconds).
        timestamp_ms: i64,
    },
    /// Delete `target` for everyone.
    Revoke {
        /// The message deleted.
        target: MessageRef,
    },
    /// Turns disappearing messages on for the chat (`seconds` > 0, e.g. 86,400 or 604,800) or
    /// off (0).
    EphemeralSetting {
        /// The new lifetime of messages, 0 for off.
        seconds: u32,
    },
    /// Anything else (media, payments, ...), or one of the kinds above that is malformed.
    Other,
}

impl Content {
    /// A reply to `quote` saying `text`.
    pub fn reply(text: impl Into<String>, quote: Quote) -> Content {
        Content::ExtendedText {
            text: text.into(),
            quote: Some(quote),
            mentions: Vec::new(),
            link: None,
        }
    }

    /// A reaction with `emoji` to `target` (empty to remove one).
    pub fn reaction(target: MessageRef, emoji: impl Into<String>, timestamp_ms: i64) -> Content {
        Content::Reaction {
            target,
            emoji: emoji.into(),
            timestamp_ms,
        }
    }

    /// Builds the `Message` that says this. [`Content::Other`] is the empty message.
    pub fn to_message(&self) -> Message {
        match self {
            Content::Text(text) => Message {
                conversation: Some(text.clone()),
                ..Message::default()
            },
            Content::ExtendedText {
                text,
                quote,
                mentions,
                link,
            } => {
                let context = (quote.is_some() || !mentions.is_empty()).then(|| ContextInfo {
                    stanza_id: quote.as_ref().map(|q| q.id.clone()),
                    participant: quote.as_ref().map(|q| q.sender.clone()),
                    quoted_message: quote.as_ref().map(|q| q.message.clone()),
                    mentioned_jid: mentions.clone(),
                    ..ContextInfo::default()
                });
                // A preview is marked by its matched text being present (even empty, as a
                // received one may be), so that what was read is written back the same.
                let matched_text = link.as_ref().map(|l| l.matched_text.clone());
                let link = link.clone().unwrap_or_default();
                Message {
                    extended_text_message: Some(Box::new(ExtendedTextMessage {
                        text: Some(text.clone()),
                        matched_text,
                        canonical_url: link.canonical_url,
                        title: link.title,
                        description: link.description,
                        jpeg_thumbnail: link.thumbnail,
                        context_info: context.map(Box::new),
                        ..ExtendedTextMessage::default()
                    })),
                    ..Message::default()
                }
            }
            Content::Contact(card) => Message {
                contact_message: Some(Box::new(contact_message(card))),
                ..Message::default()
            },
            Content::Contacts {
                display_name,
                cards,
            } => Message {
                contacts_array_message: Some(Box::new(ContactsArrayMessage {
                    display_name: Some(display_name.clone()),
                    contacts: cards.iter().map(contact_message).collect(),
                    context_info: None,
                })),
                ..Message::default()
            },
            Content::Location {
                latitude,
                longitude,
                name,
                address,
            } => Message {
                location_message: Some(Box::new(LocationMessage {
                    degrees_latitude: Some(*latitude),
                    degrees_longitude: Some(*longitude),
                    name: name.clone(),
                    address: address.clone(),
                    ..LocationMessage::default()
                })),
                ..Message::default()
            },
            Content::Reaction {
                target,
                emoji,
                timestamp_ms,
            } => Message {
                reaction_message: Some(ReactionMessage {
                    key: Some(target.to_key()),
                    text: Some(emoji.clone()),
                    grouping_key: None,
                    sender_timestamp_ms: Some(*timestamp_ms),
                }),
                ..Message::default()
            },
            Content::Revoke { target } => protocol(ProtocolMessage {
                key: Some(target.to_key()),
                r#type: Some(protocol_message::Type::Revoke as i32),
                ..ProtocolMessage::default()
            }),
            Content::EphemeralSetting { seconds } => protocol(ProtocolMessage {
                r#type: Some(protocol_message::Type::EphemeralSetting as i32),
                ephemeral_expiration: Some(*seconds),
                ..ProtocolMessage::default()
            }),
            Content::Other => Message::default(),
        }
    }

    /// What `message` says. A disappearing message (`ephemeralMessage`) is read through its
    /// wrapper (one level: a wrapper inside a wrapper is [`Content::Other`]).
    pub fn from_message(message: &Message) -> Content {
        match message
            .ephemeral_message
            .as_ref()
            .and_then(|w| w.message.as_deref())
        {
            Some(inner) if inner.ephemeral_message.is_none() => Content::read(inner),
            Some(_) => Content::Other,
            None => Content::read(message),
        }
    }

    fn read(message: &Message) -> Content {
        if let Some(text) = &message.conversation {
            return Content::Text(text.clone());
        }
        if let Some(ext) = &message.extended_text_message {
            return read_extended(ext);
        }
        if let Some(contact) = &message.contact_message {
            return read_card(contact).map_or(Content::Other, Content::Contact);
        }
        if let Some(contacts) = &message.contacts_array_message {
            let cards: Option<Vec<ContactCard>> = contacts.contacts.iter().map(read_card).collect();
            return match cards {
                Some(cards) => Content::Contacts {
                    display_name: contacts.display_name.clone().unwrap_or_default(),
                    cards,
                },
                None => Content::Other,
            };
        }
        if let Some(location) = &message.location_message {
            return read_location(location);
        }
        if let Some(reaction) = &message.reaction_message {
            return match reaction.key.as_ref().and_then(MessageRef::from_key) {
                Some(target) => Content::Reaction {
                    target,
                    emoji: reaction.text.clone().unwrap_or_default(),
                    timestamp_ms: reaction.sender_timestamp_ms.unwrap_or(0),
                },
                None => Content::Other,
            };
        }
        if let Some(protocol) = &message.protocol_message {
            return read_protocol(protocol);
        }
        Content::Other
    }
}

fn protocol(message: ProtocolMessage) -> Message {
    Message {
        protocol_message: Some(message),
        ..Message::default()
    }
}

fn contact_message(card: &ContactCard) -> ContactMessage {
    ContactMessage {
        display_name: Some(card.display_name.clone()),
        vcard: Some(card.vcard.clone()),
        context_info: None,
    }
}

fn read_card(contact: &ContactMessage) -> Option<ContactCard> {
    Some(ContactCard {
        display_name: contact.display_name.clone().unwrap_or_default(),
        vcard: contact.vcard.clone()?,
    })
}

fn read_extended(ext: &ExtendedTextMessage) -> Content {
    let context = ext.context_info.as_deref();
    let quote = context.and_then(|c| {
        Some(Quote {
            id: c.stanza_id.clone().filter(|s| !s.is_empty())?,
            sender: c.participant.clone().unwrap_or_default(),
            message: c.quoted_message.clone().unwrap_or_default(),
        })
    });
    let link = ext.matched_text.as_ref().map(|matched| LinkPreview {
        matched_text: matched.clone(),
        canonical_url: ext.canonical_url.clone(),
        title: ext.title.clone(),
        description: ext.description.clone(),
        thumbnail: ext.jpeg_thumbnail.clone(),
    });
    Content::ExtendedText {
        text: ext.text.clone().unwrap_or_default(),
        quote,
        mentions: context.map(|c| c.mentioned_jid.clone()).unwrap_or_default(),
        link,
    }
}

fn read_location(location: &LocationMessage) -> Content {
    let (Some(latitude), Some(longitude)) = (location.degrees_latitude, location.degrees_longitude)
    else {
        return Content::Other;
    };
    // Untrusted numbers: NaN, infinities and out-of-range degrees are not a place.
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return Content::Other;
    }
    Content::Location {
        latitude,
        longitude,
        name: location.name.clone(),
        address: location.address.clone(),
    }
}

fn read_protocol(protocol: &ProtocolMessage) -> Content {
    match protocol
        .r#type
        .and_then(|t| protocol_message::Type::try_from(t).ok())
    {
        Some(protocol_message::Type::Revoke) => {
            match protocol.key.as_ref().and_then(MessageRef::from_key) {
                Some(target) => Content::Revoke { target },
                None => Content::Other,
            }
        }
        Some(protocol_message::Type::EphemeralSetting) => Content::EphemeralSetting {
            seconds: protocol.ephemeral_expiration.unwrap_or(0),
        },
        _ => Content::Other,
    }
}

#[cfg(test)]
#[path = "content_tests.rs"]
mod tests;
