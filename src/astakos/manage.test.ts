import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../test/harness.js';

// Every scenario has its own directories, so they run side by side.
const bases: string[] = [];
after(() => { for (const b of bases) rmSync(b, { recursive: true, force: true }); });

/** A cloud that exists only as its data and config directories, as an operator's `manage` sees it. */
function freshCloud() {
  const base = mkdtempSync(join(tmpdir(), 'snf-manage-'));
  bases.push(base);
  const dataDir = join(base, 'data');
  const configDir = join(base, 'synnefo.d');
  mkdirSync(configDir);
  const manage = (args: string[], env?: Record<string, string>) =>
    runCli('synnefo', ['manage', '--data-dir', dataDir, '--config-dir', configDir, ...args], env ? { env } : {});
  /** Runs a command that must succeed and returns what it printed. */
  const ok = async (...args: string[]): Promise<string> => {
    const r = await manage(args);
    assert.equal(r.code, 0, `manage ${args.join(' ')} failed:\n${r.stderr}`);
    return r.stdout;
  };
  const user = async (id: string) => JSON.parse(await ok('user-show', id, '--output-format', 'json')) as Record<string, unknown>;
  return { base, dataDir, configDir, manage, ok, user };
}

function assertFails(r: CliResult, message: string | RegExp): void {
  assert.notEqual(r.code, 0, `expected a failure, got:\n${r.stdout}`);
  if (typeof message === 'string') assert.ok(r.stderr.includes(message), `stderr lacks "${message}":\n${r.stderr}`);
  else assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'an operator error printed a stack trace');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('synnefo manage: users', { concurrency: true }, () => {
  it('an operator adds an active user and finds it in the list and by email, without the password ever printed', async () => {
    const cloud = freshCloud();
    const r = await cloud.manage(['user-add', '--email', 'a@x.org', '--password', 'secret123', '--first-name', 'A', '--last-name', 'B', '--active']);
    assert.equal(r.code, 0, r.stderr);
    const uuid = r.stdout.trim();
    assert.match(uuid, UUID);
    assert.ok(!r.stdout.includes('secret123') && !r.stderr.includes('secret123'), 'user-add printed the password');

    const list = JSON.parse(await cloud.ok('user-list', '--output-format', 'json'));
    assert.deepEqual(list, [{ uuid, email: 'a@x.org', realname: 'A B', state: 'active', admin: false }]);

    const shown = await cloud.ok('user-show', 'a@x.org');
    assert.match(shown, new RegExp(`^uuid\\s*: ${uuid}$`, 'm'));
    assert.match(shown, /^state\s*: active$/m);
    assert.match(shown, /^status\s*: Accepted\/Active$/m);
  });

  it('a user added without --active waits for verification, then moderation, until the operator accepts it', async () => {
    const cloud = freshCloud();
    const uuid = (await cloud.ok('user-add', '--email', 'p@x.org', '--password', 'secret123')).trim();
    assert.equal((await cloud.user(uuid))['state'], 'pending_verification');

    // Verifying by hand applies only the verify step: moderation stays with the operator even when set to auto.
    await cloud.ok('user-modify', uuid, '--verify');
    assert.equal((await cloud.user(uuid))['state'], 'pending_moderation');

    assert.match(await cloud.ok('user-modify', uuid, '--accept'), /Account accepted and activated/);
    const accepted = await cloud.user(uuid);
    assert.equal(accepted['state'], 'active');
    assert.equal(accepted['status'], 'Accepted/Active');
  });

  it('an operator deactivates a user with a reason and reactivates it', async () => {
    const cloud = freshCloud();
    const uuid = (await cloud.ok('user-add', '--email', 'd@x.org', '--password', 'secret123', '--active')).trim();
    await cloud.ok('user-modify', uuid, '--set-inactive', '--inactive-reason', 'unpaid bills');
    const inactive = await cloud.user(uuid);
    assert.equal(inactive['state'], 'deactivated');
    assert.equal(inactive['deactivated_reason'], 'unpaid bills');

    await cloud.ok('user-modify', 'd@x.org', '--set-active');
    const active = await cloud.user(uuid);
    assert.equal(active['state'], 'active');
    assert.equal(active['deactivated_reason'], '');
  });

  it("renewing a user's token prints the new token, which user-token then shows", async () => {
    const cloud = freshCloud();
    const uuid = (await cloud.ok('user-add', '--email', 't@x.org', '--password', 'secret123', '--active')).trim();
    const before = (await cloud.ok('user-token', uuid)).trim();
    const printed = /^User's new token: (\S+)$/m.exec(await cloud.ok('user-modify', uuid, '--renew-token'));
    assert.ok(printed, 'no new token printed');
    assert.notEqual(printed[1], before);
    assert.equal((await cloud.ok('user-token', uuid)).trim(), printed[1]);
  });

  it('an operator puts a user in a group, and cannot put one in a group that does not exist', async () => {
    const cloud = freshCloud();
    const uuid = (await cloud.ok('user-add', '--email', 'g@x.org', '--password', 'secret123', '--active')).trim();
    assert.match(await cloud.ok('group-add', 'admins'), /Group created/);
    await cloud.ok('user-modify', uuid, '--add-group', 'admins');
    assert.deepEqual(JSON.parse(await cloud.ok('group-list', '--output-format', 'json')), [{ name: 'admins', users: 1 }]);
    assert.deepEqual((await cloud.user(uuid))['groups'], ['admins']);

    assertFails(await cloud.manage(['user-modify', uuid, '--add-group', 'nosuch']), 'Group nosuch does not exist');
    assert.deepEqual((await cloud.user(uuid))['groups'], ['admins']);
  });

  it('user-add refuses a malformed email and an email already taken, in any case', async () => {
    const cloud = freshCloud();
    assertFails(await cloud.manage(['user-add', '--email', 'not-an-email', '--password', 'secret123']), 'Invalid email: "not-an-email"');
    await cloud.ok('user-add', '--email', 'dup@x.org', '--password', 'secret123', '--active');
    assertFails(await cloud.manage(['user-add', '--email', 'dup@x.org', '--password', 'secret123']), 'An account with email dup@x.org already exists');
    assertFails(await cloud.manage(['user-add', '--email', 'DUP@x.org', '--password', 'secret123']), 'already exists');
    assert.equal(JSON.parse(await cloud.ok('user-list', '--output-format', 'json')).length, 1);
  });

  it('naming a user that does not exist fails clearly', async () => {
    const cloud = freshCloud();
    assertFails(await cloud.manage(['user-show', 'nobody@x.org']), "Unknown user 'nobody@x.org'");
  });
});

