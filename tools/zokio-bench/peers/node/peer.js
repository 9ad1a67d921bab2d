#!/usr/bin/env node
// zokio-bench-peer-node: the Node.js peer of zokio-bench (../PROTOCOL.md), CommonJS, no npm
// packages. One JavaScript thread and its libuv event loop; README.md maps every workload to the
// function here and says what is left out.
//
//   zokio-bench-peer-node --version | --list
//   zokio-bench-peer-node --run WORKLOAD --size N [--workers W]
//   zokio-bench-peer-node --serve http --port P [--workers W]
//
// Vocabulary (the analogue of each runtime notion, decided once for every workload):
// - task: an async function started by spawn(), which queues it as a microtask and returns its
//   promise (the join handle). The body never runs inline in the spawner.
// - yield: `await new Promise(setImmediate)`, a macrotask. A scheduler's yield lets the rest of
//   the runtime (other tasks, I/O, timers) run before the task continues. A microtask "yield"
//   (`await null`) does not: Node drains the whole microtask queue before the event loop moves
//   on, so 64 tasks looping on it would starve timers and sockets forever.
// - oneshot: a Promise and its resolve function.
// - channel: Channel below, a small hand-written async queue (Node has none).
// - semaphore: Semaphore below, hand-written for the same reason.
// The measured part is timed with process.hrtime.bigint(). Every run checks its counts (and sums
// where there are sums): exit 1 with one line on stderr when wrong, exit 2 on bad usage.
'use strict';

const cluster = require('cluster');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');

const PROG = 'zokio-bench-peer-node';
let workloadName = '';

class CheckFailed extends Error {}
class UsageError extends Error {}

// A failure outside a promise chain (a socket's 'error' event): one line, exit 1 at once.
function fatal(what) {
  process.stderr.write(`${PROG}: ${workloadName}: ${what}\n`);
  process.exit(1);
}

function check(ok, what) {
  if (!ok) throw new CheckFailed(what);
}

const now = () => process.hrtime.bigint();

// --- vocabulary -----------------------------------------------------------------------------

// fn(arg) runs as a microtask; the promise of its result is the join handle.
function spawn(fn, arg) {
  return Promise.resolve(arg).then(fn);
}

const yieldNow = () => new Promise(setImmediate);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function oneshot() {
  let send;
  const recv = new Promise((resolve) => {
    send = resolve;
  });
  return { send, recv };
}

