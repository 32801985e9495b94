// Every REST call of the client against a real node, and the typed errors.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { ConfabClient, ConfabError, Rest } from "../dist/index.js";
import { Node, png, unique } from "./harness.mjs";

let node;
before(async () => {
  node = await new Node().start();
});
after(async () => {
  await node?.destroy();
});

async function person(name) {
  return await ConfabClient.register({ url: node.url }, unique(name), "correct horse battery", name);
}

test("accounts: register, login, profile, sessions, password, blocks, deletion", async () => {
  const alice = await person("alice");
  assert.equal(alice.user.display_name, "alice");
  assert.equal((await alice.rest.me()).id, alice.user.id);

  const again = await ConfabClient.login({ url: node.url }, alice.user.username, "correct horse battery");
  assert.notEqual(again.token, alice.token);
  const sessions = await alice.rest.sessions();
  assert.equal(sessions.length, 2);
  assert.equal(sessions.filter((s) => s.current).length, 1);

  const renamed = await alice.rest.updateMe({ display_name: "Alice A." });
  assert.equal(renamed.display_name, "Alice A.");
  const found = await alice.rest.searchUsers(alice.user.username.slice(0, 8));
  assert.ok(found.some((u) => u.id === alice.user.id));

  const bob = await person("bob");
  await alice.rest.blockUser(bob.user.id);
  assert.deepEqual((await alice.rest.blockedUsers()).map((u) => u.id), [bob.user.id]);
  await alice.rest.unblockUser(bob.user.id);
  assert.deepEqual(await alice.rest.blockedUsers(), []);

  // A new password ends every other session at once.
  await alice.rest.changePassword({
    current_password: "correct horse battery",
    new_password: "another good passphrase",
  });
  await assert.rejects(again.rest.me(), (e) => e instanceof ConfabError && e.code === "unauthorized" && e.status === 401);
  await assert.rejects(
    ConfabClient.login({ url: node.url }, alice.user.username, "correct horse battery"),
    (e) => e.code === "unauthorized",
  );

  const other = await ConfabClient.login({ url: node.url }, alice.user.username, "another good passphrase");
  const otherSession = (await alice.rest.sessions()).find((s) => !s.current);
  await alice.rest.endSession(otherSession.id);
  await assert.rejects(other.rest.me(), (e) => e.code === "unauthorized");

  await assert.rejects(bob.rest.deleteAccount("wrong password"), (e) => e.code === "forbidden");
  await bob.rest.deleteAccount("correct horse battery");
  await assert.rejects(bob.rest.me(), (e) => e.code === "unauthorized");

  await alice.rest.logout();
  await assert.rejects(alice.rest.me(), (e) => e.code === "unauthorized");
});

test("rooms: groups, members, roles, muting, direct rooms, invites", async () => {
  const alice = await person("alice");
  const bob = await person("bob");
  const carol = await person("carol");

  const group = await alice.rest.createGroup({ name: "Climbing", member_ids: [bob.user.id] });
  assert.equal(group.kind, "group");
  assert.equal(group.members.length, 2);
  assert.equal(group.members.find((m) => m.user.id === alice.user.id).role, "owner");

  const topic = await alice.rest.updateRoom(group.id, { topic: "Saturdays" });
  assert.equal(topic.topic, "Saturdays");
  const cleared = await alice.rest.updateRoom(group.id, { topic: null });
  assert.equal(cleared.topic, null);
  assert.equal(cleared.name, "Climbing");

  const promoted = await alice.rest.setRole(group.id, bob.user.id, "admin");
  assert.equal(promoted.members.find((m) => m.user.id === bob.user.id).role, "admin");
  const withCarol = await bob.rest.addMember(group.id, carol.user.id);
  assert.equal(withCarol.member_count, 3);
  const page = await alice.rest.members(group.id, { offset: 1, limit: 1 });
  assert.equal(page.total, 3);
  assert.equal(page.members.length, 1);

  const muted = await carol.rest.setMuted(group.id, true);
  assert.equal(muted.muted, true);
  await alice.rest.removeMember(group.id, carol.user.id);
  await assert.rejects(carol.rest.room(group.id), (e) => e.code === "forbidden" && e.status === 403);

  const invite = await alice.rest.createInvite(group.id, { max_uses: 1 });
  assert.equal(invite.room_id, group.id);
  assert.ok(invite.url.endsWith(`/invite/${invite.code}`));
  const preview = await carol.rest.previewInvite(invite.code);
  assert.equal(preview.room.name, "Climbing");
  const joined = await carol.rest.acceptInvite(invite.code);
  assert.equal(joined.id, group.id);
  const dave = await person("dave");
  await assert.rejects(dave.rest.acceptInvite(invite.code), (e) => e.code === "gone" && e.status === 410);
  const second = await alice.rest.createInvite(group.id);
  await alice.rest.revokeInvite(second.code);
  await assert.rejects(dave.rest.acceptInvite(second.code), (e) => e.code === "gone");

  await carol.rest.leave(group.id);
  assert.ok(!(await carol.rest.rooms()).some((r) => r.id === group.id));

  const direct = await alice.rest.openDirect(bob.user.id);
  assert.equal(direct.kind, "direct");
  assert.equal((await bob.rest.openDirect(alice.user.id)).id, direct.id);
  const rooms = await alice.rest.rooms();
  assert.deepEqual(new Set(rooms.map((r) => r.id)), new Set([group.id, direct.id]));
});

