#!/usr/bin/env node
// Compute benchmark: servers created, listed and acted on through the Nova-compatible API of a
// real `synnefo serve --roles all` process (its own temp data and config dirs), on the simulated
// (fake) backend and, when a testbed is up, on a real Ganeti cluster.
//
//   1. fake driver: --n creates at concurrency --c (cyclades.fake_job_ms = --fake-job-ms, 300):
//      API servers/s, POST p50/p99, time until all ACTIVE, list latency with N servers; then the
//      same creates spread over --c users.
//   2. seeded run (cyclades.fake_job_ms = 0): --seed active servers of one user plus 1,000 of
//      another, seeded in the database by the service's own store (--seed-via api: through the
//      API); list/detail page latency (target <= 50 ms); dispatcher throughput on --shutdowns
//      shutdowns through the API, then on a backlog of as many ended jobs (target >= 100 events/s).
//   3. real Ganeti (--ganeti, default /run/snf-ganeti-testbed.json from scripts/ganeti-testbed.sh):
//      --ganeti-n (50) creates, time to ACTIVE, then deletes until DELETED.
//
// Usage: npm run bench:compute -- [--n 1000] [--c 16] [--seed 10000] [--shutdowns 2000]
//          [--pg postgres://postgres@127.0.0.1:5432/postgres] [--ganeti <json>] [--ganeti-n 50]
//          [--only fake,seed,ganeti] [--skip-sqlite] [--seed-via db|api] [--fake-job-ms 300] [--cpu-prof <dir>]
// SQLite always (unless --skip-sqlite); with --pg the fake and seeded runs again on PostgreSQL,
// each on a fresh database dropped at the end (the Ganeti run is not repeated).
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, existsSync, readFileSync, cpSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, nodeFlagsOf, withPgDatabase } from './lib.mjs';
import { promisify } from 'node:util';
import http from 'node:http';

const execFileP = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Options

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
// The build this run started with, copied aside: a rebuild of dist/ while the benchmark runs
// (minutes) must not mix two versions between the server, the admin tool and this process.
const root = mkdtempSync(join(tmpdir(), 'snf-bench-dist-'));
cpSync(join(repo, 'dist'), join(root, 'dist'), { recursive: true });
cpSync(join(repo, 'package.json'), join(root, 'package.json'));
symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
process.on('SIGINT', () => process.exit(130));
const cli = join(root, 'dist/bin/synnefo.js');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const N = Number(opt('n', 1000));
const C = Number(opt('c', 16));
const SEED = Number(opt('seed', 10000));
const SHUTDOWNS = Number(opt('shutdowns', 2000));
const MEDIUM = 1000;
const GANETI_N = Number(opt('ganeti-n', 50));
const FAKE_JOB_MS = Number(opt('fake-job-ms', 300));
const ONLY = new Set(String(opt('only', 'fake,seed,ganeti')).split(','));
const PROF = opt('cpu-prof', undefined);
const SEED_VIA = opt('seed-via', 'db');
const DEFAULT_TESTBED = '/run/snf-ganeti-testbed.json';
const GANETI_FILE = opt('ganeti', existsSync(DEFAULT_TESTBED) ? DEFAULT_TESTBED : undefined);
const pgAdmin = opt('pg', undefined);

/** Flavor of the simulated runs; the fake cluster has a fixed size (64 GiB RAM, 1 TiB disk), so big runs need several. */
const FAKE_FLAVOR = { cpus: 1, ram: 128, disk: 1 };
const FAKE_CLUSTER = { memoryMiB: 64 * 1024, diskMiB: 1024 * 1024 };
const perFakeCluster = Math.min(Math.floor(FAKE_CLUSTER.memoryMiB / FAKE_FLAVOR.ram), Math.floor(FAKE_CLUSTER.diskMiB / (FAKE_FLAVOR.disk * 1024)));
const TARGET_PAGE_MS = 50;
const TARGET_EVENTS_PER_S = 100;

