import { readJson, writeJson, type KeyValueStorage } from "./storage.js";
import type { SocketSend } from "./types.js";

/** A message waiting to be sent: the whole `message:send` payload, its `client_id` fixed. */
export type OutboxEntry = SocketSend & {
  client_id: string;
  /** When it was queued (ms since the epoch), for showing how long it has waited. */
  queued_at: number;
};

/**
 * Messages accepted by the app but not yet acknowledged by the server, in the order they
 * were sent, kept in storage so they survive a restart. Each keeps its `client_id` for good:
 * the server stores a repeat once, so sending again after a lost ack is always safe.
 */
export class Outbox {
  private entries: OutboxEntry[] = [];
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly storage: KeyValueStorage,
    private readonly key: string,
  ) {}

  async load(): Promise<void> {
    const stored = await readJson<OutboxEntry[]>(this.storage, this.key, []);
    const held = new Set(this.entries.map((e) => e.client_id));
    // Entries queued before loading finished stay after the stored ones.
    this.entries = [...stored.filter((e) => !held.has(e.client_id)), ...this.entries];
  }

  list(): readonly OutboxEntry[] {
    return this.entries;
  }

  get size(): number {
    return this.entries.length;
  }

  async add(entry: OutboxEntry): Promise<void> {
    this.entries.push(entry);
    await this.save();
  }

  async remove(clientId: string): Promise<void> {
    this.entries = this.entries.filter((e) => e.client_id !== clientId);
    await this.save();
  }

  /** Writes in order: a later write never lands before an earlier one. */
  private save(): Promise<void> {
    const snapshot = JSON.parse(JSON.stringify(this.entries)) as OutboxEntry[];
    this.saving = this.saving.then(() => writeJson(this.storage, this.key, snapshot));
    return this.saving;
  }
}
