import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";

import { ConfabError } from "./errors.js";
import { Outbox, type OutboxEntry } from "./outbox.js";
import { Rest, type Fetch, type Progress } from "./rest.js";
import { MemoryStorage, readJson, writeJson, type KeyValueStorage } from "./storage.js";
import { Timeline } from "./timeline.js";
import type {
  CreateMediaRequest,
  ErrorAck,
  FocusRequest,
  Media,
  Message,
  MessageKind,
  NotificationEvent,
  PresenceEvent,
  PushSubscriptionCreated,
  PushSubscriptionRequest,
  ReceiptEvent,
  ReceiptKind,
  Room,
  RoomHeadEvent,
  RoomLeftEvent,
  SendAck,
  SyncAck,
  TypingEvent,
  User,
} from "./types.js";

/** What the client tells the app. */
export interface ConfabEvents {
  /** A message new to this device (live, from `sync`, or the ack of its own send), once. */
  message: (message: Message) => void;
  /** A room's timeline changed (new messages, or changes folded in). */
  timeline: (roomId: string) => void;
  receipt: (event: ReceiptEvent) => void;
  typing: (event: TypingEvent) => void;
  presence: (event: PresenceEvent) => void;
  /** The user joined or was added to a room, or it changed (`room:update`). */
  room: (room: Room) => void;
  /** The user left or was removed from a room; its timeline is dropped. */
  roomLeft: (event: RoomLeftEvent) => void;
  notification: (event: NotificationEvent) => void;
  /** Connected, caught up (`sync`) and sending the outbox. */
  connected: () => void;
  disconnected: (reason: string) => void;
  /** The server refused a queued message for good (it is out of the outbox). */
  sendFailed: (entry: OutboxEntry, error: ConfabError) => void;
  /** A refused handshake (`unauthorized`: sign in again) or a failure of the client's own. */
  error: (error: ConfabError) => void;
}

export interface ClientOptions {
  /** The server's base URL, e.g. `https://chat.example.com`. */
  url: string;
  /** A session token from `register` or `login`. */
  token: string;
  /** Where the outbox and each room's position are kept (default: in memory). */
  storage?: KeyValueStorage;
  fetch?: Fetch;
  /** Passed to socket.io-client (reconnection delays, transports, …). */
  socket?: Partial<ManagerOptions & SocketOptions>;
  /** How long to wait for an acknowledgement before trying again (default 10 s). */
  ackTimeoutMs?: number;
  /** Makes a `client_id` (default `crypto.randomUUID()`; React Native needs a polyfill). */
  newClientId?: () => string;
}

/** What to send: the content of a `message:send`, without room and `client_id`. */
export interface Outgoing {
  kind: MessageKind;
  body?: string | null;
  media_id?: string | null;
  reply_to?: string | null;
  relates_to?: string | null;
}

type Listener = (...args: never[]) => void;

/** How long a retryable send failure waits before the next try, by attempt. */
const RETRY_DELAYS_MS = [500, 1000, 2000, 5000, 10000];

/**
 * A signed-in user's connection to Confab: typed REST ({@link ConfabClient.rest}), the
 * socket with reconnection, an outbox that retries sends with the same `client_id` and
 * survives restarts, `sync` on connect and on a gap, and one de-duplicated, `seq`-ordered
 * {@link Timeline} per room with edits, deletions and reactions folded in.
 */
export class ConfabClient {
  readonly rest: Rest;
  readonly user: User;
  private readonly options: ClientOptions;
  private readonly storage: KeyValueStorage;
  private readonly outbox: Outbox;
  private readonly timelines = new Map<string, Timeline>();
  private readonly listeners = new Map<keyof ConfabEvents, Set<Listener>>();
  private readonly pending = new Map<
    string,
    { resolve: (m: Message) => void; reject: (e: ConfabError) => void }
  >();
  private socket: Socket | null = null;
  private ready = false;
  private flushing = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private loaded: Promise<void>;

  private constructor(options: ClientOptions, rest: Rest, user: User) {
    this.options = options;
    this.rest = rest;
    this.user = user;
    this.storage = options.storage ?? new MemoryStorage();
    this.outbox = new Outbox(this.storage, this.key("outbox"));
    this.loaded = this.load();
  }

  /** A client for an existing session (the token the app kept). */
  static async resume(options: ClientOptions): Promise<ConfabClient> {
    const rest = new Rest(options.url, options.token, options.fetch);
    const user = await rest.me();
    return new ConfabClient(options, rest, user);
  }

  /** Signs in and makes a client; `token` of the result is what to keep. */
  static async login(
    options: Omit<ClientOptions, "token">,
    username: string,
    password: string,
  ): Promise<ConfabClient> {
    const rest = new Rest(options.url, null, options.fetch);
    const auth = await rest.login(username, password);
    rest.token = auth.token;
    return new ConfabClient({ ...options, token: auth.token }, rest, auth.user);
  }