describe('synnefo manage: components and services', { concurrency: true }, () => {
  it('an operator registers a component, reads its token and renews it', async () => {
    const cloud = freshCloud();
    const added = /^Token: (\S+)$/m.exec(await cloud.ok('component-add', 'pithos', '--base-url', 'http://h/pithos', '--ui-url', 'http://h/pithos/ui'));
    assert.ok(added, 'component-add printed no token');

    const list = JSON.parse(await cloud.ok('component-list', '--output-format', 'json'));
    assert.deepEqual(list.map((c: Record<string, string>) => [c['name'], c['base_url'], c['ui_url']]), [['pithos', 'http://h/pithos', 'http://h/pithos/ui']]);
    assert.match(await cloud.ok('component-show', 'pithos'), new RegExp(`^token\\s*: ${added[1]}$`, 'm'));

    const renewed = /^Component's new token: (\S+)$/m.exec(await cloud.ok('component-modify', 'pithos', '--renew-token'));
    assert.ok(renewed, 'component-modify printed no token');
    assert.notEqual(renewed[1], added[1]);
    assert.equal(JSON.parse(await cloud.ok('component-show', 'pithos', '--output-format', 'json'))['token'], renewed[1]);
  });

  it("the identity component's exported services import into the catalog, added once and updated after", async () => {
    const cloud = freshCloud();
    await cloud.ok('component-add', 'astakos', '--base-url', 'http://cloud.example/astakos', '--ui-url', 'http://cloud.example/astakos/ui');
    const file = join(cloud.base, 'astakos.json');
    writeFileSync(file, await cloud.ok('service-export', 'astakos', '--base-url', 'http://cloud.example'));

    const first = await cloud.ok('service-import', '--json', file);
    assert.match(first, /^Added service astakos_identity\.$/m);
    assert.doesNotMatch(first, /Updated|Warning/);
    const again = await cloud.ok('service-import', '--json', file);
    assert.match(again, /^Updated service astakos_identity\.$/m);
    assert.doesNotMatch(again, /Added/);

    const services = JSON.parse(await cloud.ok('service-list', '--output-format', 'json'));
    assert.deepEqual(services.find((s: { name: string }) => s.name === 'astakos_identity'),
      { name: 'astakos_identity', type: 'identity', publicURL: 'http://cloud.example/astakos/identity/v2.0' });
  });

  it('importing services of a component nobody registered fails clearly and adds nothing', async () => {
    const cloud = freshCloud();
    const file = join(cloud.base, 'services.json');
    writeFileSync(file, JSON.stringify({ ghost_compute: { component: 'ghost', type: 'compute', endpoints: [{ versionId: 'v2.0', publicURL: 'http://h/ghost/v2.0' }] } }));
    assertFails(await cloud.manage(['service-import', '--json', file]), 'Component ghost not found');
    assert.deepEqual(JSON.parse(await cloud.ok('service-list', '--output-format', 'json')), []);
  });
});

