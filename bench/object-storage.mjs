#!/usr/bin/env node
// Object storage benchmark: the same Swift-API workload against our Pithos (a real `synnefo up`
// process) and against a real OpenStack Swift set up on this machine for the run (one replica,
// tempauth, loopback only; torn down at the end), with ours/Swift ratios. Also measures the
// machine's single-core SHA-256 rate and fsync'ed disk write rate, so large-object throughput can
// be judged against 80% of min(SHA-256, disk).
//
// Usage: npm run bench:objects -- [options]      (or: npx tsc -p . && node bench/object-storage.mjs [options])
//   --only ours|swift     run one side only (no ratios)
//   --url U --token T     run the suite against any Swift-compatible endpoint instead (no local servers)
//   --cleanup             with --url: delete what the run created
//   --n 2000 --c 16       small-object count and concurrency
//   --list-n 20000        objects in the listed container
//   --repeat 3            times each large-object transfer is measured (the median counts)
//   --huge                also: 1,000,000-object container on our server (page latencies, prefix/delimiter)
//   --huge-n 1000000      size of that container
//   --swift-workers auto  `workers` of each Swift server (auto = one per core, Swift's default)
//   --keep                keep the temporary directories
//
// MB is 10^6 bytes throughout. Every object carries unique bytes (a random pool stamped with the
// object and chunk number), so a content-addressed store cannot skip writes by deduplication.
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, nodeFlagsOf } from './lib.mjs';
import http from 'node:http';
import { once } from 'node:events';

// The load generator shares the machine's cores with the server it measures, so it keeps its own
// cost per byte low: left alone, glibc hands each burst of freed response buffers back to the
// kernel and faults fresh pages in for the next (on this kind of VM that costs more than the
// bytes). The script runs itself again with glibc told to keep them; the servers it starts get
// the environment it was given, untouched.
const givenEnv = { ...process.env };
if (process.platform === 'linux' && process.env.SNF_BENCH_CLIENT !== '1') {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, SNF_BENCH_CLIENT: '1', SNF_BENCH_GIVEN_TUNABLES: process.env.GLIBC_TUNABLES ?? '', GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=134217728:glibc.malloc.mmap_threshold=8392704' },
  });
  process.exit(r.status ?? 1);
}
if (process.env.SNF_BENCH_CLIENT === '1') {
  delete givenEnv.SNF_BENCH_CLIENT;
  if (givenEnv.SNF_BENCH_GIVEN_TUNABLES) givenEnv.GLIBC_TUNABLES = givenEnv.SNF_BENCH_GIVEN_TUNABLES; else delete givenEnv.GLIBC_TUNABLES;
  delete givenEnv.SNF_BENCH_GIVEN_TUNABLES;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/bin/synnefo.js');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const has = (name) => args.includes(`--${name}`);
const N = Number(opt('n', 2000));
const C = Number(opt('c', 16));
const LIST_N = Number(opt('list-n', 20000));
const HUGE = has('huge');
const REPEAT = Math.max(1, Math.floor(Number(opt('repeat', 3))) || 1);
const HUGE_N = Number(opt('huge-n', 1_000_000));
const ONLY = opt('only', '');
const KEEP = has('keep');
const SWIFT_WORKERS = opt('swift-workers', 'auto');
const MiB = 1024 * 1024;
const MB = 1e6;
const RUN = randomBytes(4).toString('hex');

// ---------------------------------------------------------------- processes and cleanup

/** Every child process (group) this script started, so that each is stopped, also on error. */
const children = new Set();
const tempDirs = [];

function startProcess(name, cmd, argv, opts = {}) {
  const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', opts.out ?? 'ignore', opts.err ?? 'ignore'], env: givenEnv, ...opts.spawn });
  const entry = { name, child, exited: new Promise((r) => child.once('exit', (code, signal) => r({ code, signal }))) };
  entry.exited.then(() => children.delete(entry));
  children.add(entry);
  return entry;
}

async function stopProcess(entry) {
  if (entry.child.exitCode !== null || entry.child.signalCode !== null) { children.delete(entry); return; }
  // Our children lead their own process group (detached), so the group is theirs: Swift's forked workers go with it.
  const signal = (sig) => { try { process.kill(-entry.child.pid, sig); } catch { try { entry.child.kill(sig); } catch { /* gone */ } } };
  signal('SIGTERM');
  const timeout = new Promise((r) => setTimeout(() => r('timeout'), 15000));
  if ((await Promise.race([entry.exited, timeout])) === 'timeout') { signal('SIGKILL'); await entry.exited; }
  // Workers of a Swift server may outlive their parent for a moment: make sure the group is empty.
  signal('SIGKILL');
  children.delete(entry);
}

async function cleanupAll() {
  for (const entry of [...children].reverse()) await stopProcess(entry).catch(() => undefined);
  if (!KEEP) for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}

let exiting = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (exiting) return;
    exiting = true;
    console.error(`\n${sig}: stopping every process started by the benchmark`);
    cleanupAll().finally(() => process.exit(130));
  });
}

