// The client's socket half against a real node: events, timelines, the outbox across a
// node restart and an app restart, and sync after an offline spell.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ConfabClient, MemoryStorage, Timeline } from "../dist/index.js";
import { FileStorage, Node, next, unique, until } from "./harness.mjs";

let node;
const clients = [];
before(async () => {
  // Room for the offline spell's 150 sends in a row (the default is 30 per 10 s).
  node = await new Node({ env: { CONFAB_SENDS_PER_USER_PER_10S: "1000" } }).start();
});
after(async () => {
  for (const client of clients) await client.close();
  await node?.destroy();
});

async function person(name, options = {}) {
  const client = await ConfabClient.register({ url: node.url, ...options }, unique(name), "correct horse battery", name);
  clients.push(client);
  return client;
}

async function online(client) {
  const connected = next(client, "connected");
  client.connect();
  await connected;
  return client;
}

test("live events: messages, receipts, typing, presence, room updates, notifications, leaving", async () => {
  const alice = await online(await person("alice"));
  const bob = await person("bob");
  const room = await alice.rest.createGroup({ name: "Live", member_ids: [bob.user.id] });
  const alicePresence = next(alice, "presence", (p) => p.user_id === bob.user.id && p.online);
  await online(bob);
  await alicePresence;

  const arrived = next(bob, "message", (m) => m.room_id === room.id && m.kind === "text");
  const notified = next(bob, "notification", (n) => n.room_id === room.id);
  const sent = await alice.sendText(room.id, "hello bob");
  const received = await arrived;
  assert.equal(received.id, sent.id);
  const notification = await notified;
  assert.equal(notification.kind, "message");
  assert.equal(notification.message.id, sent.id);

  const receipt = next(alice, "receipt", (r) => r.user_id === bob.user.id && r.kind === "read");
  await bob.mark(room.id, sent.seq);
  assert.equal((await receipt).seq, sent.seq);

  const typing = next(bob, "typing", (t) => t.user_id === alice.user.id && t.active);
  await alice.typing(room.id, true);
  await typing;

  // Looking at the room: no notification for it. Notifications of a room go out in the
  // room's order, so once the one for a message sent after looking away has come, one for
  // the message sent while looking would have come before it.
  await bob.focus(room.id);
  const told = [];
  const off = bob.on("notification", (n) => n.room_id === room.id && n.kind === "message" && told.push(n.message?.body));
  await alice.sendText(room.id, "while you look");
  await bob.focus(null);
  const after = next(bob, "notification", (n) => n.message?.body === "after looking away");
  await alice.sendText(room.id, "after looking away");
  await after;
  off();
  assert.deepEqual(told, ["after looking away"]);

  const carol = await online(await person("carol"));
  const added = next(carol, "room", (r) => r.id === room.id);
  await alice.rest.addMember(room.id, carol.user.id);
  assert.equal((await added).member_count, 3);
  const left = next(carol, "roomLeft", (e) => e.room_id === room.id);
  await alice.rest.removeMember(room.id, carol.user.id);
  assert.equal((await left).reason, "removed");

  // The timelines hold each message once, in order.
  for (const client of [alice, bob]) {
    const texts = client.timeline(room.id).visible().filter((m) => m.kind === "text").map((m) => m.body);
    assert.deepEqual(texts, ["hello bob", "while you look", "after looking away"]);
  }
});