  /** Creates an account and makes a client signed in to it. */
  static async register(
    options: Omit<ClientOptions, "token">,
    username: string,
    password: string,
    displayName?: string,
  ): Promise<ConfabClient> {
    const rest = new Rest(options.url, null, options.fetch);
    const auth = await rest.register({ username, password, display_name: displayName });
    rest.token = auth.token;
    return new ConfabClient({ ...options, token: auth.token }, rest, auth.user);
  }

  get token(): string {
    return this.options.token;
  }

  /** Whether the socket is connected and caught up. */
  get connected(): boolean {
    return this.ready;
  }

  // ---- events ------------------------------------------------------------------------------

  on<E extends keyof ConfabEvents>(event: E, listener: ConfabEvents[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    const held = set;
    held.add(listener);
    return () => void held.delete(listener);
  }

  private emit<E extends keyof ConfabEvents>(event: E, ...args: Parameters<ConfabEvents[E]>): void {
    const set = this.listeners.get(event) as Set<(...a: Parameters<ConfabEvents[E]>) => void> | undefined;
    for (const listener of [...(set ?? [])]) {
      try {
        listener(...args);
      } catch (error) {
        if (event !== "error") {
          this.emit("error", new ConfabError("internal", `a ${event} listener threw: ${String(error)}`));
        }
      }
    }
  }

  // ---- the socket --------------------------------------------------------------------------

  /** Opens the socket; it reconnects by itself, catching up and sending the outbox each time. */
  connect(): void {
    if (this.socket) {
      return;
    }
    const socket = io(this.rest.baseUrl, {
      auth: { token: this.options.token },
      transports: ["websocket"],
      ...this.options.socket,
    });
    this.socket = socket;
    socket.on("connect", () => void this.caughtUp());
    socket.on("disconnect", (reason) => {
      this.ready = false;
      this.emit("disconnected", reason);
    });
    socket.on("connect_error", (error: Error & { data?: unknown }) => {
      // A refusal carries the API's error body: as `data`, or (as Confab sends it) as the
      // JSON text of the message. Anything else is the network: socket.io retries.
      const body = error.data ?? parseJson(error.message);
      if (body && typeof body === "object" && "error" in body) {
        this.emit("error", ConfabError.from(body, null));
      }
    });
    socket.on("message:new", (message: Message) => this.received([message]));
    socket.on("room:head", (head: RoomHeadEvent) => {
      const cursor = this.timelines.get(head.room_id)?.cursor;
      if (cursor !== undefined && cursor !== null && head.seq > cursor) {
        this.syncInBackground([head.room_id]);
      }
    });
    socket.on("receipt", (event: ReceiptEvent) => this.emit("receipt", event));
    socket.on("typing", (event: TypingEvent) => this.emit("typing", event));
    socket.on("presence", (event: PresenceEvent) => this.emit("presence", event));
    socket.on("notification", (event: NotificationEvent) => this.emit("notification", event));
    socket.on("room:update", (room: Room) => {
      this.follow(room.id, room.last_seq);
      this.emit("room", room);
    });
    socket.on("room:left", (event: RoomLeftEvent) => {
      this.timelines.delete(event.room_id);
      this.scheduleSave();
      this.emit("roomLeft", event);
    });
  }

  /** Closes the socket and writes what must be kept. Queued messages stay queued. */
  async close(): Promise<void> {
    this.socket?.disconnect();
    this.socket = null;
    this.ready = false;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    await this.saveCursors();
  }

  /** On every connect: learn the rooms, fetch what was missed, then send the outbox. */
  private async caughtUp(): Promise<void> {
    try {
      await this.loaded;
      const rooms = await this.rest.rooms();
      for (const room of rooms) {
        this.follow(room.id, room.last_seq);
      }
      const known = new Set(rooms.map((r) => r.id));
      for (const id of [...this.timelines.keys()]) {
        if (!known.has(id)) {
          this.timelines.delete(id);
        }
      }
      await this.sync([...this.timelines.keys()]);
      this.ready = true;
      this.attempt = 0;
      this.emit("connected");
      void this.flush();
    } catch (error) {
      this.emit("error", asError(error));
      // The next reconnect, or the next send, tries again.
    }
  }

  // ---- timelines and sync ------------------------------------------------------------------

  /** The room's timeline (what this device has of it). */
  timeline(roomId: string): Timeline {
    return this.follow(roomId, null);
  }

  /** Loads the page before the oldest held message (or the newest page). */
  async loadOlder(roomId: string, limit = 50): Promise<boolean> {
    const timeline = this.timeline(roomId);
    const first = timeline.firstSeq();
    const page = await this.rest.history(roomId, {
      before_seq: first ?? undefined,
      limit,
    });
    if (first === null && timeline.cursor === null) {
      // The newest page: the stream stands at its last message.
      timeline.cursor = page.messages[page.messages.length - 1]?.seq ?? 0;
    }
    this.mergeInto(timeline, page.messages);
    return page.has_more;
  }

  /** Fetches everything after each room's cursor, page by page (rooms with a cursor). */
  async sync(roomIds: string[]): Promise<void> {
    const cursorOf = (id: string) => this.timelines.get(id)?.cursor ?? null;
    let asking = roomIds.filter((id) => cursorOf(id) !== null);
    while (asking.length > 0 && this.socket) {
      const rooms: Record<string, number> = {};
      for (const id of asking) {
        rooms[id] = cursorOf(id) ?? 0;
      }
      const ack = await this.ack<SyncAck>("sync", { rooms });
      const more: string[] = [];
      for (const [id, page] of Object.entries(ack.rooms)) {
        const timeline = this.timelines.get(id);
        if (timeline) {
          this.mergeInto(timeline, page.messages);
          if (page.has_more) {
            more.push(id);
          }
        }
      }
      asking = more;
    }
  }

  /** The room's timeline, made if need be; `cursor` is where its stream stands, if known. */
  private follow(roomId: string, cursor: number | null): Timeline {
    let timeline = this.timelines.get(roomId);
    if (!timeline) {
      timeline = new Timeline(roomId, cursor);
      this.timelines.set(roomId, timeline);
      this.scheduleSave();
    } else if (timeline.cursor === null && cursor !== null) {
      timeline.cursor = cursor;
      this.scheduleSave();
    }
    return timeline;
  }

  private syncInBackground(roomIds: string[]): void {
    this.sync(roomIds).catch((error) => this.emit("error", asError(error)));
  }

  private received(messages: Message[]): void {
    const gaps = new Set<string>();
    for (const message of messages) {
      // A room first seen through a message is followed from that message on.
      const timeline = this.follow(message.room_id, message.seq - 1);
      if (timeline.gapBefore(message.seq)) {
        gaps.add(message.room_id);
      }
      this.mergeInto(timeline, [message]);
    }
    if (gaps.size > 0 && this.ready) {
      this.syncInBackground([...gaps]);
    }
  }

  private mergeInto(timeline: Timeline, messages: Message[]): void {
    const fresh = messages.filter((m) => timeline.get(m.id) === undefined);
    if (timeline.merge(messages)) {
      for (const message of fresh) {
        this.emit("message", message);
      }
      this.emit("timeline", timeline.roomId);
      this.scheduleSave();
    }
  }

  // ---- sending -----------------------------------------------------------------------------

  /**
   * Queues a message and answers with it once the server has stored it. The queue is kept
   * in storage and sent in order whenever the socket is connected, each message with its
   * own `client_id` for good: a restart or a lost acknowledgement never sends one twice.
   * Rejects (and emits `sendFailed`) only when the server refuses it for good.
   */
  async send(roomId: string, content: Outgoing): Promise<Message> {
    const entry: OutboxEntry = {
      room_id: roomId,
      client_id: this.newClientId(),
      kind: content.kind,
      body: content.body ?? null,
      media_id: content.media_id ?? null,
      reply_to: content.reply_to ?? null,
      relates_to: content.relates_to ?? null,
      queued_at: Date.now(),
    };
    const stored = new Promise<Message>((resolve, reject) => {
      this.pending.set(entry.client_id, { resolve, reject });
    });
    await this.loaded;
    await this.outbox.add(entry);
    void this.flush();
    return stored;
  }

  sendText(roomId: string, body: string, replyTo?: string): Promise<Message> {
    return this.send(roomId, { kind: "text", body, reply_to: replyTo ?? null });
  }

  edit(roomId: string, messageId: string, body: string): Promise<Message> {
    return this.send(roomId, { kind: "edit", body, relates_to: messageId });
  }

  react(roomId: string, messageId: string, emoji: string): Promise<Message> {
    return this.send(roomId, { kind: "reaction", body: emoji, relates_to: messageId });
  }

  /** Takes back the user's own `emoji` on a message (it must be in the timeline). */
  unreact(roomId: string, messageId: string, emoji: string): Promise<Message> {
    const reaction = this.timeline(roomId).ownReaction(messageId, this.user.id, emoji);
    if (!reaction) {
      return Promise.reject(new ConfabError("not_found", "no such reaction of yours"));
    }
    return this.send(roomId, { kind: "delete", relates_to: reaction.id });
  }

  deleteMessage(roomId: string, messageId: string): Promise<Message> {
    return this.send(roomId, { kind: "delete", relates_to: messageId });
  }

  /** What is still waiting to be sent, oldest first. */
  queued(): readonly OutboxEntry[] {
    return this.outbox.list();
  }

  /** Sends the outbox in order, one at a time, until it is empty or the server is away. */
  private async flush(): Promise<void> {
    if (this.flushing || !this.ready) {
      return;
    }
    this.flushing = true;
    try {
      await this.loaded;
      for (;;) {
        const entry = this.outbox.list()[0];
        if (!entry || !this.ready) {
          return;
        }
        const { queued_at: _queued, ...payload } = entry;
        let message: Message;
        try {
          message = (await this.ack<SendAck>("message:send", payload)).message;
        } catch (caught) {
          const error = asError(caught);
          if (error.retryable) {
            this.retryLater(error);
            return;
          }
          await this.outbox.remove(entry.client_id);
          this.pending.get(entry.client_id)?.reject(error);
          this.pending.delete(entry.client_id);
          this.emit("sendFailed", entry, error);
          continue;
        }
        this.attempt = 0;
        await this.outbox.remove(entry.client_id);
        this.received([message]);
        this.pending.get(entry.client_id)?.resolve(message);
        this.pending.delete(entry.client_id);
      }
    } finally {
      this.flushing = false;
    }
  }

  private retryLater(error: ConfabError): void {
    const delay =
      error.retryAfter !== null
        ? error.retryAfter * 1000
        : RETRY_DELAYS_MS[Math.min(this.attempt, RETRY_DELAYS_MS.length - 1)];
    this.attempt += 1;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.flush();
    }, delay);
  }

  // ---- receipts, typing, focus ---------------------------------------------------------------

  /** Marks everything up to `seq` of a room delivered or read (default read). */
  async mark(roomId: string, seq: number, kind: ReceiptKind = "read"): Promise<void> {
    await this.ack("receipt", { room_id: roomId, kind, seq });
  }

  async typing(roomId: string, active: boolean): Promise<void> {
    await this.ack("typing", { room_id: roomId, active });
  }

  /** Which room this device shows (`null`: none), so its notifications skip this device. */
  async focus(roomId: string | null): Promise<void> {
    const request: FocusRequest = { room_id: roomId };
    await this.ack("focus", request);
  }

  // ---- media and push ------------------------------------------------------------------------

  /** Uploads an image or voice message with progress; send it with its `media_id`. */
  uploadMedia(
    bytes: Uint8Array | Blob,
    request: Omit<CreateMediaRequest, "bytes">,
    onProgress?: Progress,
  ): Promise<Media> {
    return this.rest.uploadMedia(bytes, request, onProgress);
  }

  /**
   * Registers this device for push: a Web Push subscription (`subscription.toJSON()` of
   * `pushManager.subscribe` with {@link Rest.vapidPublicKey}) or an Expo push token.
   */
  registerPush(subscription: PushSubscriptionRequest): Promise<PushSubscriptionCreated> {
    return this.rest.registerPush(subscription);
  }

  // ---- plumbing ------------------------------------------------------------------------------

  /** Emits `event` and waits for its acknowledgement; a failed ack throws its error. */
  private async ack<T>(event: string, payload: unknown): Promise<T> {
    const socket = this.socket;
    if (!socket || !socket.connected) {
      throw new ConfabError("network", "not connected");
    }
    let answer: { ok: boolean; error?: ErrorAck["error"] };
    try {
      answer = await socket.timeout(this.options.ackTimeoutMs ?? 10_000).emitWithAck(event, payload);
    } catch {
      throw new ConfabError("network", `no acknowledgement of ${event}`);
    }
    if (!answer || answer.ok !== true) {
      throw ConfabError.from(answer ?? null, null);
    }
    return answer as unknown as T;
  }

  private newClientId(): string {
    return this.options.newClientId?.() ?? globalThis.crypto.randomUUID();
  }

  private key(name: string): string {
    return `confab:${this.user.id}:${name}`;
  }

  private async load(): Promise<void> {
    await this.outbox.load();
    const cursors = await readJson<Record<string, number>>(this.storage, this.key("cursors"), {});
    for (const [roomId, cursor] of Object.entries(cursors)) {
      const timeline = this.timelines.get(roomId);
      if (timeline) {
        timeline.restore(cursor);
      } else {
        this.timelines.set(roomId, new Timeline(roomId, cursor));
      }
    }
  }

  private scheduleSave(): void {
    if (this.saveTimer) {
      return;
    }
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      void this.saveCursors();
    }, 200);
  }

  private async saveCursors(): Promise<void> {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = null;
    }
    const cursors: Record<string, number> = {};
    for (const [id, timeline] of this.timelines) {
      if (timeline.cursor !== null) {
        cursors[id] = timeline.cursor;
      }
    }
    await writeJson(this.storage, this.key("cursors"), cursors);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function asError(error: unknown): ConfabError {
  return error instanceof ConfabError ? error : new ConfabError("internal", String(error));
}
