//! The AsyncAPI 3 document of the Socket.IO API, built from the same types the server
//! speaks, so it cannot say what the server does not.
//!
//! The document describes the Confab server: the events it `receive`s from clients (each
//! with its acknowledgement as the operation's `reply`) and the events it `send`s to them.
//! `docs/asyncapi.json` is this document as the repository holds it; a test fails when the
//! two differ, and the server serves it at `GET /api/v1/asyncapi.json`.

use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::{
    ErrorAck, ErrorBody, FocusRequest, Message, NotificationEvent, OkAck, PresenceEvent,
    ReceiptEvent, ReceiptRequest, Room, RoomHeadEvent, RoomLeftEvent, SendAck, SocketSend, SyncAck,
    SyncRequest, TypingEvent, TypingRequest, events,
};

/// The one channel: Socket.IO's default namespace `/` on `/socket.io/`.
pub const CHANNEL: &str = "socket";

/// The document, as JSON.
pub fn document() -> Value {
    let mut doc = Document::default();
    doc.client_event::<SocketSend, SendAck>(
        events::MESSAGE_SEND,
        "Send a message (or an edit, delete or reaction) to a room. The ack comes once the \
         message is durable; a repeat of a `client_id` answers with the message stored first.",
    );
    doc.client_event::<ReceiptRequest, OkAck>(
        events::RECEIPT,
        "Mark everything up to `seq` in a room delivered or read.",
    );
    doc.client_event::<TypingRequest, OkAck>(
        events::TYPING,
        "Start or stop typing in a room (it stops by itself after 5 s).",
    );
    doc.client_event::<SyncRequest, SyncAck>(
        events::SYNC,
        "Fetch what was missed: for each room, the messages after `after_seq`. Call it on \
         every connect and whenever `seq` shows a gap.",
    );
    doc.client_event::<FocusRequest, OkAck>(
        events::FOCUS,
        "Say which room this device is looking at (`null` for none): its notifications then \
         skip this device.",
    );
    doc.server_event::<Message>(
        events::MESSAGE_NEW,
        "A new message of a room, to every connected device of every member (the sender's \
         other devices included).",
    );
    doc.server_event::<ReceiptEvent>(
        events::RECEIPT,
        "A member's delivered or read marker moved forward.",
    );
    doc.server_event::<TypingEvent>(events::TYPING, "Another member started or stopped typing.");
    doc.server_event::<PresenceEvent>(
        events::PRESENCE,
        "Someone who shares a room with the user came or went; on connect, one for each \
         such person online.",
    );
    doc.server_event::<Room>(
        events::ROOM_UPDATE,
        "The user joined or was added to a room, or its name, topic, picture or members \
         changed.",
    );
    doc.server_event::<NotificationEvent>(
        events::NOTIFICATION,
        "Something in a room the device is not looking at deserves the user's attention.",
    );
    doc.server_event::<RoomHeadEvent>(
        events::ROOM_HEAD,
        "Extension: where a room's stream ended a moment ago. A device that has seen less \
         calls `sync`.",
    );
    doc.server_event::<RoomLeftEvent>(
        events::ROOM_LEFT,
        "The user left or was removed from a room: no event of it follows.",
    );
    doc.server_event::<ErrorBody>(
        "connect_error",
        "Socket.IO's refusal of a handshake without a valid token: its `data` is the error \
         body.",
    );
    doc.finish()
}

#[derive(Default)]
struct Document {
    schemas: Vec<(String, RefOr<Schema>)>,
    messages: Map<String, Value>,
    operations: Map<String, Value>,
}

