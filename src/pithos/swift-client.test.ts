import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { required, startTestNode, type TestNode } from '../test/harness.js';
import { randomObject, store, storeUser, type StoreUser } from '../test/object-store.js';

const SWIFT = '/usr/bin/swift';
const BLOCK = 65536;

const present = existsSync(SWIFT);
if (!present && required('swift')) throw new Error(`SNF_TEST_REQUIRE asks for swift but ${SWIFT} is missing (apt-get install python3-swiftclient)`);

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** `Key: Value` lines of `swift stat`, keyed as printed. */
function statFields(out: string): Record<string, string> {
  return Object.fromEntries(out.split('\n').map((l) => /^\s*([^:]+):\s?(.*)$/.exec(l)).filter((m) => m !== null).map((m) => [m[1]!.trim(), m[2]!.trim()]));
}

describe('the Debian swift client against the object API', { skip: present ? false : `${SWIFT} is not installed` }, () => {
  let t: TestNode;
  let u: StoreUser;
  let work: string;

  before(async () => {
    t = await startTestNode({ settings: { 'pithos.block_size': BLOCK } });
    u = await storeUser(t, 'swift');
    work = mkdtempSync(join(tmpdir(), 'snf-swift-'));
    mkdirSync(join(work, 'home'));
  });
  after(async () => {
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs `swift` with the preauthenticated storage URL and token, in a bare environment. */
  function swift(args: string[], cwd = work): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile(SWIFT, ['--os-storage-url', u.base, '--os-auth-token', u.token, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: join(work, 'home') }, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') reject(new Error(`swift ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      });
    });
  }
  const ok = async (args: string[], cwd?: string) => {
    const r = await swift(args, cwd);
    assert.equal(r.code, 0, `swift ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const lines = (out: string) => out.split('\n').filter(Boolean);

  it('swift stat shows the account, and metadata posted with -m shows in the next stat', async () => {
    const before = statFields(await ok(['stat']));
    assert.equal(before['Account'], u.uuid);
    assert.equal(before['Containers'], '0');
    assert.equal(before['Bytes'], '0');
    assert.equal(before['Meta Color'], undefined);
    await ok(['post', '-m', 'Color:blue']);
    const after = statFields(await ok(['stat']));
    assert.equal(after['Meta Color'], 'blue');
  });

  it('swift uploads a directory tree and lists it by prefix and delimiter; a multi-block file comes back byte for byte', async () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'docs', 'notes'), { recursive: true });
    writeFileSync(join(tree, 'docs', 'readme.txt'), 'read me\n');
    writeFileSync(join(tree, 'docs', 'notes', 'monday.txt'), 'monday\n');
    const big = randomObject(300_000);
    writeFileSync(join(tree, 'big.bin'), big);

    await ok(['upload', 'tree', 'docs', 'big.bin'], tree);
    assert.deepEqual(lines(await ok(['list', 'tree'])), ['big.bin', 'docs/notes/monday.txt', 'docs/readme.txt']);
    assert.deepEqual(lines(await ok(['list', 'tree', '--prefix', 'docs/'])), ['docs/notes/monday.txt', 'docs/readme.txt']);
    // The page ends with a subdir, so swift asks again from it: it must not come back.
    assert.deepEqual(lines(await ok(['list', 'tree', '--delimiter', '/'])), ['big.bin', 'docs/']);
    assert.deepEqual(lines(await ok(['list', 'tree', '--prefix', 'docs/', '--delimiter', '/'])), ['docs/notes/', 'docs/readme.txt']);

    const container = statFields(await ok(['stat', 'tree']));
    assert.equal(container['Objects'], '3');
    assert.equal(container['Bytes'], String(300_000 + 'read me\n'.length + 'monday\n'.length));
    const object = statFields(await ok(['stat', 'tree', 'big.bin']));
    assert.equal(object['Content Length'], '300000');
    assert.equal(object['ETag'], createHash('md5').update(big).digest('hex'));
    const hashmap = await store(`${u.base}/tree/big.bin?hashmap`, { token: u.token });
    assert.equal(hashmap.json.hashes.length, 5, 'stored as five blocks of 64 KiB');

    const out = join(work, 'out');
    mkdirSync(out);
    await ok(['download', 'tree', 'big.bin', '-o', join(out, 'big.bin')]);
    assert.equal(sha256(readFileSync(join(out, 'big.bin'))), sha256(big));
    await ok(['download', 'tree', '-D', join(out, 'all')]);
    assert.equal(sha256(readFileSync(join(out, 'all', 'big.bin'))), sha256(big));
    assert.equal(readFileSync(join(out, 'all', 'docs', 'notes', 'monday.txt'), 'utf8'), 'monday\n');
  });

  it('swift copy -d copies an object into another container, and delete removes objects and containers', async () => {
    const data = randomObject(BLOCK + 123);
    writeFileSync(join(work, 'src.bin'), data);
    await ok(['upload', 'copies', 'src.bin'], work);
    await ok(['copy', '-d', '/elsewhere/dst.bin', 'copies', 'src.bin']);
    assert.deepEqual(lines(await ok(['list', 'elsewhere'])), ['dst.bin']);
    await ok(['download', 'elsewhere', 'dst.bin', '-o', join(work, 'dst.bin')]);
    assert.equal(sha256(readFileSync(join(work, 'dst.bin'))), sha256(data));
    assert.deepEqual(lines(await ok(['list', 'copies'])), ['src.bin'], 'the source stays');

    await ok(['delete', 'copies', 'src.bin']);
    assert.deepEqual(lines(await ok(['list', 'copies'])), []);
    assert.equal((await store(`${u.base}/copies/src.bin`, { token: u.token })).status, 404);
    await ok(['delete', 'copies']);
    await ok(['delete', 'elsewhere']);
    const containers = lines(await ok(['list']));
    assert.ok(!containers.includes('copies') && !containers.includes('elsewhere'), containers.join(','));
    assert.equal((await store(`${u.base}/elsewhere`, { method: 'HEAD', token: u.token })).status, 404);
  });

  it('a file uploaded in segments (--segment-size) downloads as one object', async () => {
    const data = randomObject(300_000);
    writeFileSync(join(work, 'large.bin'), data);
    await ok(['upload', 'large', 'large.bin', '--segment-size', '100000'], work);
    assert.equal(lines(await ok(['list', 'large_segments'])).length, 3);
    const stat = statFields(await ok(['stat', 'large', 'large.bin']));
    assert.equal(stat['Content Length'], '300000');
    assert.match(stat['Manifest'] ?? '', /^large_segments\/large\.bin\//);
    await ok(['download', 'large', 'large.bin', '-o', join(work, 'large.out')]);
    assert.equal(sha256(readFileSync(join(work, 'large.out'))), sha256(data));
    await ok(['delete', 'large', 'large.bin']);
    assert.deepEqual(lines(await ok(['list', 'large_segments'])), [], 'deleting the manifest deletes its segments');
  });

  it("swift's own v1 authentication (-A .../v1/ -U <uuid or email> -K <API token>) works, and a wrong key is refused", async () => {
    const v1 = (user: string, key: string, args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(SWIFT, ['-A', `${t.url}/pithos/object-store/v1/`, '-U', user, '-K', key, ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: join(work, 'home') }, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
      });
    });
    const byUuid = await v1(u.uuid, u.token, ['stat']);
    assert.equal(byUuid.code, 0, byUuid.stderr);
    assert.equal(statFields(byUuid.stdout)['Account'], u.uuid);
    const byEmail = await v1(u.email, u.token, ['list']);
    assert.equal(byEmail.code, 0, byEmail.stderr);
    const wrong = await v1(u.uuid, 'not-the-token', ['stat']);
    assert.notEqual(wrong.code, 0);
    const raw = await fetch(`${t.url}/pithos/object-store/v1/`, { headers: { 'x-auth-user': u.uuid } });
    assert.equal(raw.status, 400, 'both headers are needed');
  });
});
