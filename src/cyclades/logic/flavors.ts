import { isUniqueViolation } from '../../common/db.js';
import { BadRequest, Conflict, NotFound } from '../../common/errors.js';
import type { ComputeStore, FlavorRow } from '../store/compute.js';
import { VolumeStore } from '../store/volumes.js';
import { volumeTypeFor } from './volumes.js';

export const DISK_TEMPLATES = ['file', 'plain', 'drbd', 'diskless', 'sharedfile', 'rbd', 'blockdev', 'ext'];

/** Synnefo's flavor naming: C<cpu>R<ram MiB>D<disk GiB><template>. */
export function flavorName(cpu: number, ram: number, disk: number, template: string): string {
  return `C${cpu}R${ram}D${disk}${template}`;
}

/** The server sizes users may choose, managed by the administrator. */
export class Flavors {
  constructor(private readonly store: ComputeStore) {}

  list(includeDeleted = false): Promise<FlavorRow[]> { return this.store.flavors(includeDeleted); }

  async get(id: number): Promise<FlavorRow> {
    const f = Number.isSafeInteger(id) ? await this.store.flavor(id) : undefined;
    if (!f) throw new NotFound(`Flavor ${id} not found`);
    return f;
  }

  /** Creates every combination of the given sizes (as snf-manage flavor-create does), skipping existing ones. */
  async create(cpus: number[], rams: number[], disks: number[], templates: string[], isPublic = true): Promise<FlavorRow[]> {
    for (const t of templates) if (!DISK_TEMPLATES.includes(t) && !t.startsWith('ext_')) throw new BadRequest(`Unknown disk template '${t}' (known: ${DISK_TEMPLATES.join(', ')}, ext_<provider>)`);
    for (const [what, list] of [['cpu', cpus], ['ram', rams], ['disk', disks]] as const) {
      for (const v of list) if (!Number.isInteger(v) || v <= 0) throw new BadRequest(`Invalid ${what} value '${v}'`);
    }
    const created: FlavorRow[] = [];
    const types = new Map<string, number>();
    for (const t of templates) types.set(t, Number((await volumeTypeFor(new VolumeStore(this.store.db), t)).id));
    for (const cpu of cpus) for (const ram of rams) for (const disk of disks) for (const t of templates) {
      try {
        const id = await this.store.addFlavor({ name: flavorName(cpu, ram, disk, t), cpu, ram, disk, disk_template: t, volume_type_id: types.get(t)!, public: isPublic ? 1 : 0, deleted: 0, created_at: Date.now() });
        created.push(await this.get(id));
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
    }
    return created;
  }

  async modify(id: number, changes: { deleted?: boolean | undefined; public?: boolean | undefined }): Promise<FlavorRow> {
    await this.get(id);
    const set: Record<string, number> = {};
    if (changes.deleted !== undefined) set['deleted'] = changes.deleted ? 1 : 0;
    if (changes.public !== undefined) set['public'] = changes.public ? 1 : 0;
    if (Object.keys(set).length === 0) throw new Conflict('Nothing to change');
    await this.store.updateFlavor(id, set);
    return this.get(id);
  }
}
