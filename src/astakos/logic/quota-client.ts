import type { CommissionInfo, CommissionRequest, QuotaClient, ResolveResult } from '../../common/quota.js';
import type { Catalog } from './catalog.js';
import type { QuotaHolder } from './quotaholder.js';
import type { QuotaViews } from './quotas.js';
import type { Resources } from './resources.js';

/** The names of the resources a component's services registered. */
export async function componentResources(catalog: Catalog, resources: Resources, component: string): Promise<string[]> {
  const services = new Set((await catalog.listServices(component)).map((s) => s.name));
  return (await resources.list()).filter((r) => services.has(r.service_origin)).map((r) => r.name);
}

/** The quota client of roles running in the identity service's process, bound to one component. */
export class InProcessQuotaClient implements QuotaClient {
  constructor(
    private readonly component: string,
    private readonly deps: { quotaholder: QuotaHolder; quotas: QuotaViews; catalog: Catalog; resources: Resources },
  ) {}

  issueCommission(req: CommissionRequest): Promise<number> {
    return this.deps.quotaholder.issue(this.component, req.provisions, { name: req.name ?? '', force: !!req.force, autoAccept: !!req.autoAccept });
  }
  acceptCommission(serial: number): Promise<boolean> { return this.deps.quotaholder.accept(this.component, serial); }
  rejectCommission(serial: number): Promise<boolean> { return this.deps.quotaholder.reject(this.component, serial); }

  async resolveCommissions(accept: number[], reject: number[]): Promise<ResolveResult> {
    const r = await this.deps.quotaholder.resolve(this.component, accept, reject);
    return { accepted: r.accepted, rejected: r.rejected, failed: resolveFailures(r.notFound, r.conflicting) };
  }

  async pendingCommissions(): Promise<number[]> {
    return (await this.deps.quotaholder.pending(this.component)).map((c) => c.serial);
  }

  async commissionInfo(serial: number): Promise<CommissionInfo> {
    const { clientkey: _, ...info } = await this.deps.quotaholder.commission(this.component, serial);
    return info;
  }

  async userQuotas(filter: { users?: string[]; projects?: string[] } = {}) {
    const resources = await componentResources(this.deps.catalog, this.deps.resources, this.component);
    return this.deps.quotas.ofUsers(filter.users, { projects: filter.projects, resources });
  }

  async projectQuotas(projects?: string[]) {
    const resources = await componentResources(this.deps.catalog, this.deps.resources, this.component);
    return this.deps.quotas.ofProjects(projects, resources);
  }
}

/** The `failed` list of a bulk resolve: serials not found, and serials both accepted and rejected. */
export function resolveFailures(notFound: number[], conflicting: number[]): [number, Record<string, unknown>][] {
  return [
    ...notFound.map((s): [number, Record<string, unknown>] => [s, { itemNotFound: { code: 404, message: `serial ${s} does not exist` } }]),
    ...conflicting.map((s): [number, Record<string, unknown>] => [s, { badRequest: { code: 400, message: `cannot both accept and reject serial ${s}` } }]),
  ];
}