const tempDir = (prefix) => { const d = mkdtempSync(join(tmpdir(), prefix)); tempDirs.push(d); return d; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, check, seconds = 60) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try { if (await check()) return; } catch (err) { if (err.fatal) throw err; /* not yet */ }
    if (Date.now() > until) throw new Error(`${what} did not come up within ${seconds} s`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------- HTTP client (keep-alive)

/** An endpoint: a Swift storage URL, a token, and its own keep-alive agent. */
function endpoint(url, token) {
  return { url: url.replace(/\/+$/, ''), token, agent: new http.Agent({ keepAlive: true, maxSockets: 128 }) };
}

const encName = (name) => name.split('/').map(encodeURIComponent).join('/');
const pathOf = (container, name) => `/${encodeURIComponent(container)}${name === undefined ? '' : `/${encName(name)}`}`;

/**
 * One request. `body`: undefined, a Buffer, or { size, chunk(i) } streamed chunk by chunk with
 * backpressure. `sink`: 'buffer' keeps the answer, 'count' only counts its bytes.
 */
async function call(ep, method, path, options = {}) {
  try {
    return await callOnce(ep, method, path, options);
  } catch (err) {
    // A keep-alive socket the server closed while idle fails on reuse: try once more on a fresh one.
    if (!err.reusedSocket || !['ECONNRESET', 'EPIPE'].includes(err.code)) throw err;
    // (Other pooled sockets may be stale too: the retry gets a socket of its own.)
    return callOnce({ ...ep, agent: new http.Agent({ keepAlive: false }) }, method, path, options);
  }
}

function callOnce(ep, method, path, { headers = {}, body, sink = 'buffer', query } = {}) {
  const url = new URL(ep.url + path);
  if (query) for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return new Promise((resolve, reject) => {
    const h = { 'x-auth-token': ep.token, ...headers };
    if (Buffer.isBuffer(body)) h['content-length'] = body.length;
    else if (body) h['content-length'] = body.size;
    else if (method === 'PUT' || method === 'POST') h['content-length'] = 0;
    const req = http.request(url, { method, agent: ep.agent, headers: h }, (res) => {
      let count = 0;
      const chunks = [];
      res.on('data', (c) => { count += c.length; if (sink === 'buffer') chunks.push(c); });
      res.on('end', () => {
        const out = { status: res.statusCode, headers: res.headers, bytes: count, body: sink === 'buffer' ? Buffer.concat(chunks) : undefined };
        if (res.statusCode >= 400) reject(new Error(`${method} ${url.pathname}${url.search}: ${res.statusCode} ${out.body?.toString().slice(0, 300) ?? ''}`));
        else resolve(out);
      });
      res.on('error', reject);
    });
    req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
    if (!body || Buffer.isBuffer(body)) { req.end(body); return; }
    // Stream the generated bytes: a chunk at a time, waiting for 'drain' when the socket is full.
    // A chunk's memory is reused once the socket has taken it, so the client spends its CPU on
    // sending, not on faulting in fresh memory for every megabyte (it shares the cores with the server).
    (async () => {
      const spare = [];
      let sent = 0;
      for (let i = 0; sent < body.size; i++) {
        const length = Math.min(CHUNK, body.size - sent);
        const chunk = body.chunk(i, length, length === CHUNK ? spare.pop() : undefined);
        sent += chunk.length;
        if (!req.write(chunk, () => { if (chunk.length === CHUNK) spare.push(chunk); })) await once(req, 'drain');
      }
      req.end();
    })().catch((err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
  });
}

// Unique bytes cheaply: one random pool; each chunk is a copy stamped with (run, object, chunk).
const CHUNK = 1 * MiB;
const POOL = randomBytes(CHUNK);
function stamped(objectId, index, length, into) {
  const b = into ?? Buffer.allocUnsafe(length);
  POOL.copy(b, 0, 0, length);
  const stamp = Buffer.from(`${objectId}:${index}:${RUN}:`);
  stamp.copy(b, 0, 0, Math.min(stamp.length, length));
  return b;
}
const generated = (objectId, size) => ({ size, chunk: (i, length, into) => stamped(objectId, i, length, into) });

// ---------------------------------------------------------------- measurement helpers

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const fmt = (x, d = 2) => (x === undefined || Number.isNaN(x) ? '-' : x >= 1000 ? x.toFixed(0) : x >= 100 ? x.toFixed(1) : x.toFixed(d));

/** Runs `total` operations with `concurrency` workers; prints ops/s and latencies. */
async function run(label, total, concurrency, op) {
  const latencies = [];
  let next = 0;
  let failures = 0;
  let firstError;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < total; i = next++) {
      const t0 = performance.now();
      try { await op(i); } catch (err) { failures++; firstError ??= err; }
      latencies.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const rate = total / seconds;
  console.log(`    ${label.padEnd(46)} ${fmt(rate).padStart(8)} ops/s   p50 ${fmt(pct(latencies, 0.5))} ms   p99 ${fmt(pct(latencies, 0.99))} ms${failures ? `   FAILURES ${failures}: ${firstError.message}` : ''}`);
  return { rate: failures ? NaN : rate, seconds, failures };
}

/** Bulk transfers: total bytes over wall time, in MB/s. */
async function transfer(label, bytes, f) {
  const cpu0 = serversCpuMs();
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    await f();
  } catch (err) {
    console.log(`    ${label.padEnd(46)} FAILED: ${err.message}`);
    return NaN;
  }
  const s = (performance.now() - t0) / 1000;
  const rate = bytes / MB / s;
  const server = serversCpuMs() - cpu0;
  const client = process.cpuUsage(client0);
  // CPU per byte tells apart what a busy machine does to the wall time from what the server costs.
  const cpu = Number.isNaN(server) ? '' : `   server CPU ${(server / 1000).toFixed(2)} s = ${(server / (bytes / MB)).toFixed(2)} ms/MB, client CPU ${((client.user + client.system) / 1e6).toFixed(2)} s`;
  console.log(`    ${label.padEnd(46)} ${fmt(rate).padStart(8)} MB/s    (${(bytes / MiB).toFixed(0)} MiB in ${s.toFixed(2)} s)${cpu}`);
  return rate;
}

/**
 * A large-object measurement, REPEAT times over (each time on objects of its own, so that nothing
 * is deduplicated): the median rate. One transfer of a second or so on a shared machine is noisy;
 * the median of a few is what the summary compares.
 */
async function repeated(label, bytes, f) {
  if (REPEAT === 1) return transfer(label, bytes, () => f(0));
  const rates = [];
  for (let r = 0; r < REPEAT; r++) rates.push(await transfer(`${label} (${r + 1} of ${REPEAT})`, bytes, () => f(r)));
  const m = rates.some(Number.isNaN) ? NaN : [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)];
  console.log(`    ${`${label}: median`.padEnd(46)} ${fmt(m).padStart(8)} MB/s`);
  return m;
}

const TICK_MS = (() => { const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }); return 1000 / (Number(r.stdout) || 100); })();

