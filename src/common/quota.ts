import { ApiError } from './errors.js';

/** One line of a commission on the wire: holders and sources tagged `user:`/`project:`, as Synnefo sends them. */
export interface CommissionProvision { holder: string; source: string | null; resource: string; quantity: number }

export interface CommissionRequest { provisions: CommissionProvision[]; name?: string; force?: boolean; autoAccept?: boolean }

export interface CommissionInfo { serial: number; name: string; issue_time: string; provisions: CommissionProvision[] }

export interface ResolveResult { accepted: number[]; rejected: number[]; failed: [number, Record<string, unknown>][] }

/** One resource's quota: the member's share and the project's total. */
export interface QuotaValue { limit: number; usage: number; pending: number; project_limit: number; project_usage: number; project_pending: number }

/** A quota refusal with the provision and figures, as the quotaholder reports it (413 overLimit, 404 no holding). */
export class QuotaError extends ApiError {
  constructor(status: number, message: string, readonly data: Record<string, unknown>) {
    super(status, status === 404 ? 'itemNotFound' : 'overLimit', message);
  }
}

/**
 * How a service charges its resources: two-phase commissions against the quota holder.
 * The in-process implementation serves co-located roles; the HTTP one split roles. Both are
 * bound to one component (the commission client key).
 */
export interface QuotaClient {
  issueCommission(req: CommissionRequest): Promise<number>;
  acceptCommission(serial: number): Promise<boolean>;
  rejectCommission(serial: number): Promise<boolean>;
  resolveCommissions(accept: number[], reject: number[]): Promise<ResolveResult>;
  pendingCommissions(): Promise<number[]>;
  commissionInfo(serial: number): Promise<CommissionInfo>;
  /** `{user: {project: {resource: values}}}` for the component's resources. */
  userQuotas(filter?: { users?: string[]; projects?: string[] }): Promise<Record<string, Record<string, Record<string, QuotaValue>>>>;
  /** `{project: {resource: project values}}` for the component's resources. */
  projectQuotas(projects?: string[]): Promise<Record<string, Record<string, Pick<QuotaValue, 'project_limit' | 'project_usage' | 'project_pending'>>>>;
}

/** The provisions that charge (or, negative, release) a user's resource in a project: the member's share and the project's total. */
export function chargeProvisions(user: string, project: string, resource: string, quantity: number): CommissionProvision[] {
  return [
    { holder: `user:${user}`, source: `project:${project}`, resource, quantity },
    { holder: `project:${project}`, source: null, resource, quantity },
  ];
}

/** The provisions that move a user's resources from one project to another. */
export function reassignProvisions(user: string, from: string, to: string, quantities: Record<string, number>): CommissionProvision[] {
  return Object.entries(quantities).flatMap(([resource, q]) => [...chargeProvisions(user, from, resource, -q), ...chargeProvisions(user, to, resource, q)]);
}

/** What a service knows of one of its commissions: whether the work it charged for was committed. */
export interface CommissionResolver {
  clientkey: string;
  /** `accept` when the service's records show the work committed, `reject` when they do not. */
  decide(serial: number, name: string): Promise<'accept' | 'reject' | 'unknown'>;
}
