import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliEnv, cliPath, freePort, runCli } from '../test/harness.js';
import { blockHash, merkleRoot } from './logic/hashmap.js';

const BLOCK = 65536;

/** The whole cloud as a child process, so the test can kill it like a power cut. */
async function startCloud(dataDir: string, configDir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cliPath('synnefo'), 'up', '--port', String(port), '--data-dir', dataDir, '--config-dir', configDir], { env: cliEnv(), stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('the cloud did not start');
}

/** Uploads slowly, in pieces, so that the kill lands mid-body for many uploads. */
function slowUpload(url: string, token: string, data: Buffer, delayMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'PUT', headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', 'content-length': data.length } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', () => resolve(-1));
    let offset = 0;
    const tick = () => {
      if (offset >= data.length) { req.end(); return; }
      req.write(data.subarray(offset, offset + 8192));
      offset += 8192;
      setTimeout(tick, 10);
    };
    setTimeout(tick, delayMs);
  });
}

describe('crash safety: the server is killed in the middle of many uploads', () => {
  let base: string;
  let dataDir: string;
  let configDir: string;
  let child: ChildProcess | undefined;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'snf-crash-'));
    dataDir = join(base, 'data');
    configDir = join(base, 'conf');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, '90-test.conf'), `pithos.block_size = ${BLOCK}\nlog.level = warn\n`);
  });
  after(() => { child?.kill('SIGKILL'); rmSync(base, { recursive: true, force: true }); });

  it('after a restart, every listed object matches its hash and reconciliation leaves nothing pending', async () => {
    const port = await freePort();
    child = await startCloud(dataDir, configDir, port);
    const demo = (JSON.parse(readFileSync(join(dataDir, 'initial-credentials.json'), 'utf8')) as { demo: { uuid: string; token: string } }).demo;
    const root = `http://127.0.0.1:${port}/pithos/object-store/v1/${demo.uuid}`;
    assert.equal((await fetch(`${root}/crash`, { method: 'PUT', headers: { 'x-auth-token': demo.token } })).status, 201);

    const payloads = new Map<string, Buffer>();
    for (let i = 0; i < 24; i++) payloads.set(`obj-${i}`, randomBytes(BLOCK * 3 + 1000 + i));
    // Staggered: some finish, some are cut mid-body, some never start before the kill.
    const uploads = [...payloads].map(([name, data], i) => slowUpload(`${root}/crash/${name}`, demo.token, data, i * 40));
    await new Promise((r) => setTimeout(r, 700));
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const statuses = await Promise.all(uploads);
    const done = statuses.filter((s) => s === 201).length;
    assert.ok(done > 0 && done < payloads.size, `the kill should land mid-way (${done} of ${payloads.size} uploads finished)`);

    child = await startCloud(dataDir, configDir, port);
    const listing = await fetch(`${root}/crash?format=json`, { headers: { 'x-auth-token': demo.token } }).then((r) => (r.status === 204 ? [] : r.json())) as { name: string; bytes: number; x_object_hash: string; hash: string }[];
    for (const entry of listing) {
      const bytes = Buffer.from(await (await fetch(`${root}/crash/${entry.name}`, { headers: { 'x-auth-token': demo.token } })).arrayBuffer());
      const hashes: string[] = [];
      for (let i = 0; i < bytes.length; i += BLOCK) hashes.push(blockHash(bytes.subarray(i, i + BLOCK), 'sha256'));
      assert.equal(merkleRoot(hashes, 'sha256'), entry.x_object_hash, `${entry.name}: bytes do not match its hash`);
      assert.equal(createHash('md5').update(bytes).digest('hex'), entry.hash);
      assert.ok(payloads.get(entry.name)?.equals(bytes), `${entry.name}: not what was uploaded`);
    }
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;

    const manage = (...args: string[]) => runCli('synnefo', ['manage', '--data-dir', dataDir, '--config-dir', configDir, ...args]);
    assert.equal((await manage('reconcile-commissions-pithos', '--older-than', '0', '--fix')).code, 0);
    const pending = await manage('commission-list', '--output-format', 'json');
    assert.deepEqual(JSON.parse(pending.stdout), []);
    const usage = await manage('reconcile-resources-pithos');
    assert.equal(usage.code, 0, usage.stderr);
    assert.match(usage.stdout, /Everything in sync\./);
  });
});