/**
 * CPU time (ms) used so far by the servers this script started: every process of their process
 * groups (each server leads its own; Swift's workers are in their parent's), from /proc. NaN where
 * there is no /proc, or with --url.
 */
function serversCpuMs() {
  const groups = new Set([...children].map((c) => c.child.pid));
  if (groups.size === 0) return NaN;
  let entries;
  try { entries = readdirSync('/proc'); } catch { return NaN; }
  let ticks = 0;
  for (const p of entries) {
    if (!/^\d+$/.test(p)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${p}/stat`, 'utf8'); } catch { continue; }
    // After "pid (comm) ": state ppid pgrp ... utime(12th) stime cutime cstime.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (groups.has(Number(f[2]))) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks * TICK_MS;
}

async function putContainer(ep, name) { await call(ep, 'PUT', pathOf(name)); }

/** Lists a whole container by marker, `limit` names a page; returns the names' count and each page's latency. */
async function listAll(ep, container, { limit = 10000, prefix, delimiter } = {}) {
  let marker;
  let count = 0;
  const pages = [];
  let last;
  for (;;) {
    const t0 = performance.now();
    const r = await call(ep, 'GET', pathOf(container), { query: { format: 'json', limit, marker, prefix, delimiter } });
    // A page's latency is the server's: until its last byte is here, before this client parses it.
    const ms = performance.now() - t0;
    const rows = r.status === 204 || r.body.length === 0 ? [] : JSON.parse(r.body.toString());
    pages.push({ ms, rows: rows.length });
    count += rows.length;
    if (rows.length > 0) last = rows.at(-1).name ?? rows.at(-1).subdir;
    if (rows.length < limit) break;
    marker = last;
  }
  return { count, pages, last };
}

/** One listing request, json, timed: best of up to 3 tries (fewer when slow); checks the entry count. */
async function timedListing(ep, container, label, query, expect) {
  const times = [];
  let rows = [];
  try {
    for (let k = 0; k < 3 && times.reduce((a, b) => a + b, 0) < 20000; k++) {
      const s = performance.now();
      const r = await call(ep, 'GET', pathOf(container), { query: { format: 'json', ...query } });
      times.push(performance.now() - s);
      rows = r.status === 204 || r.body.length === 0 ? [] : JSON.parse(r.body.toString());
    }
  } catch (err) {
    console.log(`    ${label.padEnd(58)} FAILED: ${err.message}`);
    return NaN;
  }
  const ok = expect === undefined || rows.length === expect ? '' : `   PROBLEM: ${rows.length} entries, expected ${expect}`;
  console.log(`    ${label.padEnd(58)} ${String(rows.length).padStart(6)} entries   best ${fmt(Math.min(...times))} ms   (${times.map((t) => fmt(t)).join(', ')} ms)${ok}`);
  return ok ? NaN : Math.min(...times);
}

// ---------------------------------------------------------------- the workload (any Swift endpoint)

/** The whole suite against one Swift-compatible endpoint ({url, token}); returns the figures by key. */
async function suite(ep) {
  const out = {};
  const small = `bench-${RUN}-small`;
  const large = `bench-${RUN}-large`;
  const listed = `bench-${RUN}-list`;
  await putContainer(ep, small);
  await putContainer(ep, large);
  await putContainer(ep, listed);
  const created = { [small]: [], [large]: [], [listed]: [] };

  console.log(`  small objects (4 KiB, ${N} objects, concurrency ${C})`);
  const smallName = (i) => `obj-${String(i).padStart(7, '0')}`;
  await run('warm-up PUT (200, not counted)', 200, C, (i) => call(ep, 'PUT', pathOf(small, `warm-${i}`), { body: stamped(`warm${i}`, 0, 4096) }));
  for (let i = 0; i < 200; i++) created[small].push(`warm-${i}`);
  out.put4k = (await run('PUT 4 KiB', N, C, (i) => call(ep, 'PUT', pathOf(small, smallName(i)), { body: stamped(`s${i}`, 0, 4096) }))).rate;
  for (let i = 0; i < N; i++) created[small].push(smallName(i));
  out.get4k = (await run('GET 4 KiB', N, C, async (i) => {
    const r = await call(ep, 'GET', pathOf(small, smallName(i)), { sink: 'count' });
    if (r.bytes !== 4096) throw new Error(`GET returned ${r.bytes} bytes`);
  })).rate;
  out.head = (await run('HEAD', N, C, async (i) => {
    const r = await call(ep, 'HEAD', pathOf(small, smallName(i)));
    if (r.headers['content-length'] !== '4096') throw new Error(`HEAD says ${r.headers['content-length']} bytes`);
  })).rate;

  console.log('  large objects');
  // A server's first large transfers also pay one-time costs (code paths compiled, buffers,
  // threads and heap first made; Swift's second worker first used); each side gets the same
  // warm-up, one stream then eight at once, so the figures below are steady state.
  const warm = 64 * MiB;
  const warmParts = Array.from({ length: 8 }, (_, i) => `warm-16-${i}`);
  await transfer('warm-up PUT + GET 64 MiB, 1 then 8 streams (not counted)', 4 * warm, async () => {
    await call(ep, 'PUT', pathOf(large, 'warm-64'), { body: generated('warm-64', warm) });
    await call(ep, 'GET', pathOf(large, 'warm-64'), { sink: 'count' });
    await Promise.all(warmParts.map((p) => call(ep, 'PUT', pathOf(large, p), { body: generated(p, warm / 8) })));
    await Promise.all(warmParts.map((p) => call(ep, 'GET', pathOf(large, p), { sink: 'count' })));
  });
  created[large].push(...warmParts);
  created[large].push('warm-64');
  const one = 256 * MiB;
  const ones = Array.from({ length: REPEAT }, (_, r) => `one-256-${r}`);
  out.put256 = await repeated('PUT 1 x 256 MiB', one, (r) => call(ep, 'PUT', pathOf(large, ones[r]), { body: generated(ones[r], one) }));
  created[large].push(...ones);
  out.get256 = await repeated('GET 1 x 256 MiB', one, async (r) => {
    const res = await call(ep, 'GET', pathOf(large, ones[r]), { sink: 'count' });
    if (res.bytes !== one) throw new Error(`GET returned ${res.bytes} bytes`);
  });
  const part = 64 * MiB;
  const parts = Array.from({ length: REPEAT }, (_, r) => Array.from({ length: 8 }, (_, i) => `eight-64-${r}-${i}`));
  out.put8x64 = await repeated('PUT 8 x 64 MiB concurrently', 8 * part, (r) => Promise.all(parts[r].map((p) => call(ep, 'PUT', pathOf(large, p), { body: generated(p, part) }))));
  created[large].push(...parts.flat());
  out.get8x64 = await repeated('GET 8 x 64 MiB concurrently', 8 * part, (r) => Promise.all(parts[r].map(async (p) => {
    const res = await call(ep, 'GET', pathOf(large, p), { sink: 'count' });
    if (res.bytes !== part) throw new Error(`GET returned ${res.bytes} bytes`);
  })));

  const dirs = Math.max(1, Math.round(LIST_N / 100));
  console.log(`  listing (${LIST_N} objects of 16 bytes named dir-NNN/item-N in ${dirs} directories, created with concurrency 32)`);
  const listName = (i) => `dir-${String(i % dirs).padStart(3, '0')}/item-${String(i).padStart(8, '0')}`;
  out.create32 = (await run(`PUT ${LIST_N} small objects, concurrency 32`, LIST_N, 32, (i) => call(ep, 'PUT', pathOf(listed, listName(i)), { body: stamped(`l${i}`, 0, 16) }))).rate;
  for (let i = 0; i < LIST_N; i++) created[listed].push(listName(i));
  const t0 = performance.now();
  try {
    const l = await listAll(ep, listed, { limit: 10000 });
    const ms = performance.now() - t0;
    if (l.count !== LIST_N) throw new Error(`listed ${l.count} names, expected ${LIST_N}`);
    console.log(`    ${'full listing, json, limit 10000, by marker'.padEnd(46)} ${fmt(ms).padStart(8)} ms      (${l.pages.length} requests: ${l.pages.map((p) => `${p.rows} names ${fmt(p.ms)} ms`).join(', ')})`);
    out.list = ms;
  } catch (err) {
    console.log(`    full listing FAILED: ${err.message}`);
    out.list = NaN;
  }
  out.listDelim = await timedListing(ep, listed, 'delimiter=/ (one entry per directory)', { delimiter: '/' }, dirs);
  const k = Math.min(5, dirs - 1);
  const oneDir = `dir-${String(k).padStart(3, '0')}/`;
  out.listPrefix = await timedListing(ep, listed, `prefix=${oneDir} delimiter=/ (one directory)`, { prefix: oneDir, delimiter: '/' }, Math.min(10000, Math.floor((LIST_N - 1 - k) / dirs) + 1));
  out.created = created;
  return out;
}

/** Deletes what a suite created (for runs against someone else's endpoint). */
async function cleanup(ep, created) {
  for (const [container, objects] of Object.entries(created)) {
    await run(`DELETE ${objects.length} objects of ${container}`, objects.length, 32, (i) => call(ep, 'DELETE', pathOf(container, objects[i])));
    await call(ep, 'DELETE', pathOf(container)).catch((e) => console.log(`    could not delete ${container}: ${e.message}`));
  }
}

// ---------------------------------------------------------------- the machine

function machine() {
  console.log(`Machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`);
  const data = randomBytes(4 * MiB);
  const hash = createHash('sha256');
  let t0 = performance.now();
  for (let done = 0; done < 256 * MiB; done += data.length) hash.update(data);
  hash.digest();
  const sha = 256 * MiB / MB / ((performance.now() - t0) / 1000);
  const dir = tempDir('snf-bench-disk-');
  const file = join(dir, 'dd');
  const fd = openSync(file, 'w');
  t0 = performance.now();
  for (let done = 0, i = 0; done < 512 * MiB; done += data.length, i++) { data.writeUInt32BE(i, 0); writeSync(fd, data); }
  fsyncSync(fd);
  const disk = 512 * MiB / MB / ((performance.now() - t0) / 1000);
  closeSync(fd);
  unlinkSync(file);
  console.log(`  SHA-256, one core (256 MiB, node:crypto)     ${fmt(sha).padStart(8)} MB/s`);
  console.log(`  disk write (512 MiB + fsync, in ${tmpdir()})     ${fmt(disk).padStart(8)} MB/s`);
  console.log(`  => large-object target: 80% of min(SHA-256, disk) = ${fmt(0.8 * Math.min(sha, disk))} MB/s`);
  return { sha, disk, target: 0.8 * Math.min(sha, disk) };
}

// ---------------------------------------------------------------- our server

async function withOurs(f) {
  const dir = tempDir('snf-bench-ours-');
  const data = join(dir, 'data');
  const conf = join(dir, 'conf');
  const port = await freePort();
  const server = startProcess('synnefo up', process.execPath, [...nodeFlagsOf(cli), cli, 'up', '--port', String(port), '--data-dir', data, '--config-dir', conf], {
    err: openSync(join(dir, 'stderr.log'), 'w'),
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitFor('synnefo up', async () => {
      if (server.child.exitCode !== null) throw Object.assign(new Error(`synnefo up exited: ${readFileSync(join(dir, 'stderr.log'), 'utf8').slice(-2000)}`), { fatal: true });
      return (await fetch(`${base}/healthz`)).ok;
    }, 120);
    const creds = JSON.parse(readFileSync(join(data, 'initial-credentials.json'), 'utf8'));
    const ep = endpoint(`${base}/pithos/object-store/v1/${creds.demo.uuid}`, creds.demo.token);
    return await f(ep, { dir, data, base });
  } finally {
    await stopProcess(server);
  }
}

// ---------------------------------------------------------------- OpenStack Swift, set up for the run

const SWIFT_PACKAGES = ['swift', 'swift-proxy', 'swift-account', 'swift-container', 'swift-object', 'memcached'];
const notes = [];

function ensureSwiftInstalled() {
  const bins = ['swift-proxy-server', 'swift-object-server', 'swift-container-server', 'swift-account-server', 'swift-ring-builder', 'memcached'];
  const missing = bins.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
  if (missing.length === 0) return;
  console.log(`  installing ${SWIFT_PACKAGES.join(' ')} (missing: ${missing.join(', ')})`);
  execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${SWIFT_PACKAGES.join(' ')}`], { stdio: 'inherit' });
  notes.push(`installed Debian packages: ${SWIFT_PACKAGES.join(' ')}`);
}