describe('synnefo manage: settings', { concurrency: true }, () => {
  it('settings shows each value with its source: a default, a config file line, an SNF_* variable', async () => {
    const cloud = freshCloud();
    const file = join(cloud.configDir, '10-astakos.conf');
    writeFileSync(file, '# local choices\nastakos.moderation = manual\n');
    const r = await cloud.manage(['settings', '--output-format', 'json'], { SNF_ASTAKOS_TOKEN_TTL_HOURS: '5' });
    assert.equal(r.code, 0, r.stderr);
    const rows = new Map((JSON.parse(r.stdout) as { key: string; value: string; source: string }[]).map((s) => [s.key, s]));
    assert.deepEqual(rows.get('astakos.password_min_length'), { key: 'astakos.password_min_length', value: '8', source: 'default' });
    assert.deepEqual(rows.get('astakos.moderation'), { key: 'astakos.moderation', value: 'manual', source: `${file}:2` });
    assert.deepEqual(rows.get('astakos.token_ttl_hours'), { key: 'astakos.token_ttl_hours', value: '5', source: 'env SNF_ASTAKOS_TOKEN_TTL_HOURS' });

    const pretty = await cloud.manage(['settings'], { SNF_ASTAKOS_TOKEN_TTL_HOURS: '5' });
    assert.match(pretty.stdout, /^astakos\.token_ttl_hours\s+5\s+env SNF_ASTAKOS_TOKEN_TTL_HOURS$/m);
  });

  it('a config file with an unknown key stops every command, naming the file and the line', async () => {
    const cloud = freshCloud();
    const file = join(cloud.configDir, '90-local.conf');
    writeFileSync(file, '# typo below\n\nastakos.nope = 1\n');
    for (const command of [['settings'], ['user-list']]) {
      assertFails(await cloud.manage(command), `${file}:3`);
    }
    assertFails(await cloud.manage(['user-list']), /unknown setting "astakos\.nope"/);
  });
});

describe('synnefo migrate', () => {
  it('brings the identity database to the newest schema before anything runs', async () => {
    const cloud = freshCloud();
    const r = await runCli('synnefo', ['migrate', '--data-dir', cloud.dataDir, '--config-dir', cloud.configDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^migrated: astakos, cyclades$/m);
    assert.ok(existsSync(join(cloud.dataDir, 'astakos.db')));
    assert.deepEqual(JSON.parse(await cloud.ok('user-list', '--output-format', 'json')), []);
  });
});
