import { randomToken, Sealer, tokenDigest } from '../../common/crypto.js';
import { BadRequest, Conflict, NotFound, Unauthorized } from '../../common/errors.js';
import type { CatalogStore, ComponentRow, ServiceRow } from '../store/catalog.js';
import type { ResourceDefinition, Resources } from './resources.js';

/** A service a component publishes, as a role declares it. */
export interface ServiceDefinition {
  name: string;
  type: string;
  /** Path under the component's base URL, e.g. `/identity`. */
  path: string;
  versionId: string;
  /** Whether the version is part of the public URL (Synnefo's `SNF:exposeVersion`). */
  exposeVersion?: boolean;
  /** Resources the service charges to projects. */
  resources?: ResourceDefinition[];
}

/** A component (astakos, pithos, cyclades) with the services it publishes. */
export interface ComponentDefinition {
  name: string;
  /** Path of the component under the node, e.g. `/astakos`. */
  basePath: string;
  uiPath: string;
  services: ServiceDefinition[];
}

/** One endpoint as the catalog stores and publishes it; values are strings, as Astakos keeps them. */
export type Endpoint = Record<string, string>;

/** An entry of `access.serviceCatalog`. */
export interface CatalogEntry {
  name: string;
  type: string;
  endpoints: Endpoint[];
  endpoints_links: never[];
}

/** The service import file: `{service name: {component, type, endpoints: [{versionId, publicURL, ...}], resources: {key: {...}}}}`. */
export type ServiceImport = Record<string, { component: string; type: string; endpoints: Endpoint[]; resources?: Record<string, ResourceDefinition> }>;

/** Components, their API tokens, and the services clients discover through the token call. */
export class Catalog {
  constructor(private readonly store: CatalogStore, private readonly sealer: Sealer, private readonly resources: Resources) {}

  /** Registers a component; returns its new API token. */
  async addComponent(name: string, baseUrl: string, uiUrl: string): Promise<string> {
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new BadRequest(`Invalid component name "${name}"`);
    if (await this.store.findComponent(name)) throw new Conflict(`Component ${name} already exists`);
    const token = randomToken();
    await this.store.insertComponent({
      name, base_url: baseUrl, ui_url: uiUrl, token_hash: tokenDigest(token), token_sealed: this.sealer.seal(token),
      token_created_at: Date.now(), created_at: Date.now(),
    });
    return token;
  }

  async modifyComponent(name: string, changes: { baseUrl?: string | undefined; uiUrl?: string | undefined; renewToken?: boolean; purgeServices?: boolean }): Promise<string | undefined> {
    await this.component(name);
    const token = changes.renewToken ? randomToken() : undefined;
    await this.store.updateComponent(name, {
      ...(changes.baseUrl !== undefined ? { base_url: changes.baseUrl } : {}),
      ...(changes.uiUrl !== undefined ? { ui_url: changes.uiUrl } : {}),
      ...(token ? { token_hash: tokenDigest(token), token_sealed: this.sealer.seal(token), token_created_at: Date.now() } : {}),
    });
    if (changes.purgeServices) await this.store.deleteServicesOf(name);
    return token;
  }

  async removeComponent(name: string): Promise<void> {
    await this.component(name);
    await this.store.deleteComponent(name);
  }

  async component(name: string): Promise<ComponentRow> {
    const c = await this.store.findComponent(name);
    if (!c) throw new NotFound(`Component ${name} not found`);
    return c;
  }

  listComponents(): Promise<ComponentRow[]> {
    return this.store.listComponents();
  }

  listServices(component?: string): Promise<ServiceRow[]> {
    return this.store.listServices(component);
  }

  componentToken(c: ComponentRow): string {
    return this.sealer.open(c.token_sealed);
  }

  /** The component a service token belongs to. */
  async componentByToken(token: string): Promise<ComponentRow> {
    const c = token ? await this.store.findComponentByTokenHash(tokenDigest(token)) : undefined;
    if (!c) throw new Unauthorized('Invalid X-Auth-Token');
    return c;
  }

