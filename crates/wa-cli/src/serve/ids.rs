//! Strict parsing of the ids the API takes (chat, contact, group and participant ids, phone
//! numbers). A value that is not one is refused with 422 naming the field and the accepted
//! forms, instead of being reduced to something like `@c.us` and sent.

/// What an id has to name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// A person or a group.
    Chat,
    /// A person (a phone-number user).
    User,
    /// A group.
    Group,
}

/// Digits in a phone number or a user JID (E.164 allows 15; some accounts have longer ids).
const USER_DIGITS: std::ops::RangeInclusive<usize> = 5..=20;

/// The parts of a group id (`creator-created` or one number) are at most this long.
const GROUP_PART_DIGITS: std::ops::RangeInclusive<usize> = 1..=20;

/// The longest id echoed back in an error message.
const ECHO_MAX: usize = 64;

/// A refused id: the field and what was wrong, with examples of valid values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    /// The request field (`chatId`, `contactId`, `participants[0].id`, ...).
    pub field: String,
    /// The message for the client.
    pub message: String,
}

fn all_digits(text: &str, count: std::ops::RangeInclusive<usize>) -> bool {
    count.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_group_user(user: &str) -> bool {
    match user.split_once('-') {
        Some((creator, created)) => {
            all_digits(creator, GROUP_PART_DIGITS) && all_digits(created, GROUP_PART_DIGITS)
        }
        None => all_digits(user, GROUP_PART_DIGITS),
    }
}

/// The accepted forms, for error messages (matches the patterns in openapi.yaml).
pub fn accepted_forms(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Chat => {
            "a phone number of 5 to 20 digits (e.g. 15550109999, a leading + is allowed), a \
             user id (15550109999@c.us or 15550109999@s.whatsapp.net) or a group id \
             (15550100002-1600000000@g.us or 120363012345678901@g.us)"
        }
        IdKind::User => {
            "a phone number of 5 to 20 digits (e.g. 15550109999, a leading + is allowed) or a \
             user id (15550109999@c.us or 15550109999@s.whatsapp.net)"
        }
        IdKind::Group => "a group id (15550100002-1600000000@g.us or 120363012345678901@g.us)",
    }
}

fn echo(value: &str) -> String {
    let mut shown: String = value.chars().take(ECHO_MAX).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// Parses `value` as an id of `kind`, for the request field `field`; the JID in the API's
/// spelling (`@c.us` for users, `@g.us` for groups).
pub fn parse(field: &str, value: &str, kind: IdKind) -> Result<String, InvalidId> {
    let refuse = |why: &str| InvalidId {
        field: field.to_owned(),
        message: format!(
            "{field}: {} is {why}; expected {}",
            echo(value),
            accepted_forms(kind)
        ),
    };
    if value.is_empty() {
        return Err(InvalidId {
            field: field.to_owned(),
            message: format!("{field} is required; expected {}", accepted_forms(kind)),
        });
    }
    let Some((user, server)) = value.split_once('@') else {
        let number = value.strip_prefix('+').unwrap_or(value);
        if kind == IdKind::Group || !all_digits(number, USER_DIGITS) {
            return Err(refuse("not a valid id"));
        }
        return Ok(format!("{number}@c.us"));
    };
    match server {
        "c.us" | "s.whatsapp.net" if kind != IdKind::Group => {
            if all_digits(user, USER_DIGITS) {
                Ok(format!("{user}@c.us"))
            } else {
                Err(refuse("not a valid user id"))
            }
        }
        "g.us" if kind != IdKind::User => {
            if is_group_user(user) {
                Ok(format!("{user}@g.us"))
            } else {
                Err(refuse("not a valid group id"))
            }
        }
        _ => Err(refuse("not a valid id")),
    }
}

/// Parses a phone number as people write it (`+1 555 0100003`, `(555) 010-0003`): digits with
/// spaces, dashes, dots and parentheses between them; the user JID.
pub fn parse_phone(field: &str, value: &str) -> Result<String, InvalidId> {
    let separators = |c: char| matches!(c, ' ' | '-' | '.' | '(' | ')');
    let body = value.trim().strip_prefix('+').unwrap_or(value.trim());
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if body.chars().all(|c| c.is_ascii_digit() || separators(c))
        && USER_DIGITS.contains(&digits.len())
    {
        return Ok(format!("{digits}@c.us"));
    }
    Err(InvalidId {
        field: field.to_owned(),
        message: format!(
            "{field}: {} is not a phone number; expected 5 to 20 digits, which may be \
             separated by spaces, '-', '.' or parentheses, with an optional leading + \
             (e.g. +1 555 0109999)",
            echo(value)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_with_the_field_and_the_accepted_forms() {
        for garbage in [
            "hello world",
            "!!!",
            "x@y@z",
            "@c.us",
            "",
            "+",
            "1234",
            "123456789012345678901",
            "15550109999@",
            "15550109999@example.com",
            "abc@c.us",
            "1555 0109999@c.us",
            "15550109999:3@s.whatsapp.net",
            "1-2-3@g.us",
            "-1@g.us",
            "status@broadcast",
        ] {
            let error = parse("chatId", garbage, IdKind::Chat).unwrap_err();
            assert_eq!(error.field, "chatId");
            assert!(error.message.starts_with("chatId"), "{}", error.message);
            assert!(
                error.message.contains("15550109999@c.us"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn valid_ids_come_back_in_the_api_spelling() {
        let ok = |value, kind| parse("chatId", value, kind).unwrap();
        assert_eq!(ok("15550109999", IdKind::Chat), "15550109999@c.us");
        assert_eq!(ok("+15550109999", IdKind::User), "15550109999@c.us");
        assert_eq!(ok("15550109999@c.us", IdKind::Chat), "15550109999@c.us");
        assert_eq!(
            ok("15550109999@s.whatsapp.net", IdKind::User),
            "15550109999@c.us"
        );
        assert_eq!(
            ok("15550100002-1600000000@g.us", IdKind::Chat),
            "15550100002-1600000000@g.us"
        );
        assert_eq!(
            ok("120363012345678901@g.us", IdKind::Group),
            "120363012345678901@g.us"
        );
    }

    #[test]
    fn the_kind_is_enforced() {
        assert!(parse("id", "15550109999@c.us", IdKind::Group).is_err());
        assert!(parse("id", "15550109999", IdKind::Group).is_err());
        assert!(parse("id", "1-2@g.us", IdKind::User).is_err());
    }

    #[test]
    fn phone_numbers_may_be_written_as_people_write_them() {
        assert_eq!(
            parse_phone("phone", "+1 555 0100003").unwrap(),
            "15550100003@c.us"
        );
        assert_eq!(
            parse_phone("phone", "(555) 010-0003").unwrap(),
            "5550100003@c.us"
        );
        for garbage in ["abc1", "1@c.us", "+", "12 34", "hello 15550100003"] {
            assert!(parse_phone("phone", garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(10_000);
        let error = parse("chatId", &long, IdKind::Chat).unwrap_err();
        assert!(error.message.len() < 600, "{}", error.message.len());
    }
}