test("edits, reactions and deletions fold into the timeline as history shows them", async () => {
  const alice = await online(await person("alice"));
  const bob = await online(await person("bob"));
  const room = await alice.rest.createGroup({ name: "Changes", member_ids: [bob.user.id] });
  const first = await alice.sendText(room.id, "first draft");
  const second = await alice.sendText(room.id, "to be withdrawn");
  const reply = await bob.sendText(room.id, "I agree", first.id);
  await alice.edit(room.id, first.id, "final text");
  await bob.react(room.id, first.id, "👍");
  await alice.react(room.id, first.id, "👍");
  await bob.react(room.id, first.id, "❤️");
  await until(() => bob.timeline(room.id).get(first.id)?.reactions.length === 2, "bob's view of the reactions");
  await bob.unreact(room.id, first.id, "👍");
  await alice.deleteMessage(room.id, second.id);
  await assert.rejects(bob.react(room.id, first.id, "❤️"), (e) => e.code === "conflict");

  const expected = (await alice.rest.history(room.id)).messages;
  await until(() => bob.timeline(room.id).all().length === expected.length, "bob's whole timeline");
  for (const client of [alice, bob]) {
    const view = client.timeline(room.id);
    const edited = view.get(first.id);
    assert.equal(edited.body, "final text");
    assert.notEqual(edited.edited_at, null);
    assert.deepEqual(edited.reactions, [
      { emoji: "👍", user_ids: [alice.user.id] },
      { emoji: "❤️", user_ids: [bob.user.id] },
    ]);
    const gone = view.get(second.id);
    assert.equal(gone.body, null);
    assert.notEqual(gone.deleted_at, null);
    assert.equal(view.get(reply.id).reply_preview.body, "final text");
  }
  // A timeline built from history alone agrees with the live ones.
  const fromHistory = new Timeline(room.id);
  fromHistory.merge(expected);
  assert.deepEqual(fromHistory.visible(), bob.timeline(room.id).visible());
  assert.deepEqual(fromHistory.visible(), alice.timeline(room.id).visible());
});

test("sync: a device back from an offline spell gets what it missed, once and in order", async () => {
  const alice = await person("alice");
  const storage = new MemoryStorage();
  const bob = await online(await person("bob", { storage }));
  const joined = next(bob, "room", (r) => r.name === "Offline");
  const room = await alice.rest.createGroup({ name: "Offline", member_ids: [bob.user.id] });
  await joined;
  await alice.rest.send(room.id, { client_id: crypto.randomUUID(), kind: "text", body: "before" });
  await until(() => bob.timeline(room.id).visible().some((m) => m.body === "before"), "the first message");
  await bob.close();

  // More than one sync page (100) while bob is away.
  for (let i = 0; i < 150; i += 1) {
    await alice.rest.send(room.id, { client_id: crypto.randomUUID(), kind: "text", body: `missed ${i}` });
  }
  // The app restarts: a new client on the same storage syncs from where it was.
  const back = await ConfabClient.resume({ url: node.url, token: bob.token, storage });
  clients.push(back);
  await online(back);
  const texts = back.timeline(room.id).visible().filter((m) => m.kind === "text").map((m) => m.body);
  assert.deepEqual(texts, Array.from({ length: 150 }, (_, i) => `missed ${i}`));
  const seqs = back.timeline(room.id).all().map((m) => m.seq);
  assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
  assert.equal(back.timeline(room.id).cursor, (await alice.rest.room(room.id)).last_seq);
});

test("a room's timeline asked for before connecting starts where the stream stands", async () => {
  const alice = await person("alice");
  const room = await alice.rest.createGroup({ name: "Long" });
  for (let i = 0; i < 120; i += 1) {
    await alice.rest.send(room.id, { client_id: crypto.randomUUID(), kind: "text", body: `old ${i}` });
  }
  // The app shows the room before the socket is up: nothing is known of it yet.
  const view = alice.timeline(room.id);
  assert.equal(view.cursor, null);
  await online(alice);
  // Connecting learnt where the stream stands and fetched none of the 120 old messages.
  assert.equal(view.cursor, (await alice.rest.room(room.id)).last_seq);
  assert.equal(view.all().length, 0);
  const live = await alice.sendText(room.id, "new");
  assert.deepEqual(view.visible().map((m) => m.id), [live.id]);
  // Older messages come page by page, on request.
  assert.equal(await alice.loadOlder(room.id, 50), true);
  assert.equal(view.visible().length, 51);
});

