//! Validated values: each type can only be built from input that passes its rules, so code
//! past the edge never re-checks (and never forgets to check) a username or a message body.

use std::fmt;

use crate::error::Error;

/// Counts what users see as characters: Unicode scalar values.
fn scalar_len(text: &str) -> usize {
    text.chars().count()
}

fn has_control_chars(text: &str, allow_newlines: bool) -> bool {
    text.chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r')))
}

/// 3 to 32 of `a-z 0-9 _ . -`, starting with a letter or digit. Case-insensitive: stored and
/// compared in lower case so `Alice` and `alice` cannot both exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let name = raw.trim().to_lowercase();
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
        let starts_well = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if !(3..=32).contains(&name.len()) || !valid_chars || !starts_well {
            return Err(Error::BadRequest(
                "username must be 3 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit"
                    .into(),
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 8 to 256 characters. Never printed, not even in debug output.
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, Error> {
        let len = scalar_len(&raw);
        if len < 8 {
            return Err(Error::BadRequest(
                "password must be at least 8 characters".into(),
            ));
        }
        if len > 256 {
            return Err(Error::BadRequest(
                "password must be at most 256 characters".into(),
            ));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, newlines: $newlines:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, Error> {
                let text = raw.trim();
                let len = scalar_len(text);
                if len == 0 {
                    return Err(Error::BadRequest(concat!($what, " must not be empty").into()));
                }
                if len > $max {
                    return Err(Error::PayloadTooLarge(
                        concat!($what, " must be at most ", $max, " characters").into(),
                    ));
                }
                if has_control_chars(text, $newlines) {
                    return Err(Error::BadRequest(
                        concat!($what, " must not contain control characters").into(),
                    ));
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }

            /// A value this server checked when it took it, read back from its own
            /// journal: not checked again, so a rule made stricter later never refuses
            /// a write that was already acknowledged.
            pub fn checked_before(text: String) -> Self {
                Self(text)
            }
        }
    };
}

bounded_text!(
    /// A person's name as others see it: 1 to 64 characters on one line.
    DisplayName, "display_name", 64, newlines: false
);
bounded_text!(
    /// A group's name: 1 to 100 characters on one line.
    RoomName, "name", 100, newlines: false
);
bounded_text!(
    /// A group's topic: 1 to 300 characters, line breaks kept (an empty one clears it).
    RoomTopic, "topic", 300, newlines: true
);
bounded_text!(
    /// A text message: 1 to 4000 characters after trimming; line breaks are kept.
    MessageBody, "body", 4000, newlines: true
);

/// The sender's idempotency key: a UUID, kept in its canonical lower-case form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        uuid::Uuid::try_parse(raw.trim())
            .map(|id| Self(id.hyphenated().to_string()))
            .map_err(|_| Error::BadRequest("client_id must be a UUID".into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh one, for a message the server writes itself.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    /// See `MessageBody::checked_before`.
    pub fn checked_before(id: String) -> Self {
        Self(id)
    }
}

/// A reaction: one emoji, that is one extended grapheme cluster of at most 32 bytes that is
/// not a plain ASCII character (so `a` or `+` is refused) and holds no space or control
/// character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emoji(String);

impl Emoji {
    pub const MAX_BYTES: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        use unicode_segmentation::UnicodeSegmentation;
        let text = raw.trim();
        if text.is_empty() {
            return Err(Error::BadRequest(
                "a reaction needs an emoji as its body".into(),
            ));
        }
        if text.len() > Self::MAX_BYTES {
            return Err(Error::BadRequest(format!(
                "a reaction is one emoji of at most {} bytes",
                Self::MAX_BYTES
            )));
        }
        let one_cluster = text.graphemes(true).nth(1).is_none();
        let plain = text.is_ascii()
            || text
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c.is_alphanumeric());
        if !one_cluster || plain {
            return Err(Error::BadRequest("a reaction is exactly one emoji".into()));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// See `MessageBody::checked_before`.
    pub fn checked_before(emoji: String) -> Self {
        Self(emoji)
    }
}

/// The usernames a text names as `@username`, lower-cased, each once, in order: an `@` that
/// starts a word (not `bob@example.com`), then the longest run of username characters.
/// Whether each is a member is for the caller to find out.
pub fn mentioned_usernames(body: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (at, _) in body.match_indices('@') {
        let starts_word = body[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if !starts_word {
            continue;
        }
        let rest = &body[at + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_.-".contains(c)))
            .unwrap_or(rest.len());
        // A sentence may end right after the name: "thanks @bob."
        let name = rest[..end]
            .trim_end_matches(['.', '-'])
            .to_ascii_lowercase();
        if (3..=32).contains(&name.len()) && !names.contains(&name) {
            names.push(name);
        }
        if names.len() == MAX_MENTIONS {
            break;
        }
    }
    names
}

/// The most members one message may mention.
pub const MAX_MENTIONS: usize = 50;

/// `prefix` and `id` as one string (a room, cache or limiter key), built without the
/// formatting machinery: keys are made several times per send, and `format!` cost ten
/// times the allocation it needs.
pub fn key(prefix: &str, id: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + id.len());
    key.push_str(prefix);
    key.push_str(id);
    key
}

/// A new server-made id: a UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fold_case_and_refuse_odd_characters() {
        assert_eq!(Username::parse(" Alice ").expect("valid").as_str(), "alice");
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("_alice").is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("ålice").is_err());
    }

    #[test]
    fn message_bodies_count_scalars_after_trimming() {
        assert_eq!(
            MessageBody::parse("  hi\nthere ").expect("valid").as_str(),
            "hi\nthere"
        );
        assert!(matches!(
            MessageBody::parse("   "),
            Err(Error::BadRequest(_))
        ));
        assert!(MessageBody::parse(&"é".repeat(4000)).is_ok());
        assert!(matches!(
            MessageBody::parse(&"é".repeat(4001)),
            Err(Error::PayloadTooLarge(_))
        ));
    }

    #[test]
    fn a_reaction_is_one_emoji() {
        assert!(Emoji::parse("👍").is_ok());
        assert!(Emoji::parse("👍🏽").is_ok(), "a skin tone joins its emoji");
        assert!(Emoji::parse("👨‍👩‍👧").is_ok(), "a ZWJ family is one cluster");
        assert!(Emoji::parse("🇫🇷").is_ok(), "a flag is one cluster");
        assert!(Emoji::parse("❤️").is_ok());
        assert!(Emoji::parse("👍👍").is_err());
        assert!(Emoji::parse("a").is_err());
        assert!(Emoji::parse("+").is_err());
        assert!(Emoji::parse("é").is_err());
        assert!(Emoji::parse("").is_err());
        assert!(Emoji::parse(&format!("👍{}", "\u{1F3FD}".repeat(10))).is_err());
    }

    #[test]
    fn mentions_are_words_that_start_with_an_at() {
        assert_eq!(
            mentioned_usernames("hi @Bob and @carol.smith, thanks @bob. mail x@dave.com @al"),
            vec!["bob", "carol.smith"]
        );
        assert!(mentioned_usernames("no one here").is_empty());
    }

    #[test]
    fn passwords_never_print() {
        let password = Password::parse("correct horse".into()).expect("valid");
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn client_ids_are_canonical_uuids() {
        let id = ClientId::parse("67E55044-10B1-426F-9247-BB680E5FE0C8").expect("valid");
        assert_eq!(id.as_str(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert!(ClientId::parse("not-a-uuid").is_err());
    }
}