  /** Adds or replaces services from an import file; returns one line per change, as the admin tool prints. */
  async importServices(data: ServiceImport): Promise<string[]> {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new BadRequest('Service file must be a JSON object keyed by service name');
    const lines: string[] = [];
    for (const [name, def] of Object.entries(data)) {
      if (!def || typeof def.component !== 'string' || typeof def.type !== 'string' || !Array.isArray(def.endpoints)) {
        throw new BadRequest(`Service ${name}: "component", "type" and "endpoints" are required`);
      }
      const component = await this.component(def.component);
      const existing = await this.store.findService(name);
      if (existing && existing.component !== component.name) throw new Conflict(`Service ${name} belongs to component ${existing.component}`);
      const endpoints = def.endpoints.map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, String(v)])));
      for (const e of endpoints) {
        if (!e['publicURL']) throw new BadRequest(`Service ${name}: every endpoint needs a publicURL`);
        if (!e['publicURL'].startsWith(component.base_url)) lines.push(`Warning: publicURL ${e['publicURL']} is not under ${component.base_url}`);
      }
      for (const r of Object.values(def.resources ?? {})) {
        if (r.service_origin !== name) throw new BadRequest(`Resource ${r.name}: service_origin must be ${name}`);
      }
      const how = await this.store.upsertService({ name, component: component.name, type: def.type, endpoints: JSON.stringify(endpoints) });
      lines.push(`${how === 'added' ? 'Added' : 'Updated'} service ${name}.`);
      for (const r of Object.values(def.resources ?? {})) {
        const done = await this.resources.register(r);
        lines.push(done === 'created' ? `Resource '${r.name}' created in database.` : `Resource '${r.name}' updated in database.`);
      }
    }
    return lines;
  }

  /** The import file describing a component's services at a base URL (`service-export`). */
  static exportServices(def: ComponentDefinition, baseUrl: string): ServiceImport {
    const root = baseUrl.replace(/\/+$/, '') + def.basePath;
    return Object.fromEntries(def.services.map((s) => {
      const expose = s.exposeVersion ?? true;
      const publicURL = root + s.path + (expose && s.versionId ? `/${s.versionId}` : '');
      return [s.name, {
        component: def.name, type: s.type, endpoints: [{ versionId: s.versionId, publicURL, 'SNF:exposeVersion': expose ? 'True' : 'False' }],
        resources: Object.fromEntries((s.resources ?? []).map((r) => [r.name.split('.').slice(1).join('.'), r])),
      }];
    }));
  }

  /** Registers a component running in this node under the node's base URL, keeping its token if it exists. */
  async registerLocal(def: ComponentDefinition, baseUrl: string): Promise<void> {
    const root = baseUrl.replace(/\/+$/, '');
    const existing = await this.store.findComponent(def.name);
    if (!existing) await this.addComponent(def.name, root + def.basePath, root + def.uiPath);
    else await this.store.updateComponent(def.name, { base_url: root + def.basePath, ui_url: root + def.uiPath });
    await this.importServices(Catalog.exportServices(def, baseUrl));
  }

  /** `access.serviceCatalog`: every service with its endpoints, the component's UI URL and region added. */
  async serviceCatalog(): Promise<CatalogEntry[]> {
    const components = new Map((await this.store.listComponents()).map((c) => [c.name, c]));
    return (await this.store.listServices()).map((s) => ({
      name: s.name,
      type: s.type,
      endpoints: (JSON.parse(s.endpoints) as Endpoint[]).map((e) => ({
        ...e,
        'SNF:uiURL': components.get(s.component)?.ui_url ?? '',
        ...(s.name === 'astakos_weblogin' ? { 'SNF:webloginURL': e['publicURL'] ?? '' } : {}),
        region: 'default',
      })),
      endpoints_links: [],
    }));
  }
}
