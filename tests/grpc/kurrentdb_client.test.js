// The official KurrentDB Node client (@kurrent/kurrentdb-client) against a started
// `annals serve`: gRPC over the HTTP port (h2c). Appends and subscriptions go through grpc-js,
// readStream/readAll through the client's Rust bridge (its own HTTP/2 stack), so both are
// exercised. Run by grpc_node_test.sh (CTest: grpc_node_client).
"use strict";
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { randomUUID } = require("node:crypto");
const {
  KurrentDBClient, jsonEvent, binaryEvent, ANY, NO_STREAM, STREAM_EXISTS, START, END, FORWARDS,
  BACKWARDS, streamNameFilter, eventTypeFilter, persistentSubscriptionToStreamSettingsFromDefaults,
  persistentSubscriptionToAllSettingsFromDefaults, PARK, RETRY, SKIP, STOP, StreamNotFoundError, StreamDeletedError, WrongExpectedVersionError, AccessDeniedError,
} = require("@kurrent/kurrentdb-client");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const { AnnalsServer } = require("./server");

let server;
let client;

before(async () => {
  server = new AnnalsServer();
  await server.start();
  client = KurrentDBClient.connectionString(server.connectionString());
});

after(async () => {
  if (client) await client.dispose();
  if (server) {
    await server.stop();
    server.cleanup();
  }
});

const unique = (prefix) => `${prefix}-${randomUUID().slice(0, 8)}`;
const event = (type, data = {}, id) => jsonEvent({ type, data, ...(id ? { id } : {}) });

async function collect(iterable) {
  const out = [];
  for await (const e of iterable) out.push(e);
  return out;
}

// Resolves with the first `n` events of a subscription (and the events that came before).
function take(subscription, n, onEvent = () => {}) {
  return new Promise((resolve, reject) => {
    const got = [];
    subscription.on("data", (e) => {
      onEvent(e);
      got.push(e);
      if (got.length === n) resolve(got);
    });
    subscription.on("error", reject);
  });
}

test("append with every expected-revision kind", async () => {
  const s = unique("kinds");
  const a = await client.appendToStream(s, event("A"), { streamState: NO_STREAM });
  assert.equal(a.success, true);
  assert.equal(a.nextExpectedRevision, 0n);
  assert.equal(a.position.commit, a.position.prepare);
  const b = await client.appendToStream(s, [event("B"), event("C")], { streamState: 0n });
  assert.equal(b.nextExpectedRevision, 2n);
  assert.ok(b.position.commit > a.position.commit);
  const c = await client.appendToStream(s, event("D"), { streamState: STREAM_EXISTS });
  assert.equal(c.nextExpectedRevision, 3n);
  const d = await client.appendToStream(s, event("E"), { streamState: ANY });
  assert.equal(d.nextExpectedRevision, 4n);
});

test("wrong expected version", async () => {
  const s = unique("wev");
  await client.appendToStream(s, event("A"));
  await assert.rejects(client.appendToStream(s, event("B"), { streamState: 5n }), (e) => {
    assert.ok(e instanceof WrongExpectedVersionError, e.message);
    assert.equal(e.actualState, 0n);
    assert.equal(e.expectedState, 5n);
    return true;
  });
  await assert.rejects(client.appendToStream(s, event("B"), { streamState: NO_STREAM }),
                       WrongExpectedVersionError);
  await assert.rejects(client.appendToStream(unique("none"), event("B"),
                                             { streamState: STREAM_EXISTS }),
                       WrongExpectedVersionError);
});

test("an append repeated with the same event ids gets the same answer", async () => {
  const s = unique("idem");
  const events = [event("A", {}, randomUUID()), event("B", {}, randomUUID())];
  const first = await client.appendToStream(s, events, { streamState: NO_STREAM });
  const again = await client.appendToStream(s, events, { streamState: NO_STREAM });
  assert.equal(again.nextExpectedRevision, first.nextExpectedRevision);
  assert.deepEqual(again.position, first.position);
  assert.equal((await collect(client.readStream(s))).length, 2);
});