// FIFO of values or waiters: an array with a moving head, compacted now and then.
class Fifo {
  constructor() {
    this.items = [];
    this.head = 0;
  }
  get length() {
    return this.items.length - this.head;
  }
  push(v) {
    this.items.push(v);
  }
  shift() {
    const v = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
}

// A multi-producer channel, bounded (capacity) or unbounded (Infinity). send() of a bounded
// channel waits while it is full; recv() waits while it is empty.
class Channel {
  constructor(capacity = Infinity) {
    this.capacity = capacity;
    this.buffer = new Fifo();
    this.receivers = new Fifo(); // resolve functions of recv() calls waiting for a value
    this.senders = new Fifo(); // resolve functions of send() calls waiting for room
  }
  // Unbounded: never waits, so it is synchronous as in Tokio's unbounded_channel.
  trySend(v) {
    if (this.receivers.length > 0) {
      this.receivers.shift()(v);
      return true;
    }
    if (this.buffer.length >= this.capacity) return false;
    this.buffer.push(v);
    return true;
  }
  async send(v) {
    while (!this.trySend(v)) {
      await new Promise((resolve) => this.senders.push(resolve));
    }
  }
  recv() {
    if (this.buffer.length > 0) {
      const v = this.buffer.shift();
      if (this.senders.length > 0) this.senders.shift()();
      return Promise.resolve(v);
    }
    return new Promise((resolve) => this.receivers.push(resolve));
  }
}

class Semaphore {
  constructor(permits) {
    this.permits = permits;
    this.waiters = new Fifo();
  }
  acquire() {
    if (this.permits > 0) {
      this.permits--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  release() {
    if (this.waiters.length > 0) this.waiters.shift()();
    else this.permits++;
  }
}

// Splits n over k parts as evenly as possible (part i gets one more while i < n % k).
const share = (n, k, i) => Math.floor(n / k) + (i < n % k ? 1 : 0);

// Spawns k tasks that share n units of work between them; the promise of all of them.
const spawnShares = (k, n, task) =>
  Promise.all(Array.from({ length: k }, (_, i) => spawn(task, share(n, k, i))));

// --- runtime --------------------------------------------------------------------------------

async function spawnManyLocal(n) {
  const t0 = now();
  let left = n;
  const done = oneshot();
  const task = async () => {
    if (--left === 0) done.send();
  };
  for (let i = 0; i < n; i++) spawn(task);
  await done.recv;
  const t1 = now();
  check(left === 0, `${left} tasks never ran`);
  return { ops: n, ns: t1 - t0 };
}

// N tasks parked on one promise; the RSS growth while all are parked, per task (the heap the
// warm-up left may absorb part of it: V8 does not give memory back at once).
async function parkMemory(n) {
  let parked = 0;
  let left = n;
  const go = oneshot();
  const done = oneshot();
  const task = async () => {
    parked++;
    await go.recv;
    if (--left === 0) done.send();
  };
  const rss0 = process.memoryUsage.rss();
  const t0 = now();
  for (let i = 0; i < n; i++) spawn(task);
  while (parked !== n) await yieldNow();
  const t1 = now();
  const rss1 = process.memoryUsage.rss();
  go.send();
  await done.recv;
  check(left === 0, `${left} parked tasks never finished`);
  return { ops: n, ns: t1 - t0, extra: { rss_growth_bytes: rss1 - rss0 } };
}

async function spawnJoin(n) {
  const t0 = now();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await spawn(async (v) => v, i);
  const t1 = now();
  check(sum === (n * (n - 1)) / 2, `joined values sum to ${sum}`);
  return { ops: n, ns: t1 - t0 };
}

async function yieldMany(n) {
  const tasks = 200;
  let yields = 0;
  const task = async (count) => {
    for (let i = 0; i < count; i++) {
      await yieldNow();
      yields++;
    }
  };
  const t0 = now();
  await spawnShares(tasks, n, task);
  const t1 = now();
  check(yields === n, `${yields} yields, expected ${n}`);
  return { ops: n, ns: t1 - t0 };
}

async function chainedSpawn(n) {
  const done = oneshot();
  let depth = 0;
  const link = async (left) => {
    depth++;
    if (left === 1) done.send();
    else spawn(link, left - 1);
  };
  const t0 = now();
  spawn(link, n);
  await done.recv;
  const t1 = now();
  check(depth === n, `chain of ${depth} tasks, expected ${n}`);
  return { ops: n, ns: t1 - t0 };
}

// Round i: A sends {value, reply, next} through a fresh oneshot to B (next is the oneshot of
// round i + 1), B answers value + 1 through the fresh oneshot reply.
async function pingPong(n) {
  let first = oneshot();
  const b = async () => {
    let inbox = first;
    for (let i = 0; i < n; i++) {
      const { value, reply, next } = await inbox.recv;
      inbox = next;
      reply.send(value + 1);
    }
  };
  const t0 = now();
  const joined = spawn(b);
  let sum = 0;
  let outbox = first;
  for (let i = 0; i < n; i++) {
    const reply = oneshot();
    const next = oneshot();
    outbox.send({ value: i, reply, next });
    outbox = next;
    sum += await reply.recv;
  }
  await joined;
  const t1 = now();
  check(sum === (n * (n + 1)) / 2, `replies sum to ${sum}`);
  return { ops: n, ns: t1 - t0 };
}

async function mpscUncontended(n) {
  const t0 = now();
  const ch = new Channel();
  for (let i = 0; i < n; i++) ch.trySend(i);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await ch.recv();
  const t1 = now();
  check(sum === (n * (n - 1)) / 2, `received values sum to ${sum}`);
  return { ops: n, ns: t1 - t0 };
}

async function mpscContended(n) {
  const producers = 4;
  const t0 = now();
  const ch = new Channel(1024);
  const producer = async (count) => {
    for (let i = 0; i < count; i++) await ch.send(1);
  };
  const joined = spawnShares(producers, n, producer);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await ch.recv();
  await joined;
  const t1 = now();
  check(sum === n, `received ${sum} ones, expected ${n}`);
  return { ops: n, ns: t1 - t0 };
}

async function mpscPing(n) {
  const t0 = now();
  const ping = new Channel(1);
  const pong = new Channel(1);
  const echo = async () => {
    for (let i = 0; i < n; i++) await pong.send((await ping.recv()) + 1);
  };
  const joined = spawn(echo);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    await ping.send(i);
    sum += await pong.recv();
  }
  await joined;
  const t1 = now();
  check(sum === (n * (n + 1)) / 2, `replies sum to ${sum}`);
  return { ops: n, ns: t1 - t0 };
}

async function semaphoreContended(n) {
  const tasks = 64;
  const sem = new Semaphore(8);
  let inside = 0;
  let most = 0;
  let rounds = 0;
  const task = async (count) => {
    for (let i = 0; i < count; i++) {
      await sem.acquire();
      most = Math.max(most, ++inside);
      await yieldNow();
      inside--;
      rounds++;
      sem.release();
    }
  };
  const t0 = now();
  await spawnShares(tasks, n, task);
  const t1 = now();
  check(rounds === n, `${rounds} acquisitions, expected ${n}`);
  check(most <= 8, `${most} tasks held the 8 permits at once`);
  return { ops: n, ns: t1 - t0 };
}

// The idiomatic timeout: race the operation against a timer, clear the timer when it lost.
async function withTimeout(promise, ms) {
  let timer;
  const expired = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`a ${ms} ms timeout fired`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function timerTimeout(n) {
  const t0 = now();
  let completed = 0;
  for (let i = 0; i < n; i++) {
    await withTimeout(yieldNow(), 1000);
    completed++;
  }
  const t1 = now();
  check(completed === n, `${completed} operations completed, expected ${n}`);
  return { ops: n, ns: t1 - t0 };
}

async function timers100k1ms(n) {
  const t0 = now();
  let woke = 0;
  const handles = [];
  for (let i = 0; i < n; i++) {
    handles.push(
      spawn(async () => {
        await sleep(1);
        woke++;
      }),
    );
  }
  await Promise.all(handles);
  const t1 = now();
  check(woke === n, `${woke} sleeps woke, expected ${n}`);
  return { ops: n, ns: t1 - t0 };
}

// --- io ---------------------------------------------------------------------------------------

// A loopback server (echo, or a byte counter) and `count` connected clients, all established
// before the measured part starts.
async function tcpSetUp(count, onServerSocket) {
  const servers = [];
  let closing = false;
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', (e) => closing || fatal(`server socket: ${e.message}`));
    servers.push(socket);
    onServerSocket(socket);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, resolve);
  });
  const { port } = server.address();
  const clients = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const c = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(c));
          c.once('error', reject);
        }),
    ),
  );
  while (servers.length < count) await yieldNow();
  for (const c of clients) c.on('error', (e) => closing || fatal(`client socket: ${e.message}`));
  const tearDown = async () => {
    closing = true;
    for (const c of clients) c.destroy();
    for (const s of servers) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return { clients, tearDown };
}

