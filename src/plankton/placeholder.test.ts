import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { PLACEHOLDER_IMAGE } from './logic/placeholder.js';
import { ensurePlaceholderImage } from './service.js';

describe('the placeholder image of `synnefo up`', () => {
  let t: TestNode;
  let admin: StoreUser;
  let newcomer: StoreUser;
  const objectUrl = () => `${admin.base}/${PLACEHOLDER_IMAGE.container}/${PLACEHOLDER_IMAGE.object}`;

  before(async () => {
    t = await startTestNode();
    admin = await storeUser(t, 'admin');
    newcomer = await storeUser(t, 'newcomer');
  });
  after(() => t.close());

  it('is uploaded and registered public once, however often it is ensured', async () => {
    const first = await ensurePlaceholderImage(t.node.context, admin.uuid);
    const version = (await call(objectUrl(), { method: 'HEAD', token: admin.token })).headers.get('x-object-version');
    const second = await ensurePlaceholderImage(t.node.context, admin.uuid);
    assert.equal(second.id, first.id);
    assert.equal(second.created_at, first.created_at);
    assert.equal((await call(objectUrl(), { method: 'HEAD', token: admin.token })).headers.get('x-object-version'), version, 'not uploaded again');
    const seen = await call(`${t.url}/cyclades/image/v1.0/images/${first.id}`, { method: 'HEAD', token: newcomer.token });
    assert.equal(seen.status, 200);
    assert.equal(seen.headers.get('x-image-meta-is-public'), 'True');
    assert.equal(seen.headers.get('x-image-meta-size'), String(2 ** 20));
    const bytes = await call(objectUrl(), { token: newcomer.token });
    assert.equal(bytes.text, '\0'.repeat(2 ** 20), 'a public image can be read by every user');
  });

  it('registers the object again, without uploading it, if it was unregistered', async () => {
    const image = await ensurePlaceholderImage(t.node.context, admin.uuid);
    assert.equal((await call(`${t.url}/cyclades/image/v1.0/images/${image.id}`, { method: 'DELETE', token: admin.token })).status, 204);
    const version = (await call(objectUrl(), { method: 'HEAD', token: admin.token })).headers.get('x-object-version');
    const again = await ensurePlaceholderImage(t.node.context, admin.uuid);
    assert.equal(again.id, image.id);
    assert.equal(again.is_public, true);
    assert.equal((await call(objectUrl(), { method: 'HEAD', token: admin.token })).headers.get('x-object-version'), version);
  });
});
