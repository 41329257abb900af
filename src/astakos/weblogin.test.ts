import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, startTestNode, withAstakos, type TestNode } from '../test/harness.js';

describe('web login for clients (/astakos/weblogin)', () => {
  let t: TestNode;
  let cookie: string;
  let uuid: string;
  let token: string;
  before(async () => {
    t = await startTestNode();
    const made = await withAstakos(t, (a) => a.accounts.createUser({ email: 'web@example.org', password: 'password1', active: true }));
    uuid = made.user.uuid;
    token = made.token;
    const login = await call(`${t.url}/astakos/ui/login`, { json: { email: 'web@example.org', password: 'password1' } });
    cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  });
  after(() => t.close());

  const weblogin = (query: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/astakos/weblogin/login${query}`, { redirect: 'manual', headers });

  it('sends a signed-in browser back to the client with its uuid and token', async () => {
    const res = await weblogin(`?next=${encodeURIComponent('http://127.0.0.1:9999/done?x=1')}`, { cookie });
    assert.equal(res.status, 302);
    const back = new URL(res.headers.get('location')!);
    assert.equal(back.origin + back.pathname, 'http://127.0.0.1:9999/done');
    assert.equal(back.searchParams.get('uuid'), uuid);
    assert.equal(back.searchParams.get('token'), token);
  });

  it('sends others to the sign-in page, which comes back here', async () => {
    const res = await weblogin(`?next=${encodeURIComponent('http://127.0.0.1:9999/done')}`);
    assert.equal(res.status, 302);
    const to = new URL(res.headers.get('location')!, t.url);
    assert.equal(to.pathname, '/astakos/ui/login');
    assert.match(to.searchParams.get('next')!, /^\/astakos\/weblogin\/login\?next=/);
    const page = await call(`${t.url}/astakos/ui/login`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(page.text, /<form/);
  });

  it('renews the token on request, so the old one stops working', async () => {
    const res = await weblogin(`?renew=1&next=${encodeURIComponent('http://127.0.0.1:9999/done')}`, { cookie });
    const fresh = new URL(res.headers.get('location')!).searchParams.get('token')!;
    assert.notEqual(fresh, token);
    const old = await call(`${t.url}/astakos/identity/v2.0/tokens`, { json: { auth: { token: { id: token } } } });
    assert.equal(old.status, 401);
    token = fresh;
  });

  it('refuses a missing or dangerous next', async () => {
    assert.equal((await weblogin('', { cookie })).status, 400);
    assert.equal((await weblogin(`?next=${encodeURIComponent('javascript:alert(1)')}`, { cookie })).status, 403);
  });
});
