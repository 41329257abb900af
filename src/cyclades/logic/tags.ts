import { BadRequest, NotFound } from '../../common/errors.js';
import type { ComputeStore, ServerRow } from '../store/compute.js';
import type { Backends } from './backends.js';
import type { EventBus } from './bus.js';

export const MAX_TAGS = 50;
const GANETI_PREFIX = 'cyclades:user:';
/** Ganeti keeps tags of at most 60 characters, the prefix included. */
const MAX_TAG_LENGTH = 60 - GANETI_PREFIX.length;

/** A user tag as its Ganeti instance carries it (Ganeti allows only [\w.+*\/:@-] in tags). */
export function ganetiTag(tag: string): string {
  return GANETI_PREFIX + encodeURIComponent(tag).replace(/%20/g, '+').replace(/%/g, '/').replace(/_/g, '*');
}

export function checkTag(tag: unknown): string {
  if (typeof tag !== 'string' || tag.trim() === '') throw new BadRequest('Malformed Request. Invalid tag.');
  if (tag.includes('/') || tag.includes(',')) throw new BadRequest("Tag cannot contain '/' or ','");
  if (ganetiTag(tag).length > 60 || tag.length > MAX_TAG_LENGTH) throw new BadRequest('Malformed Request. Tag is too long');
  return tag;
}

/**
 * Users' tags on their servers, as Synnefo keeps them: a tag is PENDADD until the job that sets
 * it on the instance succeeds (removed if it fails), PENDDEL until the job that drops it does.
 * Tags of a server still being built wait for its creation and are set then.
 */
export class Tags {
  constructor(private readonly store: ComputeStore, private readonly backends: Backends, private readonly bus: EventBus, private readonly instanceName: (id: number) => string) {}

  /** Visible tags (ACTIVE and PENDADD) with their statuses. */
  async list(vm: ServerRow): Promise<{ tags: string[]; statuses: string[] }> {
    const rows = (await this.store.tags(Number(vm.id))).filter((r) => r.status !== 'PENDDEL');
    return { tags: rows.map((r) => r.tag), statuses: rows.map((r) => r.status === 'ACTIVE' ? 'ACTIVE' : 'PENDADD') };
  }

  async status(vm: ServerRow, tag: string): Promise<string> {
    const row = (await this.store.tags(Number(vm.id))).find((r) => r.tag === tag && r.status !== 'PENDDEL');
    if (!row) throw new NotFound(`Tag '${tag}' not found`);
    return row.status;
  }

  /** Adds tags; returns those that were new. */
  async add(vm: ServerRow, tags: string[]): Promise<string[]> {
    for (const t of tags) checkTag(t);
    const existing = await this.store.tags(Number(vm.id));
    const live = new Set(existing.filter((r) => r.status !== 'PENDDEL').map((r) => r.tag));
    const fresh = [...new Set(tags)].filter((t) => !live.has(t));
    if (live.size + fresh.length > MAX_TAGS) throw new BadRequest(`Virtual Machines cannot have more than ${MAX_TAGS} tags`);
    if (fresh.length === 0) return [];
    const revived = fresh.filter((t) => existing.some((r) => r.tag === t));
    await this.store.transaction(async (tx) => {
      await tx.removeTags(Number(vm.id), revived);
      for (const tag of fresh) await tx.addTag({ server_id: Number(vm.id), tag, status: 'PENDADD', job_id: null, created_at: Date.now() });
    });
    await this.push(vm, 'add', fresh);
    return fresh;
  }

  /** Removes tags; returns those that existed. */
  async remove(vm: ServerRow, tags: string[]): Promise<string[]> {
    const rows = (await this.store.tags(Number(vm.id))).filter((r) => r.status !== 'PENDDEL' && tags.includes(r.tag));
    const gone = rows.map((r) => r.tag);
    if (gone.length === 0) return [];
    await this.store.updateTags(Number(vm.id), gone, { status: 'PENDDEL', job_id: null });
    await this.push(vm, 'remove', gone);
    return gone;
  }

  async replace(vm: ServerRow, tags: string[]): Promise<void> {
    for (const t of tags) checkTag(t);
    if (new Set(tags).size > MAX_TAGS) throw new BadRequest(`Virtual Machines cannot have more than ${MAX_TAGS} tags`);
    const live = (await this.list(vm)).tags;
    await this.remove(vm, live.filter((t) => !tags.includes(t)));
    await this.add(vm, tags);
  }

  /** Sends the tags a server's creation left waiting (called once it exists on its backend). */
  async flushPending(vm: ServerRow): Promise<void> {
    const rows = (await this.store.tags(Number(vm.id))).filter((r) => r.job_id === null);
    const add = rows.filter((r) => r.status === 'PENDADD').map((r) => r.tag);
    const del = rows.filter((r) => r.status === 'PENDDEL').map((r) => r.tag);
    if (add.length) await this.push(vm, 'add', add);
    if (del.length) await this.push(vm, 'remove', del);
  }

  /** Submits the job that applies tag changes to the instance; without one yet, they wait (or apply at once if there never will be one). */
  private async push(vm: ServerRow, op: 'add' | 'remove', tags: string[]): Promise<void> {
    const id = Number(vm.id);
    if (vm.backend_id === null || vm.deleted) {
      if (op === 'add') await this.store.updateTags(id, tags, { status: 'ACTIVE' }); else await this.store.removeTags(id, tags);
      return;
    }
    if (vm.operstate === 'BUILD' || (vm.operstate === 'ERROR' && vm.job_opcode === 'OP_INSTANCE_CREATE')) return;
    const backend = await this.backends.get(Number(vm.backend_id));
    const driver = this.backends.driver(backend);
    const name = this.instanceName(id);
    const job = op === 'add' ? await driver.addTags(name, tags.map(ganetiTag)) : await driver.removeTags(name, tags.map(ganetiTag));
    await this.store.updateTags(id, tags, { job_id: job });
    await this.bus.publishJob({ backendId: Number(vm.backend_id), jobId: job, serverId: id });
  }
}