const MSG = 64;

// `conns` connections echo `total` 64-byte messages, one in flight on each; with latency the
// round trip of every message is recorded.
async function tcpEcho(conns, total, recordLatency) {
  const { clients, tearDown } = await tcpSetUp(conns, (s) => {
    s.on('data', (d) => s.write(d));
  });
  const samples = recordLatency ? new Float64Array(total) : null;
  let recorded = 0;
  let echoed = 0;
  const t0 = now();
  await Promise.all(
    clients.map(
      (c, i) =>
        new Promise((resolve, reject) => {
          let left = share(total, conns, i);
          if (left === 0) return resolve();
          const msg = Buffer.alloc(MSG, 97 + (i % 26));
          let seq = 0n;
          let got = 0;
          let sentAt = 0n;
          const send = () => {
            msg.writeBigUInt64LE(seq);
            got = 0;
            if (samples) sentAt = now();
            c.write(msg);
          };
          c.on('data', (d) => {
            if (got + d.length > MSG || !d.equals(msg.subarray(got, got + d.length))) {
              return reject(new CheckFailed('echo differs from the message sent'));
            }
            got += d.length;
            if (got < MSG) return;
            if (samples) samples[recorded++] = Number(now() - sentAt);
            echoed++;
            seq++;
            if (--left > 0) send();
            else resolve();
          });
          send();
        }),
    ),
  );
  const t1 = now();
  await tearDown();
  check(echoed === total, `${echoed} echoes, expected ${total}`);
  return { echoed, ns: t1 - t0, samples };
}

