import type { FlavorRow } from '../store/compute.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Resource name -> quantity, as charged to a project. */
export type Quantities = Record<string, number>;

/** What a server of this flavor holds: the vm, its totals, and its CPU and RAM while it runs. */
export function serverResources(flavor: Pick<FlavorRow, 'cpu' | 'ram' | 'disk'>, running: boolean): Quantities {
  return {
    'cyclades.vm': 1,
    'cyclades.total_cpu': flavor.cpu,
    'cyclades.total_ram': flavor.ram * MiB,
    'cyclades.disk': flavor.disk * GiB,
    ...(running ? runningResources(flavor) : {}),
  };
}

/** What starting a server takes and stopping it gives back. */
export function runningResources(flavor: Pick<FlavorRow, 'cpu' | 'ram'>): Quantities {
  return { 'cyclades.cpu': flavor.cpu, 'cyclades.ram': flavor.ram * MiB };
}

/** What a resize from one flavor to another changes: the totals, and CPU and RAM when it runs. */
export function resizeDelta(from: Pick<FlavorRow, 'cpu' | 'ram' | 'disk'>, to: Pick<FlavorRow, 'cpu' | 'ram' | 'disk'>, running: boolean): Quantities {
  const a = serverResources(from, running);
  const b = serverResources(to, running);
  return nonZero(Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)])));
}

export function add(a: Quantities, b: Quantities): Quantities {
  const out: Quantities = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return nonZero(out);
}

export function negate(q: Quantities): Quantities {
  return Object.fromEntries(Object.entries(q).map(([k, v]) => [k, -v]));
}

export function nonZero(q: Quantities): Quantities {
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== 0));
}

export function isEmpty(q: Quantities): boolean { return Object.keys(nonZero(q)).length === 0; }