test("read a stream forwards and backwards (Rust bridge)", async () => {
  const s = unique("read");
  const ids = [];
  for (let i = 0; i < 5; i++) {
    const id = randomUUID();
    ids.push(id);
    await client.appendToStream(s, jsonEvent({ id, type: `T${i}`, data: { i },
                                                metadata: { by: "test" } }));
  }
  const fwd = await collect(client.readStream(s, { fromRevision: START, direction: FORWARDS }));
  assert.deepEqual(fwd.map((e) => e.event.id), ids);
  assert.deepEqual(fwd.map((e) => e.event.revision), [0n, 1n, 2n, 3n, 4n]);
  assert.deepEqual(fwd[2].event.data, { i: 2 });
  assert.deepEqual(fwd[2].event.metadata, { by: "test" });
  assert.equal(fwd[2].event.type, "T2");
  assert.equal(fwd[2].event.streamId, s);
  assert.equal(fwd[2].event.isJson, true);
  assert.ok(fwd[2].event.created);
  const some = await collect(client.readStream(s, { fromRevision: 1n, maxCount: 2 }));
  assert.deepEqual(some.map((e) => e.event.revision), [1n, 2n]);
  const back = await collect(client.readStream(s, { fromRevision: END, direction: BACKWARDS,
                                                    maxCount: 3 }));
  assert.deepEqual(back.map((e) => e.event.revision), [4n, 3n, 2n]);
});

test("reading a missing stream and a tombstoned stream", async () => {
  await assert.rejects(collect(client.readStream(unique("missing"))), StreamNotFoundError);
  const s = unique("tomb");
  await client.appendToStream(s, event("A"));
  await client.tombstoneStream(s);
  await assert.rejects(collect(client.readStream(s)), StreamDeletedError);
  await assert.rejects(client.appendToStream(s, event("B")), StreamDeletedError);
});

test("soft delete: reads say not found, an append recreates the stream", async () => {
  const s = unique("soft");
  await client.appendToStream(s, [event("A"), event("B")]);
  await client.deleteStream(s, { expectedRevision: 1n });
  await assert.rejects(collect(client.readStream(s)), StreamNotFoundError);
  const r = await client.appendToStream(s, event("C"));
  assert.equal(r.nextExpectedRevision, 2n);
  const events = await collect(client.readStream(s));
  assert.deepEqual(events.map((e) => e.event.type), ["C"]);
  await assert.rejects(client.deleteStream(s, { expectedRevision: 7n }), WrongExpectedVersionError);
});

test("read $all with stream and event type filters", async () => {
  const prefix = unique("allf");
  await client.appendToStream(`${prefix}-1`, [event("Alpha"), event("Beta")]);
  await client.appendToStream(`${prefix}-2`, [event("Alpha")]);
  const byStream = await collect(client.readAll({
    filter: streamNameFilter({ prefixes: [prefix] }), maxCount: 100 }));
  assert.equal(byStream.length, 3);
  const byType = await collect(client.readAll({
    filter: eventTypeFilter({ regex: "^Be" }), maxCount: 1000 }));
  assert.ok(byType.some((e) => e.event.streamId === `${prefix}-1` && e.event.type === "Beta"));
  assert.ok(byType.every((e) => e.event.type.startsWith("Be")));
  const back = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END,
                                              maxCount: 3 }));
  assert.equal(back.length, 3);
  assert.ok(back[0].event.position.commit > back[2].event.position.commit);
});

test("subscribe to a stream: catch-up, caught-up, then live", async () => {
  const s = unique("sub");
  await client.appendToStream(s, [event("A"), event("B")]);
  const sub = client.subscribeToStream(s, { fromRevision: START });
  let caughtUp = false;
  const done = take(sub, 4, (e) => {
    if (e.event.type === "C") assert.equal(caughtUp, true);
  });
  await new Promise((resolve) => sub.once("caughtUp", () => { caughtUp = true; resolve(); }));
  await client.appendToStream(s, [event("C"), event("D")]);
  const got = await done;
  assert.deepEqual(got.map((e) => e.event.type), ["A", "B", "C", "D"]);
  await sub.unsubscribe();
});

