// Two nodes on the real services (Redis, Kafka, MongoDB, S3): people on different nodes
// talk through the client, and a node that goes away and comes back loses nothing.
// Skipped without the services, unless CONFAB_REQUIRE_SERVICES=1 (then it fails).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { ConfabClient } from "../dist/index.js";
import { Node, next, png, servicesAvailable, unique, until } from "./harness.mjs";

const available = servicesAvailable();
const nodes = [];
const clients = [];
before(async () => {
  if (!available) return;
  for (let i = 0; i < 2; i += 1) {
    nodes.push(await new Node({ services: true }).start());
  }
});
after(async () => {
  for (const client of clients) await client.close();
  for (const node of nodes) await node.destroy();
});

async function online(node, name) {
  const client = await ConfabClient.register({ url: node.url }, unique(name), "correct horse battery", name);
  clients.push(client);
  const connected = next(client, "connected");
  client.connect();
  await connected;
  return client;
}

const texts = (client, room) =>
  client.timeline(room).visible().filter((m) => m.kind === "text").map((m) => m.body);

test("two nodes: messages, changes and media cross nodes in order", { skip: !available && "no services" }, async () => {
  const [one, two] = nodes;
  const alice = await online(one, "alice");
  const bob = await online(two, "bob");
  const joined = next(bob, "room", (r) => r.name === "Across");
  const room = await alice.rest.createGroup({ name: "Across", member_ids: [bob.user.id] });
  await joined;

  const sent = [];
  for (let i = 0; i < 30; i += 1) {
    sent.push(alice.sendText(room.id, `from one ${i}`));
  }
  await Promise.all(sent);
  await until(() => texts(bob, room.id).length === 30, "bob receiving all 30 on the other node");
  assert.deepEqual(texts(bob, room.id), Array.from({ length: 30 }, (_, i) => `from one ${i}`));

  const answer = await bob.sendText(room.id, "from two");
  await until(() => alice.timeline(room.id).get(answer.id) !== undefined, "alice receiving bob's answer");
  await bob.react(room.id, answer.id, "🎉");
  await until(() => alice.timeline(room.id).get(answer.id).reactions.length === 1, "the reaction on node one");

  // A photo through S3: uploaded by presigned URL on node two, fetched on node one.
  const bytes = png(64, 48);
  const media = await bob.uploadMedia(bytes, { kind: "image", content_type: "image/png", width: 64, height: 48 });
  const photo = await bob.send(room.id, { kind: "image", media_id: media.id });
  await until(() => alice.timeline(room.id).get(photo.id) !== undefined, "the photo message on node one");
  assert.deepEqual(Buffer.from(await alice.rest.mediaBytes(media.id)), bytes);
});

test("two nodes: a node going away loses nothing of its user's outbox", { skip: !available && "no services" }, async () => {
  const [one, two] = nodes;
  const alice = await online(one, "alice");
  const bob = await online(two, "bob");
  const joined = next(bob, "room", (r) => r.name === "Failover");
  const room = await alice.rest.createGroup({ name: "Failover", member_ids: [bob.user.id] });
  await joined;

  await one.stop();
  await until(() => !alice.connected, "alice noticing node one is gone");
  const queued = ["a", "b", "c"].map((text) => alice.sendText(room.id, text));
  await one.start();
  await Promise.all(queued);
  await until(() => texts(bob, room.id).length === 3, "bob receiving the queued messages");
  assert.deepEqual(texts(bob, room.id), ["a", "b", "c"]);
  const history = (await bob.rest.history(room.id)).messages.filter((m) => m.kind === "text");
  assert.deepEqual(history.map((m) => m.body), ["a", "b", "c"]);
});
