import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { imageTestKit, type ImageTestKit } from './testing.js';

for (const db of dbTargets()) describe(`the image registry (Glance v1) on ${db.name}`, () => {
  let t: TestNode;
  let kit: ImageTestKit;
  let alice: StoreUser;
  let bob: StoreUser;
  let carol: StoreUser;

  before(async () => {
    t = await startTestNode({ db });
    kit = await imageTestKit(t);
    alice = await storeUser(t, 'alice');
    bob = await storeUser(t, 'bob');
    carol = await storeUser(t, 'carol');
  });
  after(async () => {
    await kit?.close();
    await t?.close();
  });

  const glance = (path: string, who: StoreUser | undefined, init: Parameters<typeof call>[1] = {}) =>
    call(`${t.url}/cyclades/image/v1.0${path}`, { ...(who ? { token: who.token } : {}), ...init });
  const compute = (path: string, who: StoreUser, init: Parameters<typeof call>[1] = {}) => call(`${kit.computeUrl}${path}`, { token: who.token, ...init });
  const head = (id: string, who: StoreUser) => glance(`/images/${id}`, who, { method: 'HEAD' });
  const listed = async (who: StoreUser, path = '/images/') => ((await glance(path, who)).json.images as { id: string }[]).map((i) => i.id);

  /** Uploads an object of the user's; answers its pithos:// location, UUID and hash. */
  async function upload(u: StoreUser, path: string, body: string) {
    await call(`${u.base}/${path.split('/')[0]}`, { method: 'PUT', token: u.token });
    const put = await call(`${u.base}/${path}`, { method: 'PUT', token: u.token, body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 201, put.text);
    const h = await call(`${u.base}/${path}`, { method: 'HEAD', token: u.token });
    return { location: `pithos://${u.uuid}/${path}`, uuid: h.headers.get('x-object-uuid')!, hash: h.headers.get('x-object-hash')! };
  }

  const register = (u: StoreUser, location: string, meta: Record<string, string> = {}) =>
    glance('/images/', u, { method: 'POST', headers: { 'x-image-meta-name': 'An image', 'x-image-meta-location': location, ...meta } });

  async function registered(u: StoreUser, path: string, meta: Record<string, string> = {}) {
    const object = await upload(u, path, `bytes of ${path}`);
    const r = await register(u, object.location, meta);
    assert.equal(r.status, 200, r.text);
    return { ...object, id: r.headers.get('x-image-meta-id')! };
  }

  it('registers an uploaded object as an image whose id, size and checksum are the object\'s, seen in both APIs', async () => {
    const object = await upload(alice, 'images/debian.diskdump', 'a disk of twenty-six bytes');
    const r = await register(alice, object.location, {
      'x-image-meta-name': encodeURIComponent('Debian 12 “bookworm”'), 'x-image-meta-disk-format': 'diskdump', 'x-image-meta-container-format': 'bare',
      'x-image-meta-property-OS': 'debian', 'x-image-meta-property-Root-Partition': '1', 'x-image-meta-property-description': encodeURIComponent('Debian, base system'),
    });
    assert.equal(r.status, 200, r.text);
    const h = (name: string) => r.headers.get(`x-image-meta-${name}`);
    assert.equal(h('id'), object.uuid);
    assert.equal(h('checksum'), object.hash);
    assert.equal(h('size'), '26');
    assert.equal(h('location'), object.location);
    assert.equal(decodeURIComponent(h('name')!), 'Debian 12 “bookworm”');
    assert.equal(h('owner'), alice.uuid);
    assert.equal(h('status'), 'AVAILABLE');
    assert.equal(h('is-public'), 'False');
    assert.equal(h('property-os'), 'debian');
    assert.equal(h('property-root-partition'), '1');
    assert.equal(decodeURIComponent(h('property-description')!), 'Debian, base system');
    assert.match(h('created-at')!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    const brief = (await glance('/images/', alice)).json.images.find((i: { id: string }) => i.id === object.uuid);
    assert.deepEqual(Object.keys(brief).sort(), ['container_format', 'disk_format', 'id', 'name', 'size', 'status']);
    const detail = (await glance('/images/detail', alice)).json.images.find((i: { id: string }) => i.id === object.uuid);
    assert.equal(detail.owner, alice.uuid);
    assert.equal(detail.is_public, false);
    assert.deepEqual(detail.properties, { OS: 'debian', ROOT_PARTITION: '1', DESCRIPTION: 'Debian, base system' });

    const shown = await head(object.uuid, alice);
    assert.equal(shown.status, 200);
    assert.equal(shown.headers.get('x-image-meta-checksum'), object.hash);
    const asJson = await glance(`/images/${object.uuid}`, alice);
    assert.equal(asJson.json.image.id, object.uuid);

    const nova = await compute('/images', alice);
    assert.deepEqual(nova.json.images.find((i: { id: string }) => i.id === object.uuid), {
      id: object.uuid, name: 'Debian 12 “bookworm”',
      links: [
        { rel: 'self', href: `${t.url}/cyclades/compute/v2.0/images/${object.uuid}` },
        { rel: 'bookmark', href: `${t.url}/cyclades/compute/v2.0/images/${object.uuid}` },
        { rel: 'alternate', href: `${t.url}/cyclades/image/v1.0/images/${object.uuid}` },
      ],
    });
    const novaDetail = (await compute(`/images/${object.uuid}`, alice)).json.image;
    assert.equal(novaDetail.status, 'ACTIVE');
    assert.equal(novaDetail.progress, 100);
    assert.equal(novaDetail.user_id, alice.uuid);
    assert.equal(novaDetail.tenant_id, alice.uuid);
    assert.deepEqual(novaDetail.metadata, { OS: 'debian', ROOT_PARTITION: '1', DESCRIPTION: 'Debian, base system' });
    assert.match(novaDetail.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);

    const forCompute = await kit.plankton.images.image(alice.uuid, object.uuid);
    assert.equal(forCompute?.location, object.location);
    assert.equal(forCompute?.status, 'ACTIVE');
    assert.equal(forCompute?.size, 26);
  });

  it('keeps a private image from other users: they get 404 and do not list it', async () => {
    const { id } = await registered(alice, 'images/private.img');
    for (const other of [bob, carol]) {
      const r = await head(id, other);
      assert.equal(r.status, 404);
      assert.ok(!(await listed(other)).includes(id));
      assert.equal((await compute(`/images/${id}`, other)).json.itemNotFound.code, 404);
      assert.equal(await kit.plankton.images.image(other.uuid, id), undefined);
    }
    const fault = await glance(`/images/${id}`, carol);
    assert.equal(fault.status, 404);
    assert.equal(fault.json.itemNotFound.message, `Image ${id} not found`);
    assert.equal((await glance(`/images/${id}`, carol, { method: 'PUT', headers: { 'x-image-meta-name': 'mine' } })).status, 404);
    assert.equal((await glance(`/images/${id}`, carol, { method: 'DELETE' })).status, 404);
  });

  it('shares an image with a member, who sees it and may read its object, while a third user still gets 404', async () => {
    const image = await registered(alice, 'images/shared.img');
    assert.equal((await glance(`/images/${image.id}/members/${bob.uuid}`, alice, { method: 'PUT' })).status, 204);
    assert.deepEqual((await glance(`/images/${image.id}/members`, alice)).json, { members: [{ member_id: bob.uuid, can_share: false }] });

    assert.ok((await listed(bob)).includes(image.id));
    assert.ok((await listed(bob, '/images/detail')).includes(image.id));
    assert.equal((await head(image.id, bob)).status, 200);
    assert.equal((await call(`${alice.base}/images/shared.img`, { token: bob.token })).status, 200, 'the member may read the bytes');
    assert.deepEqual((await glance(`/shared-images/${alice.uuid}`, bob)).json.shared_images.filter((s: { image_id: string }) => s.image_id === image.id),
      [{ image_id: image.id, can_share: false }]);
    assert.equal((await kit.plankton.images.image(bob.uuid, image.id))?.id, image.id);
    assert.equal((await head(image.id, carol)).status, 404);
    assert.equal(await kit.plankton.images.image(carol.uuid, image.id), undefined);

    // A member uses the image; only its owner changes it.
    const refused = await glance(`/images/${image.id}`, bob, { method: 'PUT', headers: { 'x-image-meta-name': 'taken' } });
    assert.equal(refused.status, 403);
    assert.match(refused.json.forbidden.message, /Only the owner/);
    assert.equal((await glance(`/images/${image.id}`, bob, { method: 'DELETE' })).status, 403);
    assert.equal((await glance(`/images/${image.id}/members/${carol.uuid}`, bob, { method: 'PUT' })).status, 403);

    const replace = await glance(`/images/${image.id}/members`, alice, { method: 'PUT', json: { memberships: [{ member_id: carol.uuid, can_share: false }] } });
    assert.equal(replace.status, 204, replace.text);
    assert.equal((await head(image.id, bob)).status, 404);
    assert.equal((await head(image.id, carol)).status, 200);
    assert.equal((await glance(`/images/${image.id}/members/${carol.uuid}`, alice, { method: 'DELETE' })).status, 204);
    assert.equal((await head(image.id, carol)).status, 404);
    assert.deepEqual((await glance(`/images/${image.id}/members`, alice)).json, { members: [] });
  });

  it('makes an image public for every user and private again', async () => {
    const image = await registered(alice, 'images/public.img', { 'x-image-meta-is-public': 'true' });
    assert.equal((await head(image.id, alice)).headers.get('x-image-meta-is-public'), 'True');
    assert.ok((await listed(carol)).includes(image.id));
    assert.equal((await kit.plankton.images.image(carol.uuid, image.id))?.is_public, true);
    assert.equal((await compute(`/images/${image.id}`, carol)).json.image.public, true);
    assert.deepEqual((await glance(`/images/${image.id}/members`, alice)).json.members, [], '`*` is no member');
    assert.ok(!(await glance(`/shared-images/${alice.uuid}`, carol)).json.shared_images.some((s: { image_id: string }) => s.image_id === image.id),
      'shared-images leaves public ones out');

    const privately = await glance(`/images/${image.id}`, alice, { method: 'PUT', headers: { 'x-image-meta-is-public': 'False' } });
    assert.equal(privately.status, 200, privately.text);
    assert.equal(privately.headers.get('x-image-meta-is-public'), 'False');
    assert.equal((await head(image.id, carol)).status, 404);
    assert.equal((await glance(`/images/${image.id}`, alice, { method: 'PUT', headers: { 'x-image-meta-is-public': 'TRUE' } })).status, 200);
    assert.equal((await head(image.id, carol)).status, 200);
  });

  it('updates name and formats, merges properties, and an empty property value removes it', async () => {
    const image = await registered(alice, 'images/update.img', { 'x-image-meta-property-OS': 'debian', 'x-image-meta-property-USERS': 'root' });
    const r = await glance(`/images/${image.id}`, alice, {
      method: 'PUT',
      headers: { 'x-image-meta-name': 'Renamed', 'x-image-meta-disk-format': 'extdump', 'x-image-meta-property-os': '', 'x-image-meta-property-kernel': '6.1' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-image-meta-name'), 'Renamed');
    assert.equal(r.headers.get('x-image-meta-disk-format'), 'extdump');
    assert.deepEqual(r.json.image.properties, { USERS: 'root', KERNEL: '6.1' });
    assert.equal((await compute(`/images/${image.id}`, alice)).json.image.name, 'Renamed');
    const bad = await glance(`/images/${image.id}`, alice, { method: 'PUT', headers: { 'x-image-meta-container-format': 'docker' } });
    assert.equal(bad.status, 400);
    assert.match(bad.json.badRequest.message, /Invalid container format 'docker'/);
    const location = await glance(`/images/${image.id}`, alice, { method: 'PUT', headers: { 'x-image-meta-location': 'pithos://x/y/z' } });
    assert.equal(location.status, 400);
    assert.match(location.json.badRequest.message, /Invalid parameters: x-image-meta-location/);
  });

  it('shows an overwrite of its object: same id, the new size and checksum', async () => {
    const image = await registered(alice, 'images/overwritten.img', { 'x-image-meta-property-OS': 'debian' });
    const before = await head(image.id, alice);
    const rewritten = await upload(alice, 'images/overwritten.img', 'new and longer content of the disk');
    assert.equal(rewritten.uuid, image.id);
    const after = await head(image.id, alice);
    assert.equal(after.headers.get('x-image-meta-size'), '34');
    assert.equal(after.headers.get('x-image-meta-checksum'), rewritten.hash);
    assert.notEqual(rewritten.hash, before.headers.get('x-image-meta-checksum'));
    assert.equal(after.headers.get('x-image-meta-property-os'), 'debian', 'the registration stays with the object');
  });

  it('unregisters an image and leaves its object; registering again makes it an image again', async () => {
    const image = await registered(alice, 'images/unregistered.img', { 'x-image-meta-property-OS': 'debian' });
    assert.equal((await glance(`/images/${image.id}`, alice, { method: 'DELETE' })).status, 204);
    assert.equal((await head(image.id, alice)).status, 404);
    assert.ok(!(await listed(alice)).includes(image.id));
    assert.equal((await call(`${alice.base}/images/unregistered.img`, { token: alice.token })).status, 200);
    assert.equal((await glance(`/images/${image.id}`, alice, { method: 'DELETE' })).status, 404);
    const again = await register(alice, image.location);
    assert.equal(again.headers.get('x-image-meta-id'), image.id);
    assert.equal(again.headers.get('x-image-meta-property-os'), null, 'a new registration starts afresh');
  });

  it('deleting the object takes the image out of every listing; its owner still sees it DELETED', async () => {
    const image = await registered(alice, 'images/deleted.img', { 'x-image-meta-is-public': 'true' });
    assert.equal((await call(`${alice.base}/images/deleted.img`, { method: 'DELETE', token: alice.token })).status, 204);
    assert.ok(!(await listed(alice)).includes(image.id));
    assert.ok(!(await listed(carol)).includes(image.id));
    const own = await head(image.id, alice);
    assert.equal(own.status, 200);
    assert.equal(own.headers.get('x-image-meta-status'), 'DELETED');
    assert.match(own.headers.get('x-image-meta-deleted-at')!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.equal((await kit.plankton.images.image(alice.uuid, image.id))?.status, 'DELETED');
    assert.equal((await compute(`/images/${image.id}`, alice)).json.image.status, 'DELETED');
    assert.equal((await head(image.id, carol)).status, 404);
    assert.equal(await kit.plankton.images.image(carol.uuid, image.id), undefined);
    assert.equal((await glance(`/images/${image.id}`, alice, { method: 'PUT', headers: { 'x-image-meta-name': 'x' } })).status, 404);
  });

  it('filters and sorts listings as asked', async () => {
    const dave = await storeUser(t, 'dave');
    const made: Record<string, string> = {};
    for (const [name, body, disk, container] of [['small', 'x'.repeat(10), 'diskdump', 'bare'], ['medium', 'x'.repeat(20), 'extdump', 'ovf'], ['large', 'x'.repeat(30), 'ntfsdump', 'bare']]) {
      const object = await upload(dave, `images/${name}`, body!);
      const r = await register(dave, object.location, { 'x-image-meta-name': name!, 'x-image-meta-disk-format': disk!, 'x-image-meta-container-format': container! });
      made[name!] = r.headers.get('x-image-meta-id')!;
      await new Promise((resolve) => setTimeout(resolve, 5)); // distinct creation times
    }
    // Public images of others are listed too: look at dave's own.
    const names = async (query: string) => ((await glance(`/images/detail?${query}`, dave)).json.images as { name: string; owner: string }[])
      .filter((i) => i.owner === dave.uuid).map((i) => i.name);
    assert.deepEqual(await names(''), ['large', 'medium', 'small'], 'newest first by default');
    assert.deepEqual(await names('sort_key=size&sort_dir=asc'), ['small', 'medium', 'large']);
    assert.deepEqual(await names('sort_key=name&sort_dir=asc'), ['large', 'medium', 'small']);
    assert.deepEqual(await names('size_min=15&sort_key=size&sort_dir=asc'), ['medium', 'large']);
    assert.deepEqual(await names('size_max=20&sort_key=size&sort_dir=asc'), ['small', 'medium']);
    assert.deepEqual(await names('disk_format=extdump'), ['medium']);
    assert.deepEqual(await names('container_format=bare&sort_key=size&sort_dir=desc'), ['large', 'small']);
    assert.deepEqual(await names('name=small'), ['small']);
    assert.deepEqual(await names('status=available&sort_key=name&sort_dir=asc'), ['large', 'medium', 'small']);
    assert.deepEqual(await names('status=deleted'), []);
    const novaIds = ((await compute('/images/detail', dave)).json.images as { id: string; user_id: string }[]).filter((i) => i.user_id === dave.uuid).map((i) => i.id);
    assert.deepEqual(novaIds, Object.values(made).sort(), 'the compute view lists by id');
  });

  it('answers bad requests with a 4xx that says what is wrong, and registers nothing', async () => {
    const object = await upload(alice, 'images/target.img', 'target');
    const bobs = await upload(bob, 'images/bobs.img', 'bob');
    const cases: [string, Record<string, string>, number, RegExp][] = [
      ['no name', { 'x-image-meta-name': '' }, 400, /Invalid image name/],
      ['no location', { 'x-image-meta-location': '' }, 400, /'location' parameter is required/],
      ['not a pithos location', { 'x-image-meta-location': 'http://example.org/disk.img' }, 400, /Invalid location/],
      ['a location without a path', { 'x-image-meta-location': `pithos://${alice.uuid}/images` }, 400, /Invalid location/],
      ["another user's object", { 'x-image-meta-location': bobs.location }, 403, /Only the owner of/],
      ['a missing object', { 'x-image-meta-location': `pithos://${alice.uuid}/images/missing.img` }, 404, /No object at/],
      ['a missing container', { 'x-image-meta-location': `pithos://${alice.uuid}/nowhere/missing.img` }, 404, /No object at/],
      ['an unknown disk format', { 'x-image-meta-disk-format': 'qcow2' }, 400, /Invalid disk format 'qcow2'/],
      ['an unknown container format', { 'x-image-meta-container-format': 'docker' }, 400, /Invalid container format/],
      ['is_public not a boolean', { 'x-image-meta-is-public': 'maybe' }, 400, /Invalid value for x-image-meta-is-public/],
      ['a size that is not a number', { 'x-image-meta-size': 'big' }, 400, /Invalid value for x-image-meta-size/],
      ['a size that differs', { 'x-image-meta-size': '7' }, 400, /Invalid 'size' 7: the object has 6 bytes/],
      ['a checksum that differs', { 'x-image-meta-checksum': 'abc' }, 400, /Invalid 'checksum'/],
      ['an id', { 'x-image-meta-id': '3edd4d15-41b4-4a39-9601-015ef56b3bb3' }, 400, /Setting the image ID is not supported/],
      ['another store', { 'x-image-meta-store': 'swift' }, 400, /Invalid store type 'swift'/],
      ['another owner', { 'x-image-meta-owner': bob.uuid }, 400, /owned by whoever registers it/],
      ['a status', { 'x-image-meta-status': 'active' }, 400, /Invalid parameters: x-image-meta-status/],
      ['a badly quoted name', { 'x-image-meta-name': '%E0%A4%A' }, 400, /decode/],
      ['a property name too long', { [`x-image-meta-property-${'k'.repeat(120)}`]: 'v' }, 400, /property names must be at most/],
      ['a property value too long', { 'x-image-meta-property-os': 'v'.repeat(300) }, 400, /longer than 256/],
    ];
    for (const [what, headers, status, message] of cases) {
      const r = await register(alice, object.location, headers);
      assert.equal(r.status, status, `${what}: ${r.text}`);
      const fault = Object.values(r.json as Record<string, { code: number; message: string }>)[0]!;
      assert.equal(fault.code, status, what);
      assert.match(fault.message, message, what);
    }
    assert.ok(!(await listed(alice)).includes(object.uuid), 'nothing was registered');

    const data = await glance('/images/', alice, { method: 'POST', body: new Uint8Array([1, 2, 3]), headers: { 'x-image-meta-name': 'upload', 'content-type': 'application/octet-stream' } });
    assert.equal(data.status, 400);
    assert.match(data.json.badRequest.message, /Uploading image data is not supported/);

    const { id } = await registered(alice, 'images/members.img');
    const memberCases: [string, Parameters<typeof call>[1], RegExp][] = [
      [`/images/${id}/members`, { method: 'PUT', json: { members: [] } }, /'memberships' list is required/],
      [`/images/${id}/members`, { method: 'PUT', json: { memberships: [{ id: bob.uuid }] } }, /member_id/],
      [`/images/${id}/members`, { method: 'PUT', body: '{"memberships": [', headers: { 'content-type': 'application/json' } }, /JSON/],
      [`/images/${id}/members/nobody-known`, { method: 'PUT' }, /No such user: nobody-known/],
      [`/images/${id}/members/${encodeURIComponent('not a uuid!')}`, { method: 'PUT' }, /Invalid member/],
      ['/images/?sort_key=colour', {}, /Invalid 'sort_key'/],
      ['/images/?sort_dir=up', {}, /Invalid 'sort_dir'/],
      ['/images/detail?size_min=ten', {}, /Invalid value for size_min/],
    ];
    for (const [path, init, message] of memberCases) {
      const r = await glance(path, alice, init);
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      assert.match(r.json.badRequest.message, message, path);
    }
  });

  it('asks for a token on every image call but the versions document, and answers unknown calls as Synnefo does', async () => {
    const versions = await call(`${t.url}/cyclades/image`);
    assert.equal(versions.status, 200);
    assert.deepEqual(versions.json.versions.map((v: { id: string }) => v.id), ['v1.0', 'v1']);
    assert.equal(versions.json.versions[0].links[0].href, `${t.url}/cyclades/image/v1.0/`);
    assert.equal((await glance('/images/', undefined)).status, 401);
    assert.equal((await glance('/images/', undefined, { method: 'POST' })).json.unauthorized.code, 401);
    assert.equal((await call(`${t.url}/cyclades/image/v1/images/`, { token: alice.token })).status, 200, 'v1 is v1.0');
    const wrongMethod = await glance('/images/detail', alice, { method: 'DELETE' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET');
    const unknown = await glance('/nothing/here', alice);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.badRequest.message, 'API endpoint not found');
  });
});