test("a subscription from revision 2^64-1 or beyond the end waits for new events", async () => {
  const s = unique("subfar");
  await client.appendToStream(s, [event("A"), event("B"), event("C")]);
  // UINT64_MAX is the protocol's "none": nothing follows it (r + 1 must not wrap to 0).
  for (const fromRevision of [2n ** 64n - 1n, 2n ** 64n - 2n, 10n]) {
    const sub = client.subscribeToStream(s, { fromRevision });
    const got = [];
    sub.on("data", (e) => got.push(e.event.type));
    const info = await new Promise((resolve, reject) => {
      sub.once("caughtUp", resolve);
      sub.on("error", reject);
    });
    // Caught up with the stream's last revision, whatever the start.
    assert.equal(info.revision, 2n, `from ${fromRevision}`);
    assert.deepEqual(got, [], `from ${fromRevision}`);
    await sub.unsubscribe();
  }
  const live = client.subscribeToStream(s, { fromRevision: 2n ** 64n - 1n });
  const first = take(live, 1);
  await new Promise((resolve) => live.once("caughtUp", resolve));
  await client.appendToStream(s, event("D"));
  const [d] = await first;
  assert.equal(d.event.type, "D");
  assert.equal(d.event.revision, 3n);
  await live.unsubscribe();
});

test("subscribe to $all with a filter: events and checkpoints", async () => {
  const prefix = unique("suball");
  const checkpoints = [];
  const sub = client.subscribeToAll({
    fromPosition: START,
    filter: streamNameFilter({ prefixes: [prefix], checkpointInterval: 1,
                               checkpointReached: (_s, p) => { checkpoints.push(p.commit); } }),
  });
  const done = take(sub, 3);
  await client.appendToStream(`${prefix}-a`, [event("X"), event("Y")]);
  for (let i = 0; i < 40; i++) await client.appendToStream(unique("noise"), event("N"));
  await client.appendToStream(`${prefix}-b`, event("Z"));
  const got = await done;
  assert.deepEqual(got.map((e) => e.event.type), ["X", "Y", "Z"]);
  assert.ok(checkpoints.length > 0, "no checkpoint was sent");
  for (let i = 1; i < checkpoints.length; i++) assert.ok(checkpoints[i] >= checkpoints[i - 1]);
  await sub.unsubscribe();
});

test("stream metadata through $$stream", async () => {
  const s = unique("meta");
  await client.appendToStream(s, [event("A"), event("B"), event("C")]);
  await client.setStreamMetadata(s, { maxCount: 2, owner: "billing" });
  const md = await client.getStreamMetadata(s);
  assert.equal(md.metadata.maxCount, 2);
  assert.equal(md.metadata.owner, "billing");
  const events = await collect(client.readStream(s));
  assert.deepEqual(events.map((e) => e.event.type), ["B", "C"]);
});

test("concurrent writers with exact expected revisions: exactly one wins each round", async () => {
  const s = unique("race");
  await client.appendToStream(s, event("Init"));
  for (let round = 0; round < 5; round++) {
    const expected = BigInt(round);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => client.appendToStream(s, event("W"),
                                                            { streamState: expected })));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  }
  const writes = await Promise.all(Array.from({ length: 50 }, () =>
    client.appendToStream(s, event("Any"))));
  assert.equal(new Set(writes.map((w) => w.nextExpectedRevision)).size, 50);
});

test("a 16 MiB event round-trips", async () => {
  const s = unique("big");
  const data = Buffer.alloc(16 * 1024 * 1024 - 4096, 7);
  await client.appendToStream(s, binaryEvent({ type: "Big", data }));
  const [e] = await collect(client.readStream(s));
  assert.equal(e.event.data.length, data.length);
  assert.ok(Buffer.from(e.event.data).equals(data));
});

test("persistent subscription: create, read, ack, nack park and retry, replay, info, list",
     async () => {
  const s = unique("ps");
  const group = unique("group");
  await client.appendToStream(s, [event("One"), event("Two"), event("Three")]);
  await client.createPersistentSubscriptionToStream(
    s, group, persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }));
  const sub = client.subscribeToPersistentSubscriptionToStream(s, group);
  const seen = [];
  let retried = false;
  let parkedReplayed = null;
  const done = new Promise((resolve, reject) => {
    sub.on("error", reject);
    sub.on("data", async (e) => {
      seen.push(`${e.event.type}:${e.retryCount}`);
      if (e.event.type === "Two" && !retried) {
        retried = true;
        await sub.nack(RETRY, "try again", e);
      } else if (e.event.type === "Three" && parkedReplayed === null) {
        parkedReplayed = false;
        await sub.nack(PARK, "poison", e);
        setTimeout(async () => {
          try {
            await client.replayParkedMessagesToStream(s, group);
          } catch (err) {
            reject(err);
          }
        }, 300);
      } else {
        await sub.ack(e);
        if (e.event.type === "Three") {
          parkedReplayed = true;
          resolve();
        }
      }
    });
  });
  await done;
  assert.ok(seen.includes("One:0"));
  assert.ok(seen.includes("Two:0"));
  assert.ok(seen.some((x) => x.startsWith("Two:") && x !== "Two:0"), seen.join(","));
  const info = await client.getPersistentSubscriptionToStreamInfo(s, group);
  assert.equal(info.groupName, group);
  assert.equal(info.eventSource, s);
  const all = await client.listAllPersistentSubscriptions();
  assert.ok(all.some((i) => i.groupName === group));
  const forStream = await client.listPersistentSubscriptionsToStream(s);
  assert.deepEqual(forStream.map((i) => i.groupName), [group]);
  await sub.unsubscribe();
  await client.deletePersistentSubscriptionToStream(s, group);
  await assert.rejects(client.getPersistentSubscriptionToStreamInfo(s, group));
});