async function tcpPingPong(n) {
  const r = await tcpEcho(1, n, true);
  return { ops: n, ns: r.ns, latency: r.samples };
}

// ops: client write, server read, server write, client read per message.
async function tcpEchoMany(n) {
  const r = await tcpEcho(64, n, false);
  return { ops: 4 * n, ns: r.ns };
}

async function tcpStream(n) {
  let received = 0;
  let finished;
  const all = new Promise((resolve, reject) => {
    finished = { resolve, reject };
  });
  const { clients, tearDown } = await tcpSetUp(1, (s) => {
    s.on('data', (d) => {
      received += d.length;
      if (received > n) finished.reject(new CheckFailed(`server received more than ${n} bytes`));
      else if (received === n) finished.resolve(now());
    });
  });
  const c = clients[0];
  const chunk = Buffer.alloc(64 * 1024, 'z');
  const t0 = now();
  for (let written = 0; written < n; ) {
    const len = Math.min(chunk.length, n - written);
    written += len;
    // Backpressure: wait for 'drain' when the socket's buffer is over its high-water mark.
    if (!c.write(len === chunk.length ? chunk : chunk.subarray(0, len))) {
      await new Promise((resolve) => c.once('drain', resolve));
    }
  }
  const t1 = await all;
  await tearDown();
  check(received === n, `server received ${received} bytes, expected ${n}`);
  return { ops: n, ns: t1 - t0 };
}

const FS_FILE = 1 << 20;
const FS_BLOCK = 4096;
const FS_BLOCKS = FS_FILE / FS_BLOCK;
const fsFill = (block) => (block * 31 + 7) & 0xff;
const fsBlockOf = (i) => (i * 7919) % FS_BLOCKS;

