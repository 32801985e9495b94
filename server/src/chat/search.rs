//! Full-text search over the messages of the caller's rooms (API.md v1.1, `GET /search`).
//! Membership is read when the search runs, so a room one has left is never searched; the
//! stores index only live text bodies and captions, so a deleted message or an edited-away
//! word is never found.

use protocol::{MessagePage, SearchQuery, UserId};

use super::Chat;
use crate::error::{Error, Result};
use crate::ports::store::{SearchFrom, SearchTerms, search_words};

/// Hits per page when the client names no `limit`, and the most it may ask for.
const DEFAULT_HITS: u32 = 20;
const MAX_HITS: u32 = 50;
/// The longest query, and the most words one may hold.
const MAX_QUERY_CHARS: usize = 200;
const MAX_QUERY_WORDS: usize = 10;

impl Chat {
    pub async fn search(&self, user: &UserId, query: SearchQuery) -> Result<MessagePage> {
        self.limit("search", user, self.settings.limits.searches_per_user)
            .await?;
        let terms = terms(&query.q)?;
        let limit = match query.limit {
            None => DEFAULT_HITS,
            Some(0) => return Err(Error::BadRequest("limit must be at least 1".into())),
            Some(limit) => limit.min(MAX_HITS),
        };
        let from = match (&query.room_id, query.before_seq, query.before_id) {
            (_, Some(_), Some(_)) => {
                return Err(Error::BadRequest(
                    "give before_seq or before_id, not both".into(),
                ));
            }
            (None, Some(_), None) => {
                return Err(Error::BadRequest(
                    "before_seq pages within one room: give room_id too".into(),
                ));
            }
            (_, Some(seq), None) => SearchFrom::BeforeSeq(seq),
            (_, None, Some(id)) => SearchFrom::BeforeId(id),
            (_, None, None) => SearchFrom::Newest,
        };
        let rooms = match &query.room_id {
            Some(room) => {
                self.membership(user, room).await?;
                vec![room.clone()]
            }
            None => self
                .ports
                .rooms
                .rooms_of(user)
                .await?
                .into_iter()
                .map(|r| r.id)
                .collect(),
        };
        let (records, has_more) = self
            .ports
            .messages
            .search(&rooms, &terms, &from, limit)
            .await?;
        let messages = self.quoted(self.views(records)).await?;
        Ok(MessagePage { messages, has_more })
    }
}

/// The query as the stores take it: its words, the last one a prefix.
fn terms(q: &str) -> Result<SearchTerms> {
    let q = q.trim();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(Error::BadRequest(format!(
            "q must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let mut words = search_words(q);
    if words.len() > MAX_QUERY_WORDS {
        return Err(Error::BadRequest(format!(
            "q may hold at most {MAX_QUERY_WORDS} words"
        )));
    }
    let prefix = words
        .pop()
        .ok_or_else(|| Error::BadRequest("q must hold a word to search for".into()))?;
    Ok(SearchTerms { words, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_its_words_and_the_last_is_a_prefix() {
        let found = terms("  Lunch at NOON? ").expect("valid");
        assert_eq!(found.words, vec!["lunch", "at"]);
        assert_eq!(found.prefix, "noon");
        assert!(terms("?!").is_err());
        let eleven: Vec<String> = (0..11).map(|n| format!("w{n}")).collect();
        assert!(terms(&eleven.join(" ")).is_err());
        assert!(terms(&eleven[..10].join(" ")).is_ok());
        assert!(terms(&"x".repeat(201)).is_err());
    }
}