// Appends one event through a client of `connectionString` and reads it back.
async function appendAndReadThrough(connectionString, prefix) {
  const other = KurrentDBClient.connectionString(connectionString);
  try {
    const s = unique(prefix);
    await other.appendToStream(s, event("A"));
    assert.equal((await collect(other.readStream(s))).length, 1);
  } finally {
    await other.dispose();
  }
}

test("esdb:// connection strings work too", async () => {
  await appendAndReadThrough(server.connectionString("esdb"), "esdb");
});

test("discovery (+discover) connects to the endpoint Gossip advertises", async () => {
  // The server listens on a port chosen at bind: Gossip must give that one, not 2113.
  await appendAndReadThrough(`kurrentdb+discover://${server.address}?tls=false` +
                                 "&discoveryInterval=100&maxDiscoverAttempts=3",
                             "discover");
});

test("Basic credentials in insecure mode do not get in the way (Append, not BatchAppend)",
     async () => {
  const withCreds = KurrentDBClient.connectionString(
    `kurrentdb://admin:changeit@${server.address}?tls=false`);
  try {
    const s = unique("creds");
    const r = await withCreds.appendToStream(s, [event("A"), event("B")],
                                             { streamState: NO_STREAM });
    assert.equal(r.nextExpectedRevision, 1n);
    await assert.rejects(withCreds.appendToStream(s, event("C"), { streamState: 0n }),
                         WrongExpectedVersionError);
    const events = await collect(withCreds.readStream(s));
    assert.deepEqual(events.map((e) => e.event.type), ["A", "B"]);
  } finally {
    await withCreds.dispose();
  }
});

// Without TLS grpc-js sends no call credentials (KurrentDB has no such mode: secure means
// TLS), so only the Rust bridge's reads carry them here.
test("with users configured: credentials are checked, anonymous calls refused", async () => {
  const bin = path.join(process.env.ANNALS_BIN, "annals");
  const secured = new AnnalsServer();
  const users = path.join(secured.dataDir, "users.toml");
  execFileSync(bin, ["user", "add", "admin", "--users-file", users, "--role", "admin",
                     "--password", "changeit"]);
  secured.args = ["--users-file", users];
  await secured.start();
  const s = unique("secured");
  const res = await fetch(`http://${secured.address}/streams/${s}`, {
    method: "POST",
    headers: { "Content-Type": "application/json",
               Authorization: "Basic " + Buffer.from("admin:changeit").toString("base64") },
    body: JSON.stringify({ events: [{ type: "A", data: {} }] }),
  });
  assert.equal(res.status, 201, await res.text());
  const as = (who) => KurrentDBClient.connectionString(
    `kurrentdb://${who}@${secured.address}?tls=false`);
  const admin = as("admin:changeit");
  const wrong = as("admin:wrong");
  const anonymous = KurrentDBClient.connectionString(secured.connectionString());
  try {
    assert.equal((await collect(admin.readStream(s))).length, 1);
    await assert.rejects(collect(wrong.readStream(s)));
    await assert.rejects(collect(anonymous.readStream(s)));
    await assert.rejects(anonymous.appendToStream(s, event("B")), AccessDeniedError);
  } finally {
    for (const c of [admin, wrong, anonymous]) await c.dispose();
    await secured.stop();
    secured.cleanup();
  }
});

