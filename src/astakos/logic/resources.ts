import { BadRequest, NotFound } from '../../common/errors.js';
import type { ProjectStore, ResourceRow } from '../store/projects.js';
import { QuotaStore } from '../store/quotaholder.js';
import { syncProjectHoldings } from './holdings.js';

import { INFINITE } from '../../common/units.js';

export { INFINITE };

/** A resource as a service declares it (the `resources` of a service import file). */
export interface ResourceDefinition {
  name: string;
  desc: string;
  unit?: string;
  service_type: string;
  service_origin: string;
  ui_visible?: boolean;
  api_visible?: boolean;
  /** Limit in every user's system project (an extension of Synnefo's format; default: unlimited). */
  base_default?: number;
}

/** The resources services charge, and their default limits. */
export class Resources {
  constructor(private readonly store: ProjectStore) {}

  list(): Promise<ResourceRow[]> {
    return this.store.listResources();
  }

  async get(name: string): Promise<ResourceRow> {
    const r = await this.store.findResource(name);
    if (!r) throw new NotFound(`Resource ${name} not found`);
    return r;
  }

  /** Registers a resource, or updates its description and flags; a new one gets holdings in every project. */
  async register(def: ResourceDefinition): Promise<'created' | 'updated'> {
    if (!/^[a-z][a-z0-9_.-]*$/.test(def.name)) throw new BadRequest(`Invalid resource name "${def.name}"`);
    const ui = def.ui_visible ?? true;
    const api = def.api_visible ?? ui;
    if (ui && !api) throw new BadRequest(`Resource ${def.name}: ui_visible requires api_visible`);
    const fields = { service_type: def.service_type, service_origin: def.service_origin, unit: def.unit ?? '', description: def.desc, ui_visible: ui ? 1 : 0, api_visible: api ? 1 : 0 };
    return this.store.transaction(async (s, trx) => {
      if (await s.findResource(def.name)) {
        await s.updateResource(def.name, fields);
        return 'updated';
      }
      const baseDefault = def.base_default ?? INFINITE;
      const projectDefault = api ? 0 : INFINITE;
      await s.insertResource({ name: def.name, ...fields, base_default: baseDefault, project_default: projectDefault });
      const projects = await s.addGrantToAll(def.name, (p) => (p.is_base ? baseDefault : projectDefault));
      const quotas = new QuotaStore(trx);
      for (const uuid of projects) await syncProjectHoldings(s, quotas, uuid, def.name);
      return 'created';
    });
  }

  /**
   * Changes a resource's defaults. A new base default applies to system projects created from now
   * on and, with `updateExisting`, to every system project still at the old default.
   */
  async modify(name: string, changes: { baseDefault?: number | undefined; projectDefault?: number | undefined; uiVisible?: boolean | undefined; apiVisible?: boolean | undefined; updateExisting?: boolean }): Promise<void> {
    const r = await this.get(name);
    for (const v of [changes.baseDefault, changes.projectDefault]) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new BadRequest(`Limits must be non-negative integers, got ${v}`);
    }
    await this.store.transaction(async (s, trx) => {
      await s.updateResource(name, {
        ...(changes.baseDefault !== undefined ? { base_default: changes.baseDefault } : {}),
        ...(changes.projectDefault !== undefined ? { project_default: changes.projectDefault } : {}),
        ...(changes.uiVisible !== undefined ? { ui_visible: changes.uiVisible ? 1 : 0 } : {}),
        ...(changes.apiVisible !== undefined ? { api_visible: changes.apiVisible ? 1 : 0 } : {}),
      });
      if (changes.baseDefault !== undefined && changes.updateExisting) {
        await s.setBaseGrant(name, changes.baseDefault, r.base_default);
        const quotas = new QuotaStore(trx);
        for (const p of await s.listProjects({ states: ['active', 'suspended'] })) if (p.is_base) await syncProjectHoldings(s, quotas, p.uuid, name);
      }
    });
  }
}
