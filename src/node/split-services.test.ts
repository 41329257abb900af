import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, runCli, startTestNode, withAstakos, type TestNode } from '../test/harness.js';
import { store } from '../test/object-store.js';

/** Object storage on its own node, reaching identity and quotas on another over HTTP. */
describe('a pithos node apart from the astakos node', () => {
  let accounts: TestNode;
  let storage: TestNode | undefined;
  before(async () => {
    accounts = await startTestNode({ roles: ['astakos'] });
  });
  after(async () => { await storage?.close(); await accounts.close(); });

  const manage = async (...args: string[]) => {
    const r = await runCli('synnefo', ['manage', '--data-dir', accounts.dataDir, '--config-dir', accounts.configDir, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it('refuses to start without the identity node and token, then serves objects, charging quota there', async () => {
    await assert.rejects(startTestNode({ roles: ['pithos'] }), /common\.astakos_url .* pithos\.service_token/);

    // The operator registers the component on the identity node, as in Synnefo.
    const token = (await manage('component-add', 'pithos', '--base-url', 'http://storage.invalid/pithos', '--ui-url', 'http://storage.invalid/pithos/ui')).trim().replace(/^Token: /, '');
    const exported = await manage('service-export', 'pithos', '--base-url', 'http://storage.invalid/pithos');
    const file = join(accounts.dataDir, 'pithos-services.json');
    writeFileSync(file, exported);
    await manage('service-import', '--json', file);

    storage = await startTestNode({ roles: ['pithos'], settings: { 'common.astakos_url': accounts.url, 'pithos.service_token': token } });
    const { user, token: userToken } = await withAstakos(accounts, (a) => a.accounts.createUser({ email: `split-${process.pid}@example.org`, password: 'a-password-1', active: true }));
    const base = `${storage.url}/pithos/object-store/v1/${user.uuid}`;
    assert.equal((await store(`${base}/box`, { method: 'PUT', token: userToken })).status, 201);
    const put = await store(`${base}/box/hello.txt`, { method: 'PUT', token: userToken, body: 'hello over there', headers: { 'content-type': 'text/plain' } });
    assert.equal(put.status, 201, put.text);
    assert.equal((await store(`${base}/box/hello.txt`, { token: userToken })).text, 'hello over there');
    assert.equal((await store(`${base}/box`, { token: 'wrong' })).status, 401);

    const quotas = await call(`${accounts.url}/astakos/account/v1.0/quotas`, { token: userToken });
    assert.equal(quotas.json[user.uuid]['pithos.diskspace'].usage, 16, 'the identity node counted the bytes');
  });
});