test("the server restarted under a subscribed client", async () => {
  const srv = new AnnalsServer();
  await srv.start();
  const c = KurrentDBClient.connectionString(srv.connectionString());
  try {
    const s = unique("restart");
    await c.appendToStream(s, [event("A"), event("B")]);
    const sub = c.subscribeToStream(s, { fromRevision: START });
    const got = [];
    const ended = new Promise((resolve) => {
      sub.on("error", resolve);
      sub.on("end", resolve);
      sub.on("close", resolve);
    });
    await new Promise((resolve) => sub.on("data", (e) => {
      got.push(e);
      if (got.length === 2) resolve();
    }));
    await srv.restart();
    await ended;  // the subscription ends with the server
    // The client reconnects on its own; a new subscription resumes after the last event.
    await c.appendToStream(s, event("C"));
    const again = c.subscribeToStream(s, { fromRevision: got[1].event.revision });
    const [next] = await take(again, 1);
    assert.equal(next.event.type, "C");
    assert.equal(next.event.revision, 2n);
    await again.unsubscribe();
  } finally {
    await c.dispose();
    await srv.stop();
    srv.cleanup();
  }
});

test("TLS: h2 by ALPN on the HTTPS port (tls=true&tlsCAFile=...)", async () => {
  const secured = new AnnalsServer();
  // A CA and a server certificate it signed (the Rust stack refuses a CA as the server's).
  const file = (name) => path.join(secured.dataDir, name);
  const ssl = (...args) => execFileSync("openssl", args, { stdio: "ignore" });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
      "-keyout", file("ca.key"), "-out", file("ca.pem"));
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
      "-keyout", file("key.pem"), "-out", file("server.csr"));
  fs.writeFileSync(file("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n" +
                   "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  ssl("x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
      "-CAcreateserial", "-days", "2", "-extfile", file("ext.cnf"), "-out", file("cert.pem"));
  const cert = file("cert.pem");
  const key = file("key.pem");
  secured.args = ["--tls-cert", cert, "--tls-key", key];
  await secured.start();
  const c = KurrentDBClient.connectionString(
    `kurrentdb://localhost:${secured.port}?tls=true&tlsCAFile=${file("ca.pem")}`);
  try {
    const s = unique("tls");
    await c.appendToStream(s, [event("A"), event("B")]);
    const events = await collect(c.readStream(s));
    assert.deepEqual(events.map((e) => e.event.type), ["A", "B"]);
    const sub = c.subscribeToStream(s, { fromRevision: START });
    const got = await take(sub, 2);
    assert.equal(got.length, 2);
    await sub.unsubscribe();
  } finally {
    await c.dispose();
    await secured.stop();
    secured.cleanup();
  }
});

test("persistent subscription to $all with a filter; update; nack skip", async () => {
  const prefix = unique("psall");
  const group = unique("allgroup");
  await client.createPersistentSubscriptionToAll(
    group, persistentSubscriptionToAllSettingsFromDefaults({ startFrom: START }),
    { filter: streamNameFilter({ prefixes: [prefix] }) });
  await client.updatePersistentSubscriptionToAll(
    group, persistentSubscriptionToAllSettingsFromDefaults({ startFrom: START,
                                                             maxRetryCount: 3 }));
  await client.appendToStream(`${prefix}-1`, [event("P"), event("Q")]);
  await client.appendToStream(unique("other"), event("Noise"));
  await client.appendToStream(`${prefix}-2`, event("R"));
  const sub = client.subscribeToPersistentSubscriptionToAll(group);
  const got = [];
  for await (const e of sub) {
    got.push(e.event.type);
    if (e.event.type === "Q") {
      await sub.nack(SKIP, "not needed", e);
    } else {
      await sub.ack(e);
    }
    if (got.length === 3) break;
  }
  assert.deepEqual(got, ["P", "Q", "R"]);
  const info = await client.getPersistentSubscriptionToAllInfo(group);
  assert.equal(info.settings.maxRetryCount, 3);
  await client.deletePersistentSubscriptionToAll(group);
});

