#!/usr/bin/env node
// Quota holder benchmark: commissions per second (issue + accept) and quota reads per second,
// through the HTTP API of a real `synnefo serve --roles astakos` process, on SQLite and, with
// --pg <admin URL>, on PostgreSQL too. Usage: npm run build && node bench/quotas.mjs [--pg postgres://...] [--n 2000] [--c 16]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, nodeFlagsOf, withPgDatabase } from './lib.mjs';
import http from 'node:http';

// A keep-alive HTTP client: the load generator shares the machine, so it should cost little.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function request(method, url, token, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url, { method, agent, headers: { 'x-auth-token': token, ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode >= 400) reject(new Error(`${res.statusCode} ${text}`));
        else resolve(text ? JSON.parse(text) : undefined);
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/bin/synnefo.js');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const N = Number(opt('n', 2000));
const C = Number(opt('c', 16));
const USERS = 50;


async function withServer(databaseUrl, f) {
  const dir = mkdtempSync(join(tmpdir(), 'snf-bench-'));
  const conf = join(dir, 'conf');
  const data = join(dir, 'data');
  execFileSync('mkdir', ['-p', conf]);
  writeFileSync(join(conf, '00-bench.conf'), `log.level = warn\ndatabase.url = ${databaseUrl}\n`);
  const manage = (...a) => execFileSync(process.execPath, [cli, 'manage', '--data-dir', data, '--config-dir', conf, ...a], { encoding: 'utf8' }).trim();
  const port = await freePort();
  const server = spawn(process.execPath, [...nodeFlagsOf(cli), cli, 'serve', '--roles', 'astakos', '--data-dir', data, '--config-dir', conf, '--port', String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${url}/healthz`)).ok) break; } catch { /* starting */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    const componentToken = manage('component-add', 'bench', '--base-url', `${url}/bench`, '--ui-url', `${url}/bench/ui`).replace('Token: ', '');
    const svc = join(dir, 'svc.json');
    writeFileSync(svc, JSON.stringify({ bench_api: { component: 'bench', type: 'bench', endpoints: [{ versionId: 'v1', publicURL: `${url}/bench/v1` }],
      resources: { units: { name: 'bench.units', desc: 'Benchmark units', service_type: 'bench', service_origin: 'bench_api', base_default: 1e12 } } } }));
    manage('service-import', '--json', svc);
    const users = [];
    for (let i = 0; i < USERS; i++) {
      const uuid = manage('user-add', '--email', `bench${i}@example.org`, '--password', 'benchmark1', '--active');
      users.push({ uuid, token: manage('user-token', uuid) });
    }
    return await f({ url, componentToken, users });
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(label, total, concurrency, op) {
  const latencies = [];
  let next = 0;
  let failures = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < total; i = next++) {
      const t0 = performance.now();
      try { await op(i); } catch { failures++; }
      latencies.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2);
  const rate = total / seconds;
  console.log(`  ${label.padEnd(44)} ${rate.toFixed(0).padStart(7)} ops/s   p50 ${pct(0.5)} ms   p99 ${pct(0.99)} ms${failures ? `   FAILURES ${failures}` : ''}`);
  return rate;
}

const post = (url, token, body) => request('POST', url, token, body);
const get = (url, token) => request('GET', url, token);

const provisions = (user, q) => [
  { holder: `user:${user}`, source: `project:${user}`, resource: 'bench.units', quantity: q },
  { holder: `project:${user}`, source: null, resource: 'bench.units', quantity: q },
];

async function bench(name, databaseUrl) {
  console.log(`\n${name} (${N} operations, concurrency ${C}, ${USERS} users)`);
  await withServer(databaseUrl, async ({ url, componentToken, users }) => {
    const acc = `${url}/astakos/account/v1.0`;
    await run('warm-up', 200, C, (i) => post(`${acc}/commissions`, componentToken, { provisions: provisions(users[i % USERS].uuid, 1), auto_accept: true }));
    await run('commission issue + accept (2 requests)', N, C, async (i) => {
      const { serial } = await post(`${acc}/commissions`, componentToken, { provisions: provisions(users[i % USERS].uuid, 1), name: `bench:${i}` });
      await post(`${acc}/commissions/${serial}/action`, componentToken, { accept: '' });
    });
    await run('commission issue + accept, one holder', N, C, async (i) => {
      const { serial } = await post(`${acc}/commissions`, componentToken, { provisions: provisions(users[0].uuid, 1), name: `bench:${i}` });
      await post(`${acc}/commissions/${serial}/action`, componentToken, { accept: '' });
    });
    await run('commission with auto_accept (1 request)', N, C, (i) => post(`${acc}/commissions`, componentToken, { provisions: provisions(users[i % USERS].uuid, 1), auto_accept: true }));
    await run('GET /quotas (user token)', N, C, (i) => get(`${acc}/quotas`, users[i % USERS].token));
    await run('GET /service_quotas?user= (component token)', N, C, (i) => get(`${acc}/service_quotas?user=${users[i % USERS].uuid}`, componentToken));
  });
}

/** The same commissions through the in-process client co-located roles use: no HTTP at all. */
async function benchInProcess(databaseUrl) {
  const { startTestNode, withAstakos } = await import(join(root, 'dist/test/harness.js'));
  const t = await startTestNode({ settings: { 'log.level': 'warn', ...(databaseUrl ? { 'database.url': databaseUrl } : {}) } });
  try {
    const users = await withAstakos(t, async (a) => {
      await a.catalog.addComponent('bench', `${t.url}/bench`, `${t.url}/bench/ui`);
      await a.catalog.importServices({ bench_api: { component: 'bench', type: 'bench', endpoints: [{ versionId: 'v1', publicURL: `${t.url}/bench/v1` }],
        resources: { units: { name: 'bench.units', desc: 'Benchmark units', service_type: 'bench', service_origin: 'bench_api', base_default: 1e12 } } } });
      const out = [];
      for (let i = 0; i < USERS; i++) out.push((await a.accounts.createUser({ email: `inproc${i}@example.org`, password: 'benchmark1', active: true })).user.uuid);
      return out;
    });
    const client = t.node.context.clients.quota('bench');
    await run('in-process issue + accept', N, C, async (i) => {
      const serial = await client.issueCommission({ provisions: provisions(users[i % USERS], 1) });
      await client.acceptCommission(serial);
    });
    await run('in-process quota read (userQuotas)', N, C, (i) => client.userQuotas({ users: [users[i % USERS]] }));
  } finally {
    await t.close();
  }
}

await bench('SQLite (embedded default)', '');
console.log('\nSQLite, in-process client');
await benchInProcess('');
const pgAdmin = opt('pg', process.env.SNF_TEST_PG_URL);
if (pgAdmin) {
  await withPgDatabase(pgAdmin, (url) => bench('PostgreSQL', url));
  console.log('\nPostgreSQL, in-process client');
  await withPgDatabase(pgAdmin, (url) => benchInProcess(url));
}