async function fsRead(n) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${PROG}-`));
  const file = path.join(dir, 'data');
  const content = Buffer.alloc(FS_FILE);
  for (let b = 0; b < FS_BLOCKS; b++) content.fill(fsFill(b), b * FS_BLOCK, (b + 1) * FS_BLOCK);
  fs.writeFileSync(file, content);
  const fh = await fs.promises.open(file, 'r');
  let next = 0;
  let completed = 0;
  let sum = 0;
  // 16 readers, each with its own buffer, take the next read until all n are issued.
  const reader = async () => {
    const buf = Buffer.alloc(FS_BLOCK);
    while (next < n) {
      const block = fsBlockOf(next++);
      const { bytesRead } = await fh.read(buf, 0, FS_BLOCK, block * FS_BLOCK);
      check(bytesRead === FS_BLOCK, `read ${bytesRead} bytes at block ${block}`);
      const want = fsFill(block);
      check(buf[0] === want && buf[FS_BLOCK - 1] === want, `block ${block} holds wrong bytes`);
      sum += want;
      completed++;
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: 16 }, reader));
  const t1 = now();
  await fh.close();
  fs.rmSync(dir, { recursive: true, force: true });
  let wantSum = 0;
  for (let i = 0; i < n; i++) wantSum += fsFill(fsBlockOf(i));
  check(completed === n && sum === wantSum, `${completed} reads with sum ${sum}`);
  return { ops: n, ns: t1 - t0 };
}

// n sequential sleeps of ms; lateness = woke - requested. Loaded: 64 other tasks loop on
// yieldNow() meanwhile (each turn of the event loop runs one step of each).
async function timerPrecision(n, ms, loaded) {
  let stop = false;
  let loadSteps = 0;
  const load = [];
  if (loaded) {
    for (let t = 0; t < 64; t++) {
      load.push(
        spawn(async () => {
          while (!stop) {
            loadSteps++;
            await yieldNow();
          }
        }),
      );
    }
  }
  const lateness = new Float64Array(n);
  const requested = BigInt(ms) * 1000000n;
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const start = now();
    await sleep(ms);
    lateness[i] = Number(now() - start - requested);
  }
  const t1 = now();
  stop = true;
  await Promise.all(load);
  check(!loaded || loadSteps > 0, 'the 64 load tasks never ran');
  return {
    ops: n,
    ns: t1 - t0,
    latency: lateness,
    extra: loaded ? { load_steps: loadSteps } : undefined,
  };
}

// --- table of workloads -----------------------------------------------------------------------

const WORKLOADS = {
  spawn_many_local: [100000, spawnManyLocal],
  spawn_join: [100000, spawnJoin],
  yield_many: [200000, yieldMany],
  chained_spawn: [100000, chainedSpawn],
  ping_pong: [100000, pingPong],
  mpsc_uncontended: [1000000, mpscUncontended],
  mpsc_contended: [400000, mpscContended],
  mpsc_ping: [100000, mpscPing],
  semaphore_contended: [100000, semaphoreContended],
  timer_timeout: [100000, timerTimeout],
  timers_100k_1ms: [100000, timers100k1ms],
  park_memory: [100000, parkMemory],
  tcp_ping_pong: [20000, tcpPingPong],
  tcp_echo_many: [100000, tcpEchoMany],
  tcp_stream: [268435456, tcpStream],
  fs_read: [20000, fsRead],
  timer_precision_1ms: [200, (n) => timerPrecision(n, 1, false)],
  timer_precision_10ms: [50, (n) => timerPrecision(n, 10, false)],
  timer_precision_1ms_loaded: [200, (n) => timerPrecision(n, 1, true)],
};

// Nearest rank over every sample (nanoseconds in, microseconds out).
function percentiles(samples) {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  // Rank ceil(permille * n / 1000) in integers, so that 99 % of 100 samples is rank 99 exactly.
  const rank = (permille) => sorted[Math.max(1, Math.floor((permille * n + 999) / 1000)) - 1];
  const us = (ns) => Math.round(ns) / 1000;
  const out = { p50: us(rank(500)), p99: us(rank(990)) };
  if (n >= 1000) out.p999 = us(rank(999));
  out.max = us(sorted[sorted.length - 1]);
  return out;
}

// The measured run is preceded by a warm-up, outside the measured part: the same workload run
// WARMUP_RUNS times at a tenth of the size. V8 compiles hot functions only after they ran a
// while (on background threads, late on a busy machine), and a repetition is one fresh process;
// the other peers are compiled ahead of time. This measures Node warm.
const WARMUP_RUNS = 3;

async function runWorkload(name, size) {
  const fn = WORKLOADS[name][1];
  const warmup = Math.ceil(size / 10);
  for (let i = 0; i < WARMUP_RUNS; i++) await fn(warmup);
  const r = await fn(size);
  const line = { workload: name, ops: r.ops, seconds: Number(r.ns) / 1e9 };
  if (r.latency) line.latency_us = percentiles(r.latency);
  line.extra = { ...r.extra, warmup_runs: WARMUP_RUNS, warmup_size: warmup };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// --- --serve http -----------------------------------------------------------------------------

// Runs stop once, on the first SIGTERM or SIGINT (then listens no more, so that the process can
// end) or when the returned function is called.
function onStopSignal(stop) {
  let stopped = false;
  const once = () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('SIGTERM', once);
    process.removeListener('SIGINT', once);
    stop();
  };
  process.on('SIGTERM', once);
  process.on('SIGINT', once);
  return once;
}

// One process serving on its thread: the server of --workers 1, or one cluster worker. It
// reports its port through `announce`.
function serveHttpHere(port, announce) {
  const body = 'Hello, World!';
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/plaintext') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(body);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 9 });
      res.end('Not Found');
    }
  });
  server.keepAliveTimeout = 0; // the driver's idle connections stay open until it closes them
  const stop = onStopSignal(() => {
    // Stop listening; the loop ends when every connection is closed (and a cluster worker has
    // let go of its channel to the primary).
    server.close(() => cluster.isWorker && process.disconnect());
    server.closeAllConnections();
  });
  if (cluster.isWorker) process.on('message', (m) => m === 'stop' && stop());
  server.on('error', (e) => fatal(e.message));
  server.listen({ host: '127.0.0.1', port }, () => announce(server.address().port));
}

// --workers W > 1: W processes of Node's cluster module (its default on Linux: the primary
// accepts and hands connections round-robin to the workers, which share one port, also for
// port 0). The primary prints the listening line once all W listen, and on SIGTERM/SIGINT asks
// every worker to stop, then exits 0 when all exited 0.
function serveHttpCluster(port, workers) {
  let listening = 0;
  let failed = false;
  const stop = onStopSignal(() => {
    for (const w of Object.values(cluster.workers)) if (w.isConnected()) w.send('stop');
  });
  cluster.on('message', (worker, m) => {
    if (m && m.listening !== undefined && ++listening === workers) {
      process.stdout.write(`${JSON.stringify({ listening: m.listening })}\n`);
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    if (code === 0 && signal === null) return;
    if (!failed) process.stderr.write(`${PROG}: serve http: a worker exited (${signal ?? code})\n`);
    failed = true;
    process.exitCode = 1;
    stop();
  });
  for (let i = 0; i < workers; i++) cluster.fork();
}

function serveHttp(port, workers) {
  if (cluster.isWorker) {
    serveHttpHere(port, (bound) => process.send({ listening: bound }));
  } else if (workers > 1) {
    serveHttpCluster(port, workers);
  } else {
    serveHttpHere(port, (bound) => {
      process.stdout.write(`${JSON.stringify({ listening: bound })}\n`);
    });
  }
}

// --- command line -----------------------------------------------------------------------------

function parseCount(flag, text, allowZero = false) {
  if (text === undefined) throw new UsageError(`${flag} needs a value`);
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`${flag}: not a positive integer: '${text}'`);
  const v = Number(text);
  if (!Number.isSafeInteger(v) || (v === 0 && !allowZero)) {
    throw new UsageError(`${flag}: out of range: '${text}'`);
  }
  return v;
}

function usage() {
  return [
    `usage: ${PROG} --version | --list | --help`,
    `       ${PROG} --run WORKLOAD [--size N] [--workers W]`,
    `       ${PROG} --serve http --port P [--workers W]`,
    'The Node.js peer of zokio-bench: one JavaScript thread and its event loop. One repetition of',
    'one workload per --run, one JSON line on stdout (tools/zokio-bench/peers/PROTOCOL.md).',
  ].join('\n');
}

async function main(argv) {
  let run;
  let serve;
  let size;
  let workers = 1;
  let port;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--version':
        process.stdout.write(`node ${process.version}\n`);
        return 0;
      case '--help':
      case '-h':
        process.stdout.write(`${usage()}\n`);
        return 0;
      case '--list':
        for (const w of [...Object.keys(WORKLOADS), 'http_plaintext', 'http_connections']) {
          process.stdout.write(`${w}\n`);
        }
        return 0;
      case '--run':
        if (v === undefined) throw new UsageError('--run needs a workload');
        run = v;
        i++;
        break;
      case '--serve':
        if (v === undefined) throw new UsageError('--serve needs a suite (http)');
        serve = v;
        i++;
        break;
      case '--size':
        size = parseCount(a, v);
        i++;
        break;
      case '--workers':
        workers = parseCount(a, v);
        i++;
        break;
      case '--port':
        port = parseCount(a, v, true);
        if (port > 65535) throw new UsageError(`--port: out of range: ${v}`);
        i++;
        break;
      default:
        throw new UsageError(`unknown argument '${a}'`);
    }
  }
  if ((run === undefined) === (serve === undefined)) {
    throw new UsageError('give one of --run WORKLOAD, --serve http, --list, --version');
  }
  if (serve !== undefined) {
    workloadName = 'serve http';
    if (serve !== 'http') throw new UsageError(`--serve: unknown suite '${serve}' (only http)`);
    if (port === undefined) throw new UsageError('--serve http needs --port P');
    if (workers > 256) throw new UsageError(`--workers: at most 256, not ${workers}`);
    serveHttp(port, workers);
    return undefined; // exits when the server has closed
  }
  if (!Object.prototype.hasOwnProperty.call(WORKLOADS, run)) {
    throw new UsageError(`unknown workload '${run}' (--list shows this peer's)`);
  }
  workloadName = run;
  await runWorkload(run, size ?? WORKLOADS[run][0]);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (e) => {
    if (e instanceof UsageError) {
      process.stderr.write(`${PROG}: ${e.message} (see --help)\n`);
      process.exit(2);
    } else {
      const what = e instanceof CheckFailed ? e.message : e && e.stack ? e.stack.split('\n')[0] : e;
      fatal(what);
    }
  },
);