test("persistent subscription to $all with a stream name regex; nack STOP", async () => {
  const tag = `rx${randomUUID().slice(0, 8)}`;
  const group = unique("regexgroup");
  await client.createPersistentSubscriptionToAll(
    group, persistentSubscriptionToAllSettingsFromDefaults({ startFrom: START }),
    { filter: streamNameFilter({ regex: `^${tag}-(a|c)$` }) });
  for (const name of ["a", "b", "c", "cc"]) {
    await client.appendToStream(`${tag}-${name}`, event(name.toUpperCase()));
  }
  // STOP: the nacked event is not lost (it is retried), and this subscription is handed
  // nothing more until it ends.
  const first = client.subscribeToPersistentSubscriptionToAll(group);
  const got = [];
  try {
    await new Promise((resolve, reject) => {
      first.on("error", reject);
      first.on("data", async (e) => {
        got.push(`${e.event.type}:${e.retryCount}`);
        if (e.event.type === "C") {
          await first.nack(STOP, "stopping", e);
          resolve();
        } else {
          await first.ack(e);
        }
      });
    });
    // The nack is on its way; once the server has it, nothing is in flight (C waits for a
    // consumer).
    const deadline = Date.now() + 5000;
    while ((await client.getPersistentSubscriptionToAllInfo(group)).stats.totalInFlightMessages) {
      assert.ok(Date.now() < deadline, "the nack never arrived");
      await new Promise((r) => setTimeout(r, 20));
    }
    await client.appendToStream(`${tag}-a`, event("A2"));
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(got, ["A:0", "C:0"]);
  } finally {
    await first.unsubscribe();
  }
  const second = client.subscribeToPersistentSubscriptionToAll(group);
  try {
    const again = await take(second, 2, (e) => second.ack(e));
    const seen = again.map((e) => `${e.event.type}:${e.retryCount}`).sort();
    // C: the stop's nack counted once; nothing for the stopped call.
    assert.deepEqual(seen, ["A2:0", "C:1"]);
  } finally {
    await second.unsubscribe();
  }
  const info = await client.getPersistentSubscriptionToAllInfo(group);
  assert.equal(info.groupName, group);
  await client.deletePersistentSubscriptionToAll(group);
});

test("maxSubscriberCount: a subscriber over the limit is refused", async () => {
  const s = unique("maxsub");
  const group = unique("group");
  await client.appendToStream(s, event("X"));
  await client.createPersistentSubscriptionToStream(
    s, group, persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START,
                                                                  maxSubscriberCount: 1 }));
  const info = await client.getPersistentSubscriptionToStreamInfo(s, group);
  assert.equal(info.settings.maxSubscriberCount, 1);
  const first = client.subscribeToPersistentSubscriptionToStream(s, group);
  try {
    await take(first, 1);  // connected and counted
    const over = client.subscribeToPersistentSubscriptionToStream(s, group);
    await assert.rejects(collect(over), (err) => {
      assert.equal(err.type, "maximum-subscribers-reached", String(err));
      assert.equal(err.groupName, group);
      return true;
    });
  } finally {
    await first.unsubscribe();
  }
  // The slot frees when the server sees the call end; the unacked event goes to the next one.
  const deadline = Date.now() + 10000;
  for (;;) {
    const next = client.subscribeToPersistentSubscriptionToStream(s, group);
    try {
      const [e] = await take(next, 1, (x) => next.ack(x));
      assert.equal(e.event.type, "X");
      assert.ok(e.retryCount >= 1, `retryCount ${e.retryCount}`);
      await next.unsubscribe();
      break;
    } catch (err) {
      if (err.type !== "maximum-subscribers-reached" || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await client.deletePersistentSubscriptionToStream(s, group);
});

test("a subscription to a missing stream waits for it", async () => {
  const s = unique("later");
  const sub = client.subscribeToStream(s, { fromRevision: START });
  await new Promise((resolve) => sub.once("caughtUp", resolve));
  await client.appendToStream(s, event("First"));
  const [e] = await take(sub, 1);
  assert.equal(e.event.type, "First");
  await sub.unsubscribe();
});

test("a filtered $all subscription resumes after a checkpoint without losing events",
     async () => {
  const prefix = unique("resume");
  let checkpoint;
  const first = client.subscribeToAll({
    fromPosition: START,
    filter: streamNameFilter({ prefixes: [prefix], maxSearchWindow: 4,
                               checkpointReached: (_s, p) => { checkpoint = p; } }),
  });
  await new Promise((resolve) => first.once("caughtUp", resolve));
  for (let i = 0; i < 12; i++) await client.appendToStream(unique("noise"), event("N"));
  while (!checkpoint) await new Promise((r) => setTimeout(r, 20));
  await first.unsubscribe();
  await client.appendToStream(`${prefix}-x`, event("After"));
  const again = client.subscribeToAll({ fromPosition: checkpoint,
                                        filter: streamNameFilter({ prefixes: [prefix] }) });
  const [e] = await take(again, 1);
  assert.equal(e.event.type, "After");
  await again.unsubscribe();
});