async function withSwift(f) {
  ensureSwiftInstalled();
  const version = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'swift'], { encoding: 'utf8' }).stdout;
  // Swift's servers read the hash path suffix and storage policies from /etc/swift/swift.conf whatever
  // swift_dir says (only swift-recon honours swift_dir for it). The Debian package ships one; create it only if absent.
  if (!existsSync('/etc/swift/swift.conf')) {
    mkdirSync('/etc/swift', { recursive: true });
    writeFileSync('/etc/swift/swift.conf', '[swift-hash]\nswift_hash_path_suffix = bench\nswift_hash_path_prefix = bench\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n');
    notes.push('created /etc/swift/swift.conf (it was missing; Swift servers insist on it)');
  }
  const dir = tempDir('snf-bench-swift-');
  const devices = join(dir, 'srv', 'node');
  mkdirSync(join(devices, 'd1'), { recursive: true });
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const ports = { object: await freePort(), container: await freePort(), account: await freePort(), proxy: await freePort(), memcached: await freePort() };
  writeFileSync(join(dir, 'swift.conf'), readFileSync('/etc/swift/swift.conf'));
  for (const type of ['object', 'container', 'account']) {
    const builder = join(dir, `${type}.builder`);
    execFileSync('swift-ring-builder', [builder, 'create', '8', '1', '1'], { stdio: 'ignore' });
    execFileSync('swift-ring-builder', [builder, 'add', '--region', '1', '--zone', '1', '--ip', '127.0.0.1', '--port', String(ports[type]), '--device', 'd1', '--weight', '100'], { stdio: 'ignore' });
    const rb = spawnSync('swift-ring-builder', [builder, 'rebalance'], { encoding: 'utf8' });
    if (rb.status !== 0 && rb.status !== 1) throw new Error(`swift-ring-builder ${type} rebalance: ${rb.stdout}${rb.stderr}`);
  }
  const common = (port) => `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${port}\nworkers = ${SWIFT_WORKERS}\nuser = root\nswift_dir = ${dir}\ndevices = ${devices}\nmount_check = false\nlog_level = INFO\n`;
  for (const type of ['object', 'container', 'account']) {
    writeFileSync(join(dir, `${type}-server.conf`), `${common(ports[type])}\n[pipeline:main]\npipeline = healthcheck ${type}-server\n\n[app:${type}-server]\nuse = egg:swift#${type}\n\n[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n[${type}-replicator]\n[${type}-updater]\n[${type}-auditor]\n`);
  }
  writeFileSync(join(dir, 'proxy-server.conf'), `${common(ports.proxy)}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempauth copy dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${ports.memcached}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
`);
  const started = [];
  const log = (name) => openSync(join(logs, `${name}.log`), 'w');
  try {
    started.push(startProcess('memcached', 'memcached', ['-u', 'root', '-l', '127.0.0.1', '-p', String(ports.memcached), '-U', '0', '-m', '64'], { out: log('memcached'), err: log('memcached') }));
    for (const type of ['account', 'container', 'object', 'proxy']) {
      started.push(startProcess(`swift-${type}-server`, `swift-${type}-server`, [join(dir, `${type}-server.conf`)], { out: log(type), err: log(type) }));
    }
    for (const type of ['account', 'container', 'object', 'proxy']) {
      const entry = started.find((s) => s.name === `swift-${type}-server`);
      await waitFor(`swift-${type}-server`, async () => {
        if (entry.child.exitCode !== null) throw Object.assign(new Error(`swift-${type}-server exited`), { fatal: true });
        return (await fetch(`http://127.0.0.1:${ports[type]}/healthcheck`)).ok;
      }, 60).catch((e) => { throw new Error(`${e.message}\n${readFileSync(join(logs, `${type}.log`), 'utf8').slice(-2000)}`); });
    }
    const auth = await fetch(`http://127.0.0.1:${ports.proxy}/auth/v1.0`, { headers: { 'X-Auth-User': 'admin:admin', 'X-Auth-Key': 'admin' } });
    if (!auth.ok) throw new Error(`Swift auth: ${auth.status} ${await auth.text()}`);
    const ep = endpoint(auth.headers.get('x-storage-url'), auth.headers.get('x-auth-token'));
    console.log(`  Swift ${version} (tempauth, 1 replica, workers = ${SWIFT_WORKERS}) at ${ep.url}`);
    return await f(ep, { dir });
  } finally {
    for (const s of started.reverse()) await stopProcess(s);
  }
}

