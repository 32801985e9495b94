/**
 * `@confab/client`: Confab for browsers, React Native and Node.
 *
 * - {@link ConfabClient}: a signed-in user's connection: socket, outbox, sync, timelines.
 * - {@link Rest}: every REST endpoint, typed, on its own.
 * - {@link Timeline}: one room's messages in `seq` order with changes folded in.
 * - Storage: {@link MemoryStorage}, {@link WebStorage} (`localStorage`), or React Native's
 *   `AsyncStorage` as it is.
 * - The wire types, generated from the server's Rust types.
 */
export { ConfabClient, type ClientOptions, type ConfabEvents, type Outgoing } from "./client.js";
export { ConfabError } from "./errors.js";
export { Outbox, type OutboxEntry } from "./outbox.js";
export { Rest, type Fetch, type Progress } from "./rest.js";
export { MemoryStorage, WebStorage, type KeyValueStorage } from "./storage.js";
export { Timeline, isChange } from "./timeline.js";
export type * from "./types.js";