test("messages: REST send is idempotent, history pages, search", async () => {
  const alice = await person("alice");
  const room = await alice.rest.createGroup({ name: "Notes" });
  const first = await alice.rest.send(room.id, { client_id: crypto.randomUUID(), kind: "text", body: "the quick brown fox" });
  const clientId = crypto.randomUUID();
  const second = await alice.rest.send(room.id, { client_id: clientId, kind: "text", body: "jumps over" });
  const repeat = await alice.rest.send(room.id, { client_id: clientId, kind: "text", body: "jumps over" });
  assert.equal(repeat.id, second.id);
  assert.equal(second.seq, first.seq + 1);

  const newest = await alice.rest.history(room.id, { limit: 1 });
  assert.deepEqual(newest.messages.map((m) => m.id), [second.id]);
  assert.equal(newest.has_more, true);
  const before = await alice.rest.history(room.id, { before_seq: second.seq });
  assert.ok(before.messages.some((m) => m.id === first.id));

  const hits = await alice.rest.search({ q: "fox" });
  assert.deepEqual(hits.messages.map((m) => m.id), [first.id]);
  const inRoom = await alice.rest.search({ q: "jumps", room_id: room.id });
  assert.deepEqual(inRoom.messages.map((m) => m.id), [second.id]);

  await assert.rejects(
    alice.rest.send(room.id, { client_id: crypto.randomUUID(), kind: "text", body: "   " }),
    (e) => e.code === "bad_request" && e.status === 400,
  );
});

test("media: an upload with progress, sent in a message, fetched back; push registration", async () => {
  const alice = await person("alice");
  const room = await alice.rest.createGroup({ name: "Photos" });
  const bytes = png(320, 200);
  const progress = [];
  const media = await alice.uploadMedia(bytes, { kind: "image", content_type: "image/png", width: 320, height: 200 }, (sent, total) =>
    progress.push([sent, total]),
  );
  assert.equal(media.bytes, bytes.length);
  assert.ok(progress.length >= 1);
  assert.deepEqual(progress.at(-1), [bytes.length, bytes.length]);
  const message = await alice.rest.send(room.id, { client_id: crypto.randomUUID(), kind: "image", media_id: media.id, body: "a gradient" });
  assert.equal(message.media.id, media.id);
  assert.deepEqual(Buffer.from(await alice.rest.mediaBytes(media.id)), bytes);

  // A stranger may not fetch it.
  const mallory = await person("mallory");
  await assert.rejects(mallory.rest.mediaBytes(media.id), (e) => e instanceof ConfabError && e.code === "forbidden");

  // Declared bigger than the limit: refused before any upload.
  await assert.rejects(
    alice.rest.createMedia({ kind: "image", content_type: "image/png", bytes: 1e12 }),
    (e) => e.code === "payload_too_large",
  );

  const key = await new Rest(node.url).vapidPublicKey();
  assert.match(key, /^[A-Za-z0-9_-]{87}$/);
  const token = `ExponentPushToken[${unique("t")}]`;
  const created = await alice.registerPush({ kind: "expo", token });
  const repeat = await alice.registerPush({ kind: "expo", token });
  assert.equal(repeat.id, created.id);
  await alice.rest.unregisterPush(created.id);
  await assert.rejects(alice.rest.unregisterPush(created.id), (e) => e.code === "not_found");
});

test("the outbox waits out the send rate limit and keeps the order", async () => {
  const alice = await person("alice");
  const room = await alice.rest.createGroup({ name: "Busy" });
  const connected = new Promise((resolve) => alice.on("connected", resolve));
  alice.connect();
  await connected;
  try {
    // The node takes 30 sends per user per 10 s: the rest wait and go out in order.
    const sent = await Promise.all(Array.from({ length: 35 }, (_, i) => alice.sendText(room.id, `burst ${i}`)));
    assert.deepEqual(sent.map((m) => m.body), Array.from({ length: 35 }, (_, i) => `burst ${i}`));
    const seqs = sent.map((m) => m.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i));
  } finally {
    await alice.close();
  }
});

test("a network failure is a retryable ConfabError", async () => {
  const rest = new Rest("http://127.0.0.1:9");
  await assert.rejects(rest.me(), (e) => e instanceof ConfabError && e.code === "network" && e.retryable);
});
