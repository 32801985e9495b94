//! `clients/ts/src/types.ts`, the TypeScript client's wire types, is generated from these
//! Rust types (ts-rs) and checked in; this test fails when it is stale.
//! `CONFAB_BLESS=1 cargo test -p protocol --features ts --test typescript` rewrites it.
#![cfg(feature = "ts")]

use protocol::*;
use ts_rs::{Config, TS};

/// Every wire type, in the order the file declares them.
fn declarations() -> String {
    // Counts, sequence numbers and sizes stay far below 2^53: plain numbers in JavaScript.
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from the Rust wire types (protocol/src/lib.rs) by\n\
         // protocol/tests/typescript.rs. Do not edit: change the Rust types and run\n\
         // `CONFAB_BLESS=1 cargo test -p protocol --features ts --test typescript`.\n",
    );
    macro_rules! declare {
        ($($ty:ty),* $(,)?) => {$(
            out.push('\n');
            if let Some(docs) = <$ty as TS>::docs() {
                out.push_str(&docs);
            }
            out.push_str("export ");
            out.push_str(&<$ty as TS>::decl(&cfg));
            out.push('\n');
        )*};
    }
    declare!(
        Timestamp,
        UserId,
        RoomId,
        MessageId,
        MediaId,
        // Objects
        User,
        Role,
        Member,
        RoomKind,
        Room,
        MemberPage,
        MessageKind,
        MediaKind,
        Media,
        Message,
        Reaction,
        ReplyPreview,
        Invite,
        InviteRoom,
        InvitePreview,
        SessionInfo,
        // REST bodies and queries
        RegisterRequest,
        LoginRequest,
        AuthResponse,
        UpdateMeRequest,
        ChangePasswordRequest,
        DeleteAccountRequest,
        CreateGroupRequest,
        CreateDirectRequest,
        AddMemberRequest,
        UpdateRoomRequest,
        SetRoleRequest,
        MuteRequest,
        MemberPageQuery,
        HistoryQuery,
        MessagePage,
        SendMessageRequest,
        SearchQuery,
        CreateMediaRequest,
        UploadInstructions,
        CreatedMedia,
        CreateInviteRequest,
        PushSubscriptionRequest,
        WebPushKeys,
        PushSubscriptionCreated,
        VapidPublicKey,
        Health,
        // Socket.IO payloads and acknowledgements
        SocketSend,
        ReceiptKind,
        ReceiptRequest,
        ReceiptEvent,
        TypingRequest,
        TypingEvent,
        RoomHeadEvent,
        SyncRequest,
        SyncResponse,
        FocusRequest,
        PresenceEvent,
        NotificationKind,
        NotificationEvent,
        LeftReason,
        RoomLeftEvent,
        OkAck,
        SendAck,
        SyncAck,
        ErrorAck,
        // Errors
        ErrorCode,
        ErrorDetail,
        ErrorBody,
    );
    out
}

#[test]
fn the_typescript_types_are_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/ts/src/types.ts");
    let text = declarations();
    if std::env::var_os("CONFAB_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write types.ts");
        return;
    }
    let held = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        held == text,
        "clients/ts/src/types.ts is stale: run `CONFAB_BLESS=1 cargo test -p protocol \
         --features ts --test typescript` and commit it"
    );
}