// ---------------------------------------------------------------- the huge container (our server only)

/**
 * Fills a container with `n` empty objects named `dNN/sNN/tN/obj-N` (a deep tree: 100 top
 * directories, 100 below each, 10 below those, objects in the leaves) directly through the
 * project's own store layer (ObjectStore.insertVersion + addToContainer, from dist/), in-process,
 * 10,000 per transaction, on the running server's SQLite database (WAL: the server keeps serving).
 * Empty objects are what an HTTP PUT of 0 bytes commits too: no blocks, and no quota commission
 * since the charge is 0. (Through HTTP, at ~100 PUT/s, a million objects would take hours.)
 */
async function fillHuge(dataDir, account, containerName, n) {
  const { openDatabase } = await import(pathToFileURL(join(root, 'dist/common/db.js')).href);
  const { ObjectStore } = await import(pathToFileURL(join(root, 'dist/pithos/store/objects.js')).href);
  const database = await openDatabase('pithos', '', dataDir);
  try {
    const store = new ObjectStore(database.db);
    const c = await store.findContainer(account, containerName);
    const emptyHash = createHash('sha256').digest('hex');
    const emptyMd5 = createHash('md5').digest('hex');
    const BATCH = 10000;
    for (let start = 0; start < n; start += BATCH) {
      await store.transaction(async (s) => {
        const now = Date.now();
        const end = Math.min(n, start + BATCH);
        for (let i = start; i < end; i++) {
          await s.insertVersion({
            container_id: c.id, name: hugeName(i), cluster: 0, size: 0, hash: emptyHash, hashmap: '', checksum: emptyMd5,
            content_type: 'application/octet-stream', content_encoding: '', content_disposition: '', manifest: '', uuid: randomUUID(),
            mtime: now, muser: account, meta: '{}',
          });
        }
        await s.addToContainer(c.id, end - start, 0, now);
      });
    }
    // A million rows written in a few minutes leave a write-ahead log of hundreds of MB and as much
    // data on its way to disk; a container that grew over weeks has neither. Fold the log into the
    // database and let the disk catch up before anything is timed.
    const { sql } = await import('kysely');
    await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(database.db);
    execFileSync('sync');
  } finally {
    await database.close();
  }
}
const two = (x) => String(x).padStart(2, '0');
const hugeName = (i) => `d${two(i % 100)}/s${two(Math.floor(i / 100) % 100)}/t${Math.floor(i / 10000) % 10}/obj-${String(Math.floor(i / 100000)).padStart(6, '0')}`;