test("a gap in seq makes the client sync the room", async () => {
  const alice = await person("alice");
  const bob = await online(await person("bob"));
  const joined = next(bob, "room", (r) => r.name === "Gaps");
  const room = await alice.rest.createGroup({ name: "Gaps", member_ids: [bob.user.id] });
  await joined;
  const view = bob.timeline(room.id);
  const lost = await alice.rest.send(room.id, { client_id: crypto.randomUUID(), kind: "text", body: "lost" });
  await until(() => view.get(lost.id) !== undefined, "the first message");
  // Simulate a delivery that never arrived: bob's view forgets it (reaching into the
  // timeline's private maps, as no public call should).
  view["bySeq"].delete(lost.seq);
  view["seqById"].delete(lost.id);
  view["ordered"] = null;
  view.cursor = lost.seq - 1;
  // The next message is two ahead of what bob holds: the client syncs and gets both.
  const after = await alice.rest.send(room.id, { client_id: crypto.randomUUID(), kind: "text", body: "after" });
  await until(() => view.get(lost.id) !== undefined, "the lost message, synced");
  assert.equal(view.cursor, after.seq);
  assert.deepEqual(view.visible().filter((m) => m.kind === "text").map((m) => m.body), ["lost", "after"]);
});

test("the outbox: sends queued while the node is down go out once it is back, each once, across an app restart", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "confab-outbox-")), "storage.json");
  const storage = new FileStorage(path);
  const alice = await online(await person("alice", { storage }));
  const bob = await online(await person("bob"));
  const room = await alice.rest.createGroup({ name: "Outbox", member_ids: [bob.user.id] });
  await alice.sendText(room.id, "while up");

  await node.stop();
  await until(() => !alice.connected, "alice noticing the node is gone");
  const queued = ["one", "two", "three"].map((text) => alice.sendText(room.id, text));
  await until(() => alice.queued().length === 3, "three queued");
  // The app is killed with its sends in flight: only the storage is left.
  await alice.close();
  for (const promise of queued) promise.catch(() => undefined);

  // One of them had reached the server before the ack was lost: its repeat is harmless.
  const stored = JSON.parse(await storage.getItem(`confab:${alice.user.id}:outbox`));
  assert.equal(stored.length, 3);

  await node.start();
  await alice.rest.send(room.id, stored[0]);

  const back = await ConfabClient.resume({ url: node.url, token: alice.token, storage });
  clients.push(back);
  await online(back);
  await until(() => back.queued().length === 0, "the outbox emptied");
  const history = (await back.rest.history(room.id)).messages.filter((m) => m.kind === "text");
  assert.deepEqual(history.map((m) => m.body), ["while up", "one", "two", "three"]);
  assert.equal(new Set(history.map((m) => m.client_id)).size, 4);
  // Bob's client, reconnected by itself, sees the same.
  await until(
    () => bob.timeline(room.id).visible().filter((m) => m.kind === "text").length === 4,
    "bob's client catching up",
  );
  assert.deepEqual(
    bob.timeline(room.id).visible().filter((m) => m.kind === "text").map((m) => m.body),
    ["while up", "one", "two", "three"],
  );
});

test("a send the server refuses for good leaves the outbox and says why", async () => {
  const alice = await online(await person("alice"));
  const stranger = await person("stranger");
  const room = await stranger.rest.createGroup({ name: "Private" });
  const failed = next(alice, "sendFailed");
  await assert.rejects(alice.sendText(room.id, "let me in"), (e) => e.code === "forbidden");
  assert.equal((await failed).body, "let me in");
  assert.equal(alice.queued().length, 0);
  // The queue goes on after it.
  const own = await alice.rest.createGroup({ name: "Mine" });
  assert.equal((await alice.sendText(own.id, "still working")).body, "still working");
});

test("a refused handshake is an unauthorized error", async () => {
  const alice = await person("alice");
  const stale = await ConfabClient.resume({ url: node.url, token: alice.token });
  clients.push(stale);
  await alice.rest.logout();
  const refused = next(stale, "error", (e) => e.code === "unauthorized");
  stale.connect();
  await refused;
});
