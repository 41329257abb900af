import type { Logger } from '../../common/log.js';
import { chargeProvisions, reassignProvisions, type QuotaClient } from '../../common/quota.js';
import type { ComputeStore, ServerRow } from '../store/compute.js';
import { add, isEmpty, negate, nonZero, type Quantities } from './resources.js';

/**
 * Commissions of server actions. Each is issued before the work, recorded with the server
 * (quota_serials), decided when the backend job ends (recorded in the same transaction as the
 * server's new state), then resolved at the quota holder. A crash between any two steps leaves
 * a record that reconciliation resolves the same way.
 */
export class Charges {
  constructor(private readonly store: ComputeStore, private readonly quota: QuotaClient, private readonly log: Logger) {}

  /** Issues a commission charging `quantities` to the server's project (negative ones release, forced). */
  async issue(vm: Pick<ServerRow, 'id' | 'user_id' | 'project'>, action: string, quantities: Quantities, { force = false } = {}): Promise<number | null> {
    const q = nonZero(quantities);
    if (isEmpty(q)) return null;
    const provisions = Object.entries(q).flatMap(([resource, n]) => chargeProvisions(vm.user_id, vm.project, resource, n));
    // Releases never exceed a limit; `force` makes charges pass too (reconciliation follows the cluster's facts).
    return this.quota.issueCommission({ provisions, name: `cyclades: ${action} server ${vm.id}`, force: force || Object.values(q).every((n) => n <= 0) });
  }

  /** Issues the commission that moves everything a server holds from its project to another. */
  async issueReassign(vm: ServerRow, to: string): Promise<number | null> {
    const held = JSON.parse(vm.charged) as Quantities;
    if (isEmpty(held)) return null;
    return this.quota.issueCommission({ provisions: reassignProvisions(vm.user_id, vm.project, to, held), name: `cyclades: reassign server ${vm.id} to ${to}` });
  }

  async record(tx: ComputeStore, serial: number | null, serverId: number, action: string, quantities: Quantities, jobId: number | null = null): Promise<void> {
    if (serial === null) return;
    await tx.addSerial({ serial, server_id: serverId, action, job_id: jobId, quantities: JSON.stringify(nonZero(quantities)), accept: null, resolved: 0, created_at: Date.now() });
  }

  /**
   * Records the decision on a commission inside the caller's transaction; an accepted one adds
   * its quantities to what the server holds (`charged`, returned for the server update).
   */
  async decide(tx: ComputeStore, serial: number, accept: boolean, charged: string, reassigned = false): Promise<string> {
    const row = await tx.serial(serial);
    if (!row || row.accept !== null) return charged;
    await tx.updateSerial(serial, { accept: accept ? 1 : 0 });
    if (!accept || reassigned) return charged;
    return JSON.stringify(add(JSON.parse(charged) as Quantities, JSON.parse(row.quantities) as Quantities));
  }

  /** Tells the quota holder the recorded decisions of these commissions. */
  resolve(serials: number[]): Promise<void> { return resolveRecorded(serials, this.store, this.quota, this.log); }

  /** Rejects a commission whose work never started (refused request, failed submission). */
  async abandon(serial: number | null): Promise<void> {
    if (serial === null) return;
    await this.store.updateSerial(serial, { accept: 0 }).catch(() => undefined);
    await this.quota.rejectCommission(serial).then(() => this.store.updateSerial(serial, { resolved: 1 })).catch((err) => {
      this.log.warn({ err, serial }, 'could not reject a commission now; it stays recorded for reconciliation');
    });
  }

  /**
   * Changes what a server holds by a forced commission, recorded and decided in the same
   * transaction as the server's other `changes`, then accepted.
   */
  async adjust(vm: ServerRow, action: string, quantities: Quantities, changes: Partial<ServerRow> = {}): Promise<void> {
    const serial = await this.issue(vm, action, quantities, { force: true });
    await this.store.transaction(async (tx) => {
      let charged = vm.charged;
      if (serial !== null) {
        await this.record(tx, serial, Number(vm.id), action.toUpperCase(), quantities);
        charged = await this.decide(tx, serial, true, charged);
      }
      await tx.updateServer(Number(vm.id), { ...changes, charged });
    });
    if (serial !== null) await this.resolve([serial]);
  }

  /** Gives back everything a deleted server holds. */
  releaseServer(vm: ServerRow): Promise<void> {
    return this.adjust(vm, 'destroy', negate(JSON.parse(vm.charged) as Quantities));
  }
}

/** Where decisions on commissions are recorded (quota_serials for servers, network_serials for the rest). */
export interface CommissionRecords {
  serial(serial: number): Promise<{ accept: number | null; resolved: number } | undefined>;
  updateSerial(serial: number, changes: { resolved: number }): Promise<void>;
}

/**
 * Tells the quota holder the recorded decisions of commissions, marking each done. One that
 * cannot be told now stays recorded: reconcile-commissions (or the next dispatcher start) does it.
 */
export async function resolveRecorded(serials: number[], records: CommissionRecords, quota: QuotaClient, log: Logger): Promise<void> {
  for (const serial of serials) {
    const row = await records.serial(serial);
    if (!row || row.accept === null || row.resolved) continue;
    try {
      if (row.accept) await quota.acceptCommission(serial); else await quota.rejectCommission(serial);
      await records.updateSerial(serial, { resolved: 1 });
    } catch (err) {
      log.warn({ err, serial }, 'could not resolve a commission now; it stays recorded for reconciliation');
    }
  }
}