/** What a Swift listing of the huge container must answer: entries (objects and subdirs) for prefix/delimiter, capped at limit. */
function expectedEntries(n, { prefix = '', delimiter, limit = 10000 }) {
  const seen = new Set();
  for (let i = 0; i < n; i++) {
    const name = hugeName(i);
    if (!name.startsWith(prefix)) continue;
    const cut = delimiter ? name.indexOf(delimiter, prefix.length) : -1;
    seen.add(cut >= 0 ? name.slice(0, cut + 1) : name);
  }
  return Math.min(seen.size, limit);
}

async function huge(suiteEp, ctx) {
  let ep = suiteEp;
  const name = `bench-${RUN}-huge`;
  console.log(`\nOUR SERVER ONLY: a container of ${HUGE_N.toLocaleString('en')} objects named dNN/sNN/tN/obj-N (100 x 100 x 10 directories)`);
  await putContainer(ep, name);
  const account = decodeURIComponent(ep.url.split('/').at(-1));
  let t0 = performance.now();
  await fillHuge(ctx.data, account, name, HUGE_N);
  // The fill kept this process's event loop busy for minutes: the idle keep-alive sockets the server
  // closed meanwhile are still in the agent's pool. Start afresh.
  ep.agent.destroy();
  ep = endpoint(ep.url, ep.token);
  console.log(`  filled in-process through the project's ObjectStore (dist/pithos/store/objects.js), 10,000 rows a transaction, then a WAL checkpoint and sync: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const head = await call(ep, 'HEAD', pathOf(name));
  console.log(`  X-Container-Object-Count: ${head.headers['x-container-object-count']}`);

  t0 = performance.now();
  const l = await listAll(ep, name, { limit: 10000 });
  const total = performance.now() - t0;
  const full = l.pages.filter((p) => p.rows > 0);
  const sorted = full.map((p) => p.ms).sort((a, b) => a - b);
  console.log(`  full listing by marker, json, 10,000 a page: ${l.count.toLocaleString('en')} names, ${l.pages.length} requests, ${(total / 1000).toFixed(2)} s`);
  console.log(`    page latency: min ${fmt(sorted[0])} ms   p50 ${fmt(pct(sorted, 0.5))} ms   p90 ${fmt(pct(sorted, 0.9))} ms   max ${fmt(sorted.at(-1))} ms`);
  console.log(`    first page ${fmt(full[0]?.ms)} ms   last page ${fmt(full.at(-1)?.ms)} ms   (closing request, ${l.pages.at(-1).rows} names: ${fmt(l.pages.at(-1).ms)} ms)`);
  if (l.count !== HUGE_N) console.log(`    PROBLEM: listed ${l.count} names, expected ${HUGE_N}`);
  console.log(`    every page (ms): ${l.pages.map((p) => fmt(p.ms, 0)).join(' ')}`);

  console.log('  prefix/delimiter listings on the tree (json, default limit 10000):');
  const q = async (label, query) => timedListing(ep, name, label, query, expectedEntries(HUGE_N, query));
  await q('delimiter=/ (top level: 100 directories)', { delimiter: '/' });
  await q('prefix=d05/ delimiter=/ (100 directories)', { prefix: 'd05/', delimiter: '/' });
  await q('prefix=d05/s05/ delimiter=/ (10 directories)', { prefix: 'd05/s05/', delimiter: '/' });
  await q('prefix=d05/s05/t5/ delimiter=/ (a leaf)', { prefix: 'd05/s05/t5/', delimiter: '/' });
  await q('prefix=d99/s99/t9/ (a leaf, no delimiter)', { prefix: 'd99/s99/t9/' });
  await q('prefix=d05/ (no delimiter, 10000 of them)', { prefix: 'd05/' });
  await q('marker=d50/ limit=100', { marker: 'd50/', limit: 100 });
  const dir = await listAll(ep, name, { prefix: 'd03/', limit: 10000 });
  console.log(`    ${'prefix=d03/ paged by marker (a whole top directory)'.padEnd(58)} ${String(dir.count).padStart(6)} names in ${dir.pages.length} requests, ${fmt(dir.pages.reduce((s, p) => s + p.ms, 0))} ms total`);
  await run('HEAD random objects of the huge container', 2000, C, (i) => call(ep, 'HEAD', pathOf(name, hugeName((i * 7919) % HUGE_N))));
  await run('PUT 4 KiB into the huge container', 500, C, (i) => call(ep, 'PUT', pathOf(name, `d05/s05/t5/new-${i}`), { body: stamped(`h${i}`, 0, 4096) }));
}

// ---------------------------------------------------------------- main

const ROWS = [
  ['put4k', 'PUT 4 KiB, c16', 'ops/s', 'rate'],
  ['get4k', 'GET 4 KiB, c16', 'ops/s', 'rate'],
  ['head', 'HEAD, c16', 'ops/s', 'rate'],
  ['put256', 'PUT 1 x 256 MiB', 'MB/s', 'rate'],
  ['get256', 'GET 1 x 256 MiB', 'MB/s', 'rate'],
  ['put8x64', 'PUT 8 x 64 MiB concurrent', 'MB/s', 'rate'],
  ['get8x64', 'GET 8 x 64 MiB concurrent', 'MB/s', 'rate'],
  ['create32', `PUT ${LIST_N} x 16 B, c32`, 'ops/s', 'rate'],
  ['list', `full listing of ${LIST_N}`, 'ms', 'latency'],
  ['listDelim', `delimiter=/ listing (${Math.max(1, Math.round(LIST_N / 100))} dirs)`, 'ms', 'latency'],
  ['listPrefix', 'prefix+delimiter (1 dir)', 'ms', 'latency'],
];

function report(ours, swift, m) {
  console.log('\nSUMMARY (ratio: ours/Swift for rates, Swift/ours for times; > 1 means ours is better)');
  console.log(`  ${'measurement'.padEnd(30)} ${'ours'.padStart(10)} ${'Swift'.padStart(10)}  unit    ratio`);
  for (const [key, label, unit, kind] of ROWS) {
    const o = ours?.[key];
    const s = swift?.[key];
    const ratio = o === undefined || s === undefined ? undefined : kind === 'rate' ? o / s : s / o;
    console.log(`  ${label.padEnd(30)} ${fmt(o).padStart(10)} ${fmt(s).padStart(10)}  ${unit.padEnd(6)} ${ratio === undefined || Number.isNaN(ratio) ? '-' : ratio >= 0.1 ? ratio.toFixed(2) : ratio.toPrecision(2)}`);
  }
  if (m) {
    console.log(`\n  SHA-256 one core ${fmt(m.sha)} MB/s, disk write+fsync ${fmt(m.disk)} MB/s => large-object target 80% x min = ${fmt(m.target)} MB/s`);
    for (const [key, label] of ROWS.filter((r) => r[2] === 'MB/s')) {
      const o = ours?.[key];
      if (o !== undefined) console.log(`    ours ${label.padEnd(28)} ${fmt(o).padStart(8)} MB/s = ${((o / m.target) * 100).toFixed(0)}% of target${o >= m.target ? '' : '  (below)'}`);
    }
  }
}

let exitCode = 0;
try {
  if (opt('url')) {
    const ep = endpoint(opt('url'), opt('token', ''));
    console.log(`Endpoint ${ep.url}`);
    const r = await suite(ep);
    if (has('cleanup')) { console.log('  cleanup'); await cleanup(ep, r.created); }
    report(r, undefined, undefined);
  } else {
    const m = machine();
    let ours;
    let swift;
    if (ONLY !== 'swift') {
      console.log(`\nOURS: synnefo up (Pithos, SQLite, local block store)   [load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}]`);
      ours = await withOurs(async (ep, ctx) => {
        console.log(`  ${ep.url}`);
        const r = await suite(ep);
        if (HUGE) await huge(ep, ctx);
        return r;
      });
    }
    if (ONLY !== 'ours') {
      console.log(`\nSWIFT: OpenStack Swift on this machine   [load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}]`);
      swift = await withSwift((ep) => suite(ep));
    }
    report(ours, swift, m);
  }
  console.log(`\nLoad average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on this machine skews every figure)`);
  if (notes.length) console.log(`\nNotes:\n${notes.map((n) => `  - ${n}`).join('\n')}`);
} catch (err) {
  console.error(`\nbenchmark failed: ${err.stack ?? err}`);
  exitCode = 1;
} finally {
  await cleanupAll();
  if (children.size) console.error(`still running: ${[...children].map((c) => `${c.name} (${c.child.pid})`).join(', ')}`);
}
process.exit(exitCode);