// ---------------------------------------------------------------------------------------------
// HTTP: a keep-alive client; the load generator shares the machine, so it should cost little.

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function request(method, url, { token, body, raw, headers = {}, ok = [] } = {}) {
  return new Promise((resolvePromise, reject) => {
    const data = raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
    const h = { ...(token ? { 'x-auth-token': token } : {}), ...headers };
    if (data) { h['content-length'] = data.length; if (body !== undefined) h['content-type'] = 'application/json'; }
    const req = http.request(url, { method, agent, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode >= 400 && !ok.includes(res.statusCode)) { reject(new Error(`${method} ${url}: ${res.statusCode} ${text.slice(0, 300)}`)); return; }
        let json;
        try { json = text && (res.headers['content-type'] ?? '').includes('json') ? JSON.parse(text) : undefined; } catch { json = undefined; }
        resolvePromise({ status: res.statusCode, json, text, bytes: text.length });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

// ---------------------------------------------------------------------------------------------
// Figures

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  const pct = (p) => v.length ? v[Math.min(v.length - 1, Math.ceil(p * v.length) - 1)] : NaN;
  return { n: v.length, p50: pct(0.5), p99: pct(0.99), max: v.at(-1) ?? NaN, min: v[0] ?? NaN };
}
const ms = (x) => Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '-';
const secs = (x) => `${(x / 1000).toFixed(1)} s`;
const rate = (x) => x >= 100 ? x.toFixed(0) : x.toFixed(1);

/** Rows of a result table, printed as they come (a run can be long). */
function row(label, value, target) {
  console.log(`  ${label.padEnd(58)} ${String(value).padEnd(40)}${target ? ` ${target}` : ''}`);
}
const verdict = (pass, what) => `target ${what}: ${pass ? 'PASS' : 'MISS'}`;

/** Runs `op(i)` for i in 0..total-1 with `concurrency` workers; returns latencies and wall time. */
async function pool(total, concurrency, op) {
  const latencies = new Array(total);
  let next = 0;
  let failures = 0;
  let firstError;
  const start = now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, async () => {
    for (let i = next++; i < total; i = next++) {
      const t0 = now();
      try { await op(i, t0); } catch (err) { failures++; firstError ??= err; }
      latencies[i] = now() - t0;
    }
  }));
  const elapsed = now() - start;
  if (failures) console.log(`  !! ${failures} of ${total} requests failed; first: ${firstError.message}`);
  return { latencies, elapsed, failures };
}

// ---------------------------------------------------------------------------------------------
// A `synnefo serve` process with its own data and config dirs


async function withServer({ databaseUrl, fakeJobMs, label, extraConf = '' }, f) {
  const dir = mkdtempSync(join(tmpdir(), 'snf-bench-compute-'));
  const conf = join(dir, 'conf');
  const data = join(dir, 'data');
  mkdirSync(conf, { recursive: true });
  writeFileSync(join(conf, '00-bench.conf'), `log.level = warn\ndatabase.url = ${databaseUrl}\ncyclades.fake_job_ms = ${fakeJobMs}\n${extraConf}`);
  const manage = async (...a) => (await execFileP(process.execPath, [cli, 'manage', '--data-dir', data, '--config-dir', conf, ...a], { encoding: 'utf8' })).stdout.trim();
  const port = await freePort();
  const nodeArgs = PROF ? ['--cpu-prof', '--cpu-prof-dir', resolve(PROF), '--cpu-prof-name', `${label.replace(/[^a-z0-9]+/gi, '-')}-${Date.now()}.cpuprofile`] : [];
  const server = spawn(process.execPath, [...nodeFlagsOf(cli), ...nodeArgs, cli, 'serve', '--roles', 'all', '--data-dir', data, '--config-dir', conf, '--port', String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => server.once('exit', r));
  const url = `http://127.0.0.1:${port}`;
  let up = false;
  for (let i = 0; i < 300 && !up; i++) {
    try { up = (await fetch(`${url}/healthz`)).ok; } catch { /* starting */ }
    if (!up) await sleep(100);
  }
  try {
    if (!up) throw new Error('synnefo serve did not become healthy');
    // Per-user limits out of the way: one listing user holds thousands of servers here.
    for (const r of ['cyclades.vm', 'cyclades.cpu', 'cyclades.ram', 'cyclades.total_cpu', 'cyclades.total_ram', 'cyclades.disk']) {
      await manage('resource-modify', r, '--base-default', 'inf', '--update-existing');
    }
    const addUser = async (name) => {
      const uuid = await manage('user-add', '--email', `${name}@example.org`, '--password', 'benchmark1', '--active');
      return { uuid, token: await manage('user-token', uuid) };
    };
    return await f({ url, manage, addUser, compute: `${url}/cyclades/compute/v2.0`, data, conf });
  } finally {
    server.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Uploads a small object to the user's `images` container and registers it as a public image (Glance v1). */
async function registerImage(url, user) {
  const base = `${url}/pithos/object-store/v1/${user.uuid}`;
  await request('PUT', `${base}/images`, { token: user.token });
  await request('PUT', `${base}/images/bench.diskdump`, { token: user.token, raw: Buffer.alloc(4096, 7), headers: { 'content-type': 'application/octet-stream' } });
  const r = await request('POST', `${url}/cyclades/image/v1.0/images/`, {
    token: user.token, headers: {
      'x-image-meta-name': 'bench', 'x-image-meta-location': `pithos://${user.uuid}/images/bench.diskdump`,
      'x-image-meta-disk-format': 'diskdump', 'x-image-meta-container-format': 'bare', 'x-image-meta-is-public': 'true',
      'x-image-meta-property-os': 'debian', 'x-image-meta-property-osfamily': 'linux', 'x-image-meta-property-users': 'root',
    },
  });
  return r.json.image.id;
}

/** The flavor id `flavor-create` made (or had) for these sizes. */
async function flavorId(manage, { cpus, ram, disk }, template = 'file') {
  await manage('flavor-create', '--cpus', String(cpus), '--rams', String(ram), '--disks', String(disk), '--disk-templates', template);
  const list = JSON.parse(await manage('flavor-list', '--output-format', 'json'));
  const f = list.find((x) => x.cpu === cpus && x.ram === ram && x.disk === disk && x.disk_template === template);
  if (!f) throw new Error(`flavor C${cpus}R${ram}D${disk}${template} not found`);
  return f.id;
}

async function addFakeBackends(manage, servers) {
  const count = Math.max(1, Math.ceil(servers / perFakeCluster));
  for (let i = 1; i <= count; i++) await manage('backend-add', '--clustername', `bench-${i}.fake`, '--driver', 'fake');
  return count;
}

/**
 * Follows the servers of a user through `changes-since` polls (only what changed comes back)
 * until `done(statusById)` holds; returns when it held and each server's last `updated` time.
 * `since` must precede the requests whose effects are awaited: earlier changes are not seen.
 */
async function watch(compute, token, done, { since, intervalMs = 100, timeoutMs = 300_000 }) {
  if (!Number.isFinite(since)) throw new Error('watch: since is required');
  const statuses = new Map();
  const updated = new Map();
  const deadline = Date.now() + timeoutMs;
  let last = since;
  for (;;) {
    const pollStart = Date.now();
    const r = await request('GET', `${compute}/servers/detail?changes-since=${encodeURIComponent(new Date(last).toISOString())}`, { token });
    if (r.status === 200) {
      for (const s of r.json.servers) {
        statuses.set(s.id, s['SNF:task_state'] ? `${s.status}/${s['SNF:task_state']}` : s.status);
        updated.set(s.id, Date.parse(s.updated));
      }
    }
    // Rows changed in the same millisecond as the poll are seen again next time, never missed.
    last = pollStart - 5;
    if (done(statuses)) return { at: Date.now(), statuses, updated };
    if (Date.now() > deadline) {
      const counts = {};
      for (const s of statuses.values()) counts[s] = (counts[s] ?? 0) + 1;
      throw new Error(`timed out waiting; statuses: ${JSON.stringify(counts)}`);
    }
    await sleep(intervalMs);
  }
}
const allAre = (ids, status) => (m) => ids.every((id) => m.get(id) === status);

/** Creates `count` servers for `user` at concurrency `c`; returns ids, POST latencies, send times and elapsed. */
async function createServers(compute, user, count, c, imageRef, flavorRef, prefix) {
  const ids = new Array(count);
  const sentAt = new Map();
  const res = await pool(count, c, async (i) => {
    const t = Date.now();
    const r = await request('POST', `${compute}/servers`, { token: user.token, body: { server: { name: `${prefix}-${i}`, imageRef, flavorRef } } });
    if (r.status !== 202) throw new Error(`create: ${r.status}`);
    ids[i] = r.json.server.id;
    sentAt.set(r.json.server.id, t);
  });
  return { ids: ids.filter((x) => x !== undefined), sentAt, ...res };
}

async function timed(n, f) {
  const out = [];
  for (let i = 0; i < n; i++) { const t = now(); await f(); out.push(now() - t); }
  return stats(out);
}

/** Walks every page of a listing; returns per-page latencies and the ids seen. */
async function walk(compute, token, path, limit) {
  const lat = [];
  const ids = [];
  let marker;
  for (;;) {
    const t = now();
    const r = await request('GET', `${compute}${path}?limit=${limit}${marker !== undefined ? `&marker=${marker}` : ''}`, { token });
    lat.push(now() - t);
    const page = r.json.servers;
    if (page.length === 0) break;
    for (const s of page) ids.push(s.id);
    marker = page.at(-1).id;
    if (page.length < limit) break;
  }
  return { ...stats(lat), lat, ids };
}

// ---------------------------------------------------------------------------------------------
// 1. Fake driver: N creates

async function benchFake(db, databaseUrl) {
  console.log(`\n[${db}] 1. fake driver: ${N} creates at concurrency ${C} (cyclades.fake_job_ms = ${FAKE_JOB_MS}, flavor C${FAKE_FLAVOR.cpus}R${FAKE_FLAVOR.ram}D${FAKE_FLAVOR.disk}file)`);
  await withServer({ databaseUrl, fakeJobMs: FAKE_JOB_MS, label: `${db}-fake` }, async ({ url, manage, addUser, compute, data, conf }) => {
    const clusters = await addFakeBackends(manage, 2 * N + 20);
    const flavor = await flavorId(manage, FAKE_FLAVOR);
    const user = await addUser('fake-bench');
    const image = await registerImage(url, user);
    row('simulated clusters (fixed 64 GiB RAM / 1 TiB disk each)', clusters);
    // Warm-up (code paths, connections, the first jobs on each cluster); the warm-up servers are deleted.
    const w0 = Date.now();
    const warm = await createServers(compute, user, 20, 4, image, flavor, 'warm');
    await watch(compute, user.token, allAre(warm.ids, 'ACTIVE'), { since: w0 - 1000 });
    const w1 = Date.now();
    await pool(warm.ids.length, 4, (i) => request('DELETE', `${compute}/servers/${warm.ids[i]}`, { token: user.token }));
    await watch(compute, user.token, allAre(warm.ids, 'DELETED'), { since: w1 - 1000 });

    const t0 = Date.now();
    const created = await createServers(compute, user, N, C, image, flavor, 'bench');
    const post = stats(created.latencies);
    row(`POST /servers accepted (${created.ids.length} of ${N})`, `${rate(created.ids.length / (created.elapsed / 1000))} servers/s   in ${secs(created.elapsed)}`);
    row('POST /servers latency', `p50 ${ms(post.p50)} ms   p99 ${ms(post.p99)} ms   max ${ms(post.max)} ms`);
    const seen = await watch(compute, user.token, allAre(created.ids, 'ACTIVE'), { since: t0 - 1000 });
    const lastActive = Math.max(...created.ids.map((id) => seen.updated.get(id)));
    const toActive = stats(created.ids.map((id) => seen.updated.get(id) - created.sentAt.get(id)));
    row('all ACTIVE after (from the first POST)', `${secs(lastActive - t0)}   ${rate(created.ids.length / ((lastActive - t0) / 1000))} servers ACTIVE/s`);
    row('time to ACTIVE per server (POST sent -> ACTIVE)', `p50 ${ms(toActive.p50)} ms   p99 ${ms(toActive.p99)} ms`);
    const detail = await timed(20, () => request('GET', `${compute}/servers/detail`, { token: user.token }));
    const ids = await timed(20, () => request('GET', `${compute}/servers`, { token: user.token }));
    row(`GET /servers/detail, ${created.ids.length} servers (20 runs)`, `median ${ms(detail.p50)} ms   max ${ms(detail.max)} ms`);
    row(`GET /servers (ids), ${created.ids.length} servers (20 runs)`, `median ${ms(ids.p50)} ms   max ${ms(ids.max)} ms`);

    // The same creates spread over C users (concurrent requests never share a user's quota holdings).
    const users = [];
    const inproc = await openInProcess(data, conf);
    try {
      for (let i = 0; i < C; i++) users.push(await inproc.addUser(`spread-${i}`));
    } finally {
      await inproc.close();
    }
    const spread = await pool(N, C, async (i) => {
      const r = await request('POST', `${compute}/servers`, { token: users[i % C].token, body: { server: { name: `spread-${i}`, imageRef: image, flavorRef: flavor } } });
      if (r.status !== 202) throw new Error(`create: ${r.status}`);
    });
    const sp = stats(spread.latencies);
    row(`POST /servers, ${N} creates spread over ${C} users`, `${rate((N - spread.failures) / (spread.elapsed / 1000))} servers/s   p50 ${ms(sp.p50)} ms   p99 ${ms(sp.p99)} ms`);
    const placed = JSON.parse(await manage('backend-list', '--output-format', 'json')).reduce((n, b) => n + b.pinst_cnt, 0);
    const expected = warm.ids.length + created.ids.length + N - spread.failures;
    row("allocator bookkeeping: backends' pinst_cnt sum", `${placed} (servers placed: ${expected})`, placed === expected ? '' : 'LOST UPDATES');
  });
}

// ---------------------------------------------------------------------------------------------
// 2. Seeded run: thousands of active servers, page latency, dispatcher throughput

/** The compute service's own logic, opened in this process on the server's data and settings (as `synnefo manage` does). */
async function openInProcess(data, conf) {
  const dist = (m) => import(join(root, 'dist', m));
  const [{ manageContext }, { openAstakos }, { InProcessQuotaClient }, { openCyclades }, resources] = await Promise.all([
    dist('node/manage.js'), dist('astakos/service.js'), dist('astakos/logic/quota-client.js'), dist('cyclades/service.js'), dist('cyclades/logic/resources.js'),
  ]);
  const c = manageContext({ dataDir: data, configDir: conf });
  const astakos = await openAstakos({ settings: c.settings, dataDir: c.dataDir, secretKey: c.secretKey, log: c.log, baseUrl: c.baseUrl });
  const quota = new InProcessQuotaClient('cyclades', astakos);
  const cy = await openCyclades({ settings: c.settings, dataDir: c.dataDir, secretKey: c.secretKey, log: c.log, quota, images: { image: async () => undefined } });
  /** An active user and their API token, as `user-add --active` and `user-token` make them. */
  const addUser = async (name) => {
    const { user, token } = await astakos.accounts.createUser({ email: `${name}@example.org`, password: 'benchmark1', active: true });
    return { uuid: user.uuid, token };
  };
  return { cy, quota, resources, addUser, close: async () => { await cy.close(); await astakos.close(); } };
}

/** Placeholder serials of the seeded servers' creation commissions, far above the quota holder's own. */
const HISTORY_SERIAL = 1e12;

/**
 * Seeds active servers without the API: per user, one server is created through the API and
 * waited for; the rest are copies of its row (spread over the simulated clusters), each with
 * its instance on its cluster, the resolved creation commission a create leaves behind, and one
 * accepted commission per user for what they all hold. `reconcile-servers` then finds nothing to fix.
 */
async function seedDirect(inproc, compute, seeds, image, flavorRef) {
  const { cy, quota, resources } = inproc;
  const backends = await cy.backends.list();
  const flavor = await cy.store.flavor(flavorRef);
  const out = [];
  for (const { user, count, prefix } of seeds) {
    const t0 = Date.now();
    const tpl = await createServers(compute, user, 1, 1, image, flavorRef, `${prefix}-0`);
    await watch(compute, user.token, allAre(tpl.ids, 'ACTIVE'), { since: t0 - 1000 });
    const row = await cy.store.server(tpl.ids[0]);
    const info = (await cy.backends.driver(backends.find((b) => Number(b.id) === Number(row.backend_id))).listInstances()).find((i) => i.name === cy.servers.instanceName(Number(row.id)));
    const { id: _id, ...base } = row;
    const quantities = JSON.stringify(resources.serverResources(flavor, true));
    const ids = [Number(row.id)];
    for (let from = 1; from < count; from += 1000) {
      const batch = [];
      await cy.store.transaction(async (tx) => {
        for (let i = from; i < Math.min(count, from + 1000); i++) {
          const b = backends[i % backends.length];
          const t = Date.now();
          const id = await tx.addServer({ ...base, name: `${prefix}-${i}`, backend_id: Number(b.id), job_id: null, job_opcode: '', job_status: '', job_log: '', serial: null, created_at: t, updated_at: t });
          await tx.addSerial({ serial: HISTORY_SERIAL + id, server_id: id, action: 'BUILD', job_id: null, quantities, accept: 1, resolved: 1, created_at: t });
          batch.push([id, b]);
        }
      });
      const t = Date.now() / 1000;
      for (const [id, b] of batch) cy.backends.driver(b).addBehindBack(cy.servers.instanceName(id), { ...info, tags: [...info.tags], nics: [], ctime: t, mtime: t });
      ids.push(...batch.map(([id]) => id));
    }
    const held = Object.fromEntries(Object.entries(resources.serverResources(flavor, true)).map(([k, v]) => [k, v * (count - 1)]));
    const serial = await cy.charges.issue({ id: 0, user_id: row.user_id, project: row.project }, 'seed', held);
    await quota.acceptCommission(serial);
    out.push(ids);
  }
  for (const b of backends) await cy.backends.updateStatus(Number(b.id));
  return out;
}

/**
 * A backlog for the dispatcher alone: shutdowns of these servers done as the API does them
 * (commission issued, job submitted to the cluster, pending action recorded with the job), but
 * recorded in one transaction and with no bus message, so the dispatcher's rescan meets them all
 * at once, as after a restart or a lost bus. The jobs have ended on the cluster by then.
 */
async function shutdownBacklog(inproc, ids) {
  const { cy, resources } = inproc;
  const backends = new Map((await cy.backends.list()).map((b) => [Number(b.id), b]));
  const items = new Array(ids.length);
  await pool(ids.length, 8, async (i) => {
    const vm = await cy.store.server(ids[i]);
    const q = resources.negate(resources.runningResources(await cy.store.flavor(Number(vm.flavor_id))));
    const serial = await cy.charges.issue(vm, 'stop', q);
    const driver = cy.backends.driver(backends.get(Number(vm.backend_id)));
    const jobId = await driver.shutdownInstance(cy.servers.instanceName(ids[i]));
    let state = await driver.job(jobId);
    while (!['success', 'error', 'canceled'].includes(state.status)) state = await driver.waitForJobChange(jobId, state.status, 30);
    if (state.status !== 'success') throw new Error(`shutdown job ${jobId}: ${state.status} ${state.message}`);
    items[i] = { id: ids[i], serial, jobId, q };
  });
  const at = Date.now();
  await cy.store.transaction(async (tx) => {
    for (const it of items) {
      await tx.updateServer(it.id, { action: 'STOP', task_state: 'STOPPING', serial: it.serial, job_id: it.jobId, job_opcode: 'OP_INSTANCE_SHUTDOWN', job_status: 'queued', job_log: '', updated_at: at });
      await cy.charges.record(tx, it.serial, it.id, 'STOP', it.q, it.jobId);
    }
  });
  return Date.now();
}

async function benchSeeded(db, databaseUrl) {
  const total = SEED + MEDIUM;
  const clusters = Math.max(1, Math.ceil(total / perFakeCluster));
  console.log(`\n[${db}] 2. seeded run: ${SEED} active servers of one user + ${MEDIUM} of another, on ${clusters} simulated clusters (cyclades.fake_job_ms = 0; seeded ${SEED_VIA === 'api' ? 'through the API' : 'in the database'})`);
  await withServer({ databaseUrl, fakeJobMs: 0, label: `${db}-seed` }, async ({ url, manage, addUser, compute, data, conf }) => {
    const flavor = await flavorId(manage, FAKE_FLAVOR);
    const big = await addUser('big');
    const medium = await addUser('medium');
    const image = await registerImage(url, big);
    const inproc = await openInProcess(data, conf);
    try {
      for (let i = 1; i <= clusters; i++) await inproc.cy.backends.add({ clustername: `bench-${i}.fake`, driver: 'fake' });
      const t0 = Date.now();
      let bigIds;
      let mediumIds;
      if (SEED_VIA === 'api') {
        const a = await createServers(compute, big, SEED, C, image, flavor, 'big');
        const b = await createServers(compute, medium, MEDIUM, C, image, flavor, 'medium');
        const p = stats([...a.latencies, ...b.latencies]);
        row(`seeding: ${a.ids.length + b.ids.length} creates through the API`, `${rate((a.ids.length + b.ids.length) / ((a.elapsed + b.elapsed) / 1000))} servers/s   POST p50 ${ms(p.p50)}   p99 ${ms(p.p99)} ms`);
        await watch(compute, big.token, allAre(a.ids, 'ACTIVE'), { since: t0 - 1000, intervalMs: 250 });
        await watch(compute, medium.token, allAre(b.ids, 'ACTIVE'), { since: t0 - 1000, intervalMs: 250 });
        [bigIds, mediumIds] = [a.ids, b.ids];
      } else {
        [bigIds, mediumIds] = await seedDirect(inproc, compute, [{ user: big, count: SEED, prefix: 'big' }, { user: medium, count: MEDIUM, prefix: 'medium' }], image, flavor);
      }
      row(`seeding: ${bigIds.length + mediumIds.length} ACTIVE servers after`, secs(Date.now() - t0));
      const r0 = Date.now();
      const drift = await manage('reconcile-servers');
      row('reconcile-servers after seeding', `${drift.split('\n')[0].slice(0, 30)} (${secs(Date.now() - r0)})`);

      for (const [who, user, count] of [[`user with ${bigIds.length}`, big, bigIds.length], [`user with ${mediumIds.length}`, medium, mediumIds.length]]) {
        for (const limit of [100, 1000]) {
          // Two walks: the first one warms up, both count.
          const w1 = await walk(compute, user.token, '/servers/detail', limit);
          const w2 = await walk(compute, user.token, '/servers/detail', limit);
          if (w1.ids.length !== count || new Set(w1.ids).size !== count) row(`!! ${who}: paging saw ${w1.ids.length} servers (${new Set(w1.ids).size} distinct)`, '');
          const all = stats([...w1.lat, ...w2.lat]);
          row(`${who}: /servers/detail?limit=${limit} (${w1.n} pages x2)`, `p50 ${ms(all.p50)}   p99 ${ms(all.p99)}   max ${ms(all.max)} ms`,
            verdict(all.p99 <= TARGET_PAGE_MS, `p99 <= ${TARGET_PAGE_MS} ms`));
        }
        const w = await walk(compute, user.token, '/servers', 1000);
        row(`${who}: /servers?limit=1000 (ids; ${w.n} pages)`, `p50 ${ms(w.p50)}   p99 ${ms(w.p99)}   max ${ms(w.max)} ms`, verdict(w.p99 <= TARGET_PAGE_MS, `p99 <= ${TARGET_PAGE_MS} ms`));
        const full = await timed(count > 5000 ? 3 : 10, () => request('GET', `${compute}/servers/detail`, { token: user.token }));
        row(`${who}: /servers/detail, no limit (all ${count})`, `median ${ms(full.p50)} ms   max ${ms(full.max)} ms`);
        const fullIds = await timed(count > 5000 ? 3 : 10, () => request('GET', `${compute}/servers`, { token: user.token }));
        row(`${who}: /servers, no limit (ids; all ${count})`, `median ${ms(fullIds.p50)} ms   max ${ms(fullIds.max)} ms`);
      }
      const single = await timed(200, () => request('GET', `${compute}/servers/${bigIds[Math.floor(Math.random() * bigIds.length)]}`, { token: big.token }));
      row('GET /servers/{id} (200 runs)', `p50 ${ms(single.p50)}   p99 ${ms(single.p99)} ms`);

      // Dispatcher throughput, end to end: shutdowns of the newest S servers of the big user as fast as the API takes them.
      const newest = [...bigIds].sort((x, y) => y - x);
      const targets = newest.slice(0, Math.min(SHUTDOWNS, newest.length));
      const s0 = Date.now();
      const shut = await pool(targets.length, C, async (i) => {
        const r = await request('POST', `${compute}/servers/${targets[i]}/action`, { token: big.token, body: { shutdown: {} } });
        if (r.status !== 202) throw new Error(`shutdown: ${r.status}`);
      });
      const accepted = Date.now();
      const seen = await watch(compute, big.token, allAre(targets, 'STOPPED'), { since: s0 - 1000, intervalMs: 100 });
      const lastStopped = Math.max(...targets.map((id) => seen.updated.get(id)));
      const elapsed = (lastStopped - s0) / 1000;
      const sl = stats(shut.latencies);
      const events = 2 * targets.length / elapsed;
      row(`shutdown via API: ${targets.length} POST /action {"shutdown"}`, `${rate(targets.length / (shut.elapsed / 1000))} req/s   p50 ${ms(sl.p50)}   p99 ${ms(sl.p99)} ms`);
      row('shutdown via API: first request -> all STOPPED', `${elapsed.toFixed(2)} s   (last STOPPED ${((lastStopped - accepted) / 1000).toFixed(2)} s after the last 202)`);
      row('  jobs completed/s', rate(targets.length / elapsed));
      row('  job events applied/s (2 per job: running, success)', rate(events), verdict(events >= TARGET_EVENTS_PER_S, `>= ${TARGET_EVENTS_PER_S}/s`));

      // Dispatcher throughput alone: a backlog of ended jobs it finds on its rescan (every 5 s).
      const next = newest.slice(targets.length, targets.length + Math.min(SHUTDOWNS, newest.length - targets.length));
      if (next.length > 0) {
        const b0 = Date.now();
        const committed = await shutdownBacklog(inproc, next);
        const prepared = Date.now() - b0;
        const done = await watch(compute, big.token, allAre(next, 'STOPPED'), { since: committed - 1000, intervalMs: 250 });
        const times = next.map((id) => done.updated.get(id));
        const first = Math.min(...times);
        const last = Math.max(...times);
        const jobsPerS = (next.length - 1) / Math.max(0.001, (last - first) / 1000);
        row(`backlog: ${next.length} ended shutdown jobs recorded (prepared in ${secs(prepared)})`, `picked up ${((first - committed) / 1000).toFixed(2)} s later, all STOPPED in ${((last - first) / 1000).toFixed(2)} s`);
        row('  dispatcher alone: jobs applied/s (1 final event each)', rate(jobsPerS), verdict(jobsPerS >= TARGET_EVENTS_PER_S, `>= ${TARGET_EVENTS_PER_S}/s`));
      }
    } finally {
      await inproc.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// 3. Real Ganeti cluster

async function benchGaneti(db, databaseUrl) {
  if (!GANETI_FILE || !existsSync(GANETI_FILE)) {
    console.log(`\n[${db}] 3. real Ganeti: skipped (no testbed; run scripts/ganeti-testbed.sh up)`);
    return;
  }
  const cluster = JSON.parse(readFileSync(GANETI_FILE, 'utf8'))[0];
  const rapi = new URL(cluster.url);
  console.log(`\n[${db}] 3. real Ganeti ${cluster.cluster ?? cluster.name} (${cluster.url}): ${GANETI_N} creates at concurrency ${Math.min(C, GANETI_N)}, flavor C1R128D1file`);
  // Instance names of our own on a cluster other test runs may share.
  const extraConf = `cyclades.instance_prefix = snfbench${process.pid}-\n`;
  await withServer({ databaseUrl, fakeJobMs: FAKE_JOB_MS, label: `${db}-ganeti`, extraConf }, async ({ url, manage, addUser, compute }) => {
    await manage('backend-add', '--clustername', rapi.hostname, '--port', rapi.port || '5080', '--driver', 'ganeti',
      '--username', cluster.user, '--password', cluster.password, '--insecure');
    const flavor = await flavorId(manage, { cpus: 1, ram: 128, disk: 1 });
    const user = await addUser('ganeti-bench');
    const image = await registerImage(url, user);
    const t0 = Date.now();
    const created = await createServers(compute, user, GANETI_N, Math.min(C, GANETI_N), image, flavor, 'gnt');
    const post = stats(created.latencies);
    row(`POST /servers accepted (${created.ids.length} of ${GANETI_N})`, `${rate(created.ids.length / (created.elapsed / 1000))} servers/s   in ${secs(created.elapsed)}`);
    row('POST /servers latency (includes the RAPI job submission)', `p50 ${ms(post.p50)} ms   p99 ${ms(post.p99)} ms`);
    const done = (m) => created.ids.every((id) => ['ACTIVE', 'ERROR'].includes(m.get(id)));
    const seen = await watch(compute, user.token, done, { since: t0 - 1000, intervalMs: 500, timeoutMs: 900_000 });
    const active = created.ids.filter((id) => seen.statuses.get(id) === 'ACTIVE');
    const errors = created.ids.length - active.length;
    const lastActive = Math.max(...active.map((id) => seen.updated.get(id)));
    const toActive = stats(active.map((id) => seen.updated.get(id) - created.sentAt.get(id)));
    row(`all ACTIVE after${errors ? ` (${errors} ERROR)` : ''}`, `${secs(lastActive - t0)}   ${rate(active.length / ((lastActive - t0) / 1000))} servers ACTIVE/s`);
    row('time to ACTIVE per server', `p50 ${secs(toActive.p50)}   p99 ${secs(toActive.p99)}`);
    const list = await timed(10, () => request('GET', `${compute}/servers/detail`, { token: user.token }));
    row(`GET /servers/detail, ${created.ids.length} servers (10 runs)`, `median ${ms(list.p50)} ms`);
    const d0 = Date.now();
    await pool(created.ids.length, Math.min(C, GANETI_N), (i) => request('DELETE', `${compute}/servers/${created.ids[i]}`, { token: user.token }));
    await watch(compute, user.token, allAre(created.ids, 'DELETED'), { since: d0 - 1000, intervalMs: 500, timeoutMs: 900_000 });
    row(`DELETE: all ${created.ids.length} DELETED after`, `${secs(Date.now() - d0)}   ${rate(created.ids.length / ((Date.now() - d0) / 1000))} servers/s`);
  });
}

// ---------------------------------------------------------------------------------------------

/** Each run gets an empty database: SQLite files in its temp dir, or a fresh PostgreSQL database. */
async function benchAll(db, ganeti) {
  const fresh = (f) => (db === 'PostgreSQL' ? withPgDatabase(pgAdmin, f) : f(''));
  if (ONLY.has('fake')) await fresh((u) => benchFake(db, u));
  if (ONLY.has('seed')) await fresh((u) => benchSeeded(db, u));
  if (ONLY.has('ganeti') && ganeti) await fresh((u) => benchGaneti(db, u));
}


/** What one durable commit costs on this disk (SQLite, WAL, synchronous = FULL, as the services open it): it bounds the SQLite figures. */
async function commitCost() {
  const { default: SQLite } = await import('better-sqlite3');
  const dir = mkdtempSync(join(tmpdir(), 'snf-bench-fsync-'));
  try {
    const db = new SQLite(join(dir, 'probe.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const t = now();
    for (let i = 0; i < 200; i++) insert.run('x'.repeat(200));
    db.close();
    return (now() - t) / 200;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const started = Date.now();
console.log(`Compute benchmark (${(await import('node:os')).cpus().length} CPUs, node ${process.version}, load average ${(await import('node:os')).loadavg()[0].toFixed(1)}; one SQLite commit (WAL, synchronous=FULL) in ${tmpdir()}: ${(await commitCost()).toFixed(2)} ms)`);
if (PROF) { mkdirSync(PROF, { recursive: true }); console.log(`CPU profiles of the server processes: ${resolve(PROF)}`); }
// SQLite always (with the real Ganeti run); PostgreSQL too with --pg (the Ganeti run is not repeated).
if (!args.includes('--skip-sqlite')) await benchAll('SQLite', true);
if (pgAdmin) await benchAll('PostgreSQL', false);
console.log(`\ndone in ${secs(Date.now() - started)}`);
agent.destroy();
