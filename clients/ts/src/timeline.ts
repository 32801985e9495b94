import type { Message, MessageKind, Reaction, ReplyPreview } from "./types.js";

const CHANGES: ReadonlySet<MessageKind> = new Set(["edit", "delete", "reaction"]);

/** Whether a message changes another (`edit`, `delete`, `reaction`) rather than being one. */
export function isChange(message: Message): boolean {
  return CHANGES.has(message.kind);
}

/**
 * One room's messages: de-duplicated by id, in `seq` order, with edits, deletions and
 * reactions folded into their targets exactly as the server folds them, so the timeline
 * shows what history shows whichever way (live, sync, pages) its messages arrived.
 */
export class Timeline {
  readonly roomId: string;
  private readonly bySeq = new Map<number, Message>();
  private readonly seqById = new Map<string, number>();
  private ordered: Message[] | null = [];
  /**
   * Every message up to here has been received (or was before the client followed the
   * room): a message past `cursor + 1` means a gap, which `sync` fills. `null` until the
   * client knows where the room's stream stands (its `last_seq`, a first live message, or
   * the newest page of history): nothing is a gap then, and nothing is synced.
   */
  cursor: number | null;

  constructor(roomId: string, cursor: number | null = null) {
    this.roomId = roomId;
    this.cursor = cursor;
  }

  /** Adds messages, ignoring any already held; answers whether anything was new. */
  merge(messages: Iterable<Message>): boolean {
    let changed = false;
    let replayFrom: number | null = null;
    for (const message of messages) {
      if (message.room_id !== this.roomId || this.bySeq.has(message.seq)) {
        continue;
      }
      this.bySeq.set(message.seq, structuredCopy(message));
      this.seqById.set(message.id, message.seq);
      changed = true;
      if (isChange(message)) {
        replayFrom = replayFrom === null ? message.seq : Math.min(replayFrom, message.seq);
      }
    }
    if (!changed) {
      return false;
    }
    this.ordered = null;
    this.advance();
    if (replayFrom !== null) {
      for (const message of this.all()) {
        if (message.seq >= replayFrom && isChange(message)) {
          this.fold(message);
        }
      }
    }
    return true;
  }

  /**
   * Where the stream stood when this device last looked (kept across restarts): the
   * cursor goes back to it if it had moved past it without the messages in between, so
   * `sync` fetches them.
   */
  restore(cursor: number): void {
    this.cursor = this.cursor === null ? cursor : Math.min(this.cursor, cursor);
    this.advance();
  }

  /** Moves the cursor over every held message right after it. */
  private advance(): void {
    if (this.cursor === null) {
      return;
    }
    while (this.bySeq.has(this.cursor + 1)) {
      this.cursor += 1;
    }
  }

  /** Whether a message with this `seq` would leave a gap after what is held. */
  gapBefore(seq: number): boolean {
    return this.cursor !== null && seq > this.cursor + 1;
  }

  get(id: string): Message | undefined {
    const seq = this.seqById.get(id);
    return seq === undefined ? undefined : this.bySeq.get(seq);
  }

  /** Every held message, changes included, in `seq` order. */
  all(): Message[] {
    if (this.ordered === null) {
      this.ordered = [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
    }
    return this.ordered;
  }

  /** What a chat shows: the messages themselves (changes are folded into them). */
  visible(): Message[] {
    return this.all().filter((m) => !isChange(m));
  }

  /** The lowest `seq` held (to page back from), or null. */
  firstSeq(): number | null {
    const all = this.all();
    return all.length > 0 ? all[0].seq : null;
  }

  /** `userId`'s live `emoji` reaction on `targetId`: the message to delete to take it back. */
  ownReaction(targetId: string, userId: string, emoji: string): Message | undefined {
    return [...this.all()]
      .reverse()
      .find(
        (m) =>
          m.kind === "reaction" &&
          m.deleted_at === null &&
          m.relates_to === targetId &&
          m.sender_id === userId &&
          m.body === emoji,
      );
  }

  /** Applies one change to its target, if held, as the server does. */
  private fold(change: Message): void {
    if (change.relates_to === null) {
      return;
    }
    if (change.kind === "reaction" && change.deleted_at !== null) {
      // Taken back later: its delete, further on in the stream, would remove it again.
      return;
    }
    const target = this.get(change.relates_to);
    if (!target) {
      return;
    }
    switch (change.kind) {
      case "edit":
        if (target.deleted_at === null) {
          target.body = change.body;
          target.mentions = [...change.mentions];
          target.edited_at = change.created_at;
          this.requote(target);
        }
        break;
      case "delete":
        target.deleted_at = change.created_at;
        if (target.kind === "reaction") {
          const reacted = target.relates_to === null ? undefined : this.get(target.relates_to);
          if (reacted && target.body !== null) {
            removeReaction(reacted.reactions, target.body, target.sender_id);
          }
          break;
        }
        target.body = null;
        target.media = null;
        target.reactions = [];
        target.mentions = [];
        target.reply_preview = null;
        this.requote(target);
        break;
      case "reaction":
        if (target.deleted_at === null && change.body !== null) {
          addReaction(target.reactions, change.body, change.sender_id);
        }
        break;
      default:
        break;
    }
  }

  /** Replies held here quote their original as it is now (edited, or gone). */
  private requote(original: Message): void {
    const preview: ReplyPreview | null =
      original.deleted_at !== null
        ? null
        : {
            id: original.id,
            seq: original.seq,
            sender_id: original.sender_id,
            kind: original.kind,
            body: original.body === null ? null : cut(original.body),
          };
    for (const reply of this.bySeq.values()) {
      if (reply.reply_to === original.id) {
        reply.reply_preview = preview;
      }
    }
  }
}

/** The server's reply previews carry at most this many characters of the original. */
const PREVIEW_CHARS = 200;

function cut(body: string): string {
  const chars = Array.from(body);
  return chars.length > PREVIEW_CHARS ? chars.slice(0, PREVIEW_CHARS).join("") + "…" : body;
}

function addReaction(reactions: Reaction[], emoji: string, userId: string): void {
  const reaction = reactions.find((r) => r.emoji === emoji);
  if (!reaction) {
    reactions.push({ emoji, user_ids: [userId] });
  } else if (!reaction.user_ids.includes(userId)) {
    reaction.user_ids.push(userId);
  }
}

function removeReaction(reactions: Reaction[], emoji: string, userId: string): void {
  const at = reactions.findIndex((r) => r.emoji === emoji);
  if (at < 0) {
    return;
  }
  reactions[at].user_ids = reactions[at].user_ids.filter((u) => u !== userId);
  if (reactions[at].user_ids.length === 0) {
    reactions.splice(at, 1);
  }
}

/** A deep copy, so folding never changes an object the caller still holds. */
function structuredCopy(message: Message): Message {
  return JSON.parse(JSON.stringify(message)) as Message;
}