impl Document {
    /// `T`'s schema (and every schema it refers to) among the components; its reference.
    fn schema<T: ToSchema>(&mut self) -> Value {
        let name = T::name().into_owned();
        self.schemas.push((name.clone(), T::schema()));
        T::schemas(&mut self.schemas);
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// A message named `event` (the Socket.IO event name) under the key `id`.
    fn message(&mut self, id: &str, event: &str, summary: &str, payload: Value) -> Value {
        self.messages.insert(
            id.to_owned(),
            json!({ "name": event, "summary": summary, "payload": payload }),
        );
        json!({ "$ref": format!("#/channels/{CHANNEL}/messages/{id}") })
    }

    /// An event a client emits with payload `P`, acknowledged with `A` or an [`ErrorAck`].
    fn client_event<P: ToSchema, A: ToSchema>(&mut self, event: &str, summary: &str) {
        let id = key(event);
        let payload = self.schema::<P>();
        let request = self.message(&id, event, summary, payload);
        let ack_payload = self.schema::<A>();
        let ack = self.message(
            &format!("{id}_ack"),
            event,
            &format!("The acknowledgement of `{event}` on success."),
            ack_payload,
        );
        let error_payload = self.schema::<ErrorAck>();
        let error = self.message(
            "error_ack",
            "(ack)",
            "The acknowledgement of any event that failed; nothing was done.",
            error_payload,
        );
        self.operations.insert(
            format!("receive_{id}"),
            json!({
                "action": "receive",
                "channel": { "$ref": format!("#/channels/{CHANNEL}") },
                "summary": summary,
                "messages": [request],
                "reply": {
                    "channel": { "$ref": format!("#/channels/{CHANNEL}") },
                    "messages": [ack, error],
                },
            }),
        );
    }

    /// An event the server emits to clients with payload `P`.
    fn server_event<P: ToSchema>(&mut self, event: &str, summary: &str) {
        let id = format!("{}_event", key(event));
        let payload = self.schema::<P>();
        let message = self.message(&id, event, summary, payload);
        self.operations.insert(
            format!("send_{}", key(event)),
            json!({
                "action": "send",
                "channel": { "$ref": format!("#/channels/{CHANNEL}") },
                "summary": summary,
                "messages": [message],
            }),
        );
    }

    fn finish(self) -> Value {
        let mut schemas = Map::new();
        for (name, schema) in self.schemas {
            let value = serde_json::to_value(schema).unwrap_or(Value::Null);
            schemas.insert(name, value);
        }
        // An ack's `ok` is a constant, which the derived schemas cannot say.
        for (ack, ok) in [
            ("OkAck", true),
            ("SendAck", true),
            ("SyncAck", true),
            ("ErrorAck", false),
        ] {
            if let Some(property) = schemas
                .get_mut(ack)
                .and_then(|schema| schema.pointer_mut("/properties/ok"))
            {
                *property = json!({ "type": "boolean", "const": ok });
            }
        }
        let channel_messages: Map<String, Value> = self
            .messages
            .keys()
            .map(|id| {
                (
                    id.clone(),
                    json!({ "$ref": format!("#/components/messages/{id}") }),
                )
            })
            .collect();
        json!({
            "asyncapi": "3.0.0",
            "info": {
                "title": "Confab Socket.IO API",
                "version": "1.1.0",
                "description": "Socket.IO (protocol v5, Engine.IO v4) on `/socket.io/`, \
                    namespace `/`. The handshake sends `auth: {\"token\": \"<token>\"}` (or the \
                    browser's session cookie). Every client-to-server event takes an \
                    acknowledgement callback and always gets exactly one answer. The \
                    operations are the server's: it receives client events and sends the rest.",
            },
            "defaultContentType": "application/json",
            "servers": {
                "confab": {
                    "host": "localhost:3000",
                    "protocol": "ws",
                    "pathname": "/socket.io/",
                    "description": "Any Confab node; every node serves every client.",
                },
            },
            "channels": {
                CHANNEL: {
                    "address": "/",
                    "description": "The default namespace.",
                    "messages": channel_messages,
                },
            },
            "operations": self.operations,
            "components": {
                "messages": self.messages,
                "schemas": schemas,
            },
        })
    }
}

/// An event name as a component key: `message:send` is `message_send`.
fn key(event: &str) -> String {
    event.replace(':', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_a_message_and_every_reference_resolves() {
        let doc = document();
        for (_, operation) in doc["operations"].as_object().expect("operations") {
            let refs = operation["messages"]
                .as_array()
                .into_iter()
                .chain(operation["reply"]["messages"].as_array())
                .flatten();
            for reference in refs {
                let pointer = reference["$ref"]
                    .as_str()
                    .expect("a reference")
                    .trim_start_matches('#');
                let message = doc.pointer(pointer).expect("the channel's message");
                let target = message["$ref"].as_str().expect("a component");
                let payload = &doc
                    .pointer(target.trim_start_matches('#'))
                    .expect("message")["payload"]["$ref"];
                let schema = payload.as_str().expect("a schema").trim_start_matches('#');
                assert!(doc.pointer(schema).is_some(), "{schema} is defined");
            }
        }
        assert_eq!(
            doc["components"]["schemas"]["SendAck"]["properties"]["ok"]["const"],
            true
        );
    }
}
