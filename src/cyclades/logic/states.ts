import { BadRequest, BuildInProgress, Conflict, Forbidden } from '../../common/errors.js';
import type { Opcode } from '../backends/compute-backend.js';

/** Synnefo's operational states of a server, as its backend last reported them. */
export type OperState = 'BUILD' | 'STARTED' | 'STOPPED' | 'ERROR' | 'DESTROYED';

/** What a user (or the service) asks of a server. */
export type ServerAction = 'BUILD' | 'START' | 'STOP' | 'REBOOT' | 'RESIZE' | 'DESTROY' | 'REASSIGN' | 'CONSOLE' | 'FIREWALL' | 'METADATA' | 'RENAME';

/** Actions that run a backend job, the job's opcode, and the task state shown while it runs. */
export const JOB_ACTIONS: Partial<Record<ServerAction, { opcode: Opcode; task: string }>> = {
  BUILD: { opcode: 'OP_INSTANCE_CREATE', task: 'BUILDING' },
  START: { opcode: 'OP_INSTANCE_STARTUP', task: 'STARTING' },
  STOP: { opcode: 'OP_INSTANCE_SHUTDOWN', task: 'STOPPING' },
  REBOOT: { opcode: 'OP_INSTANCE_REBOOT', task: 'REBOOTING' },
  RESIZE: { opcode: 'OP_INSTANCE_SET_PARAMS', task: 'RESIZING' },
  DESTROY: { opcode: 'OP_INSTANCE_REMOVE', task: 'DESTROYING' },
};

/**
 * Which operational states each action is allowed in. Destroy is always allowed; every other
 * action waits for the pending one to end. Missing actions are allowed in any live state.
 */
const ALLOWED_IN: Partial<Record<ServerAction, OperState[]>> = {
  START: ['STOPPED'],
  STOP: ['STARTED'],
  REBOOT: ['STARTED', 'STOPPED'],
  RESIZE: ['STOPPED'],
  CONSOLE: ['STARTED'],
  FIREWALL: ['STARTED', 'STOPPED'],
};

/** What a successful job of each opcode moves the server to; absent: the state does not change. */
const STATE_AFTER_SUCCESS: Partial<Record<Opcode, OperState>> = {
  OP_INSTANCE_CREATE: 'STARTED',
  OP_INSTANCE_STARTUP: 'STARTED',
  OP_INSTANCE_SHUTDOWN: 'STOPPED',
  OP_INSTANCE_REBOOT: 'STARTED',
  OP_INSTANCE_REMOVE: 'DESTROYED',
};

/** What a failed job of each opcode moves the server to; absent: the state does not change. */
const STATE_AFTER_FAILURE: Partial<Record<Opcode, OperState>> = {
  OP_INSTANCE_CREATE: 'ERROR',
};

export function stateAfterJob(opcode: string, success: boolean): OperState | undefined {
  return (success ? STATE_AFTER_SUCCESS : STATE_AFTER_FAILURE)[opcode as Opcode];
}

/** The server as it is for this check. */
export interface ActionSubject { id: number; operstate: string; deleted: number; task_state: string; suspended: number }

/**
 * Refuses an action the server's state does not allow: 409 buildInProgress while it builds,
 * 409 conflictingRequest while another action runs or in a state that excludes it.
 */
export function checkAction(vm: ActionSubject, action: ServerAction): void {
  if (vm.deleted) throw new BadRequest(`Server '${vm.id}' has been deleted.`);
  if (action === 'DESTROY') return;
  if (vm.suspended && action !== 'METADATA' && action !== 'RENAME') throw new Forbidden(`Server '${vm.id}' is suspended by the administrator.`);
  if (vm.operstate === 'BUILD' || vm.task_state === 'BUILDING') {
    if (action === 'METADATA' || action === 'RENAME') return;
    throw new BuildInProgress(`Server '${vm.id}' is being built.`);
  }
  if (action === 'METADATA' || action === 'RENAME') return;
  if (vm.task_state) {
    throw new Conflict(`Cannot perform '${action}' action while there is a pending '${vm.task_state}' action.`, '', 'conflictingRequest');
  }
  if (action === 'REASSIGN') return;
  if (vm.operstate === 'ERROR') throw new Conflict(`Cannot perform '${action}' action while server is in 'ERROR' state.`, '', 'conflictingRequest');
  const allowed = ALLOWED_IN[action];
  if (allowed && !allowed.includes(vm.operstate as OperState)) {
    throw new Conflict(`Cannot perform '${action}' action while server is in '${vm.operstate}' state.`, '', 'conflictingRequest');
  }
}

/** The API status of a server (Nova's vocabulary). */
export function apiStatus(vm: { operstate: string; deleted: number; task_state: string; job_opcode: string; job_status: string }): string {
  if (vm.deleted || vm.operstate === 'DESTROYED') return 'DELETED';
  switch (vm.operstate) {
    case 'BUILD': return 'BUILD';
    case 'ERROR': return 'ERROR';
    case 'STOPPED': return vm.task_state === 'RESIZING' ? 'RESIZE' : 'STOPPED';
    case 'STARTED':
      if (vm.task_state === 'REBOOTING') return 'REBOOT';
      return 'ACTIVE';
    default: return 'UNKNOWN';
  }
}
