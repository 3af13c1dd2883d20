// The previous official Node client (@eventstore/db-client 6.x, grpc-js only: reads too go
// through it) against a started `annals serve`. Run by grpc_node_test.sh.
"use strict";
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { randomUUID } = require("node:crypto");
const {
  EventStoreDBClient, jsonEvent, NO_STREAM, STREAM_EXISTS, START, END, BACKWARDS,
  streamNameFilter, persistentSubscriptionToStreamSettingsFromDefaults, StreamNotFoundError,
  StreamDeletedError, WrongExpectedVersionError,
} = require("@eventstore/db-client");
const { AnnalsServer } = require("./server");

let server;
let client;

before(async () => {
  server = new AnnalsServer();
  await server.start();
  client = EventStoreDBClient.connectionString(server.connectionString("esdb"));
});

after(async () => {
  if (client) await client.dispose();
  if (server) {
    await server.stop();
    server.cleanup();
  }
});

const unique = (prefix) => `${prefix}-${randomUUID().slice(0, 8)}`;
const event = (type, data = {}) => jsonEvent({ type, data });

async function collect(iterable) {
  const out = [];
  for await (const e of iterable) out.push(e);
  return out;
}

test("append, wrong expected version, read forwards and backwards", async () => {
  const s = unique("es");
  const a = await client.appendToStream(s, [event("A"), event("B")],
                                        { expectedRevision: NO_STREAM });
  assert.equal(a.nextExpectedRevision, 1n);
  await client.appendToStream(s, event("C"), { expectedRevision: STREAM_EXISTS });
  await client.appendToStream(s, event("D"), { expectedRevision: 2n });
  await assert.rejects(client.appendToStream(s, event("E"), { expectedRevision: 0n }),
                       WrongExpectedVersionError);
  const fwd = await collect(client.readStream(s));
  assert.deepEqual(fwd.map((e) => e.event.type), ["A", "B", "C", "D"]);
  const back = await collect(client.readStream(s, { fromRevision: END, direction: BACKWARDS,
                                                    maxCount: 2 }));
  assert.deepEqual(back.map((e) => e.event.revision), [3n, 2n]);
});

test("missing and tombstoned streams", async () => {
  await assert.rejects(collect(client.readStream(unique("missing"))), StreamNotFoundError);
  const s = unique("tomb");
  await client.appendToStream(s, event("A"));
  await client.tombstoneStream(s);
  await assert.rejects(collect(client.readStream(s)), StreamDeletedError);
});

test("read $all, subscribe to $all with a filter", async () => {
  const prefix = unique("esall");
  await client.appendToStream(`${prefix}-1`, [event("X"), event("Y")]);
  // 6.x reads of $all take no filter: the filter is only for the subscription below.
  const all = await collect(client.readAll({ maxCount: 10000 }));
  assert.equal(all.filter((e) => e.event?.streamId.startsWith(prefix)).length, 2);
  const sub = client.subscribeToAll({ fromPosition: START,
                                      filter: streamNameFilter({ prefixes: [prefix] }) });
  const got = [];
  for await (const e of sub) {
    got.push(e.event.type);
    if (got.length === 2) await client.appendToStream(`${prefix}-2`, event("Z"));
    if (got.length === 3) break;
  }
  assert.deepEqual(got, ["X", "Y", "Z"]);
});

test("stream metadata and a persistent subscription", async () => {
  const s = unique("esps");
  await client.appendToStream(s, [event("A"), event("B"), event("C")]);
  await client.setStreamMetadata(s, { maxCount: 2 });
  assert.equal((await client.getStreamMetadata(s)).metadata.maxCount, 2);
  const group = unique("g");
  await client.createPersistentSubscriptionToStream(
    s, group, persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }));
  const sub = client.subscribeToPersistentSubscriptionToStream(s, group);
  const got = [];
  for await (const e of sub) {
    got.push(e.event.type);
    await sub.ack(e);
    if (got.length === 2) break;
  }
  assert.deepEqual(got, ["B", "C"]);  // $maxCount hides A
  await client.deletePersistentSubscriptionToStream(s, group);
});
