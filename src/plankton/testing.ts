import Fastify from 'fastify';
import { rawBodies } from '../common/http/body.js';
import { useOpenStackFaults } from '../common/http/faults.js';
import type { TestNode } from '../test/harness.js';
import { openPlankton, type Plankton } from './service.js';

/** A Plankton over a test node's in-process clients, and the compute image view mounted as the compute plugin mounts it. */
export interface ImageTestKit {
  plankton: Plankton;
  /** Base URL of the compute image view: `<url>/images...`. */
  computeUrl: string;
  close(): Promise<void>;
}

/**
 * Test support: mounts `computeImageRoutes` in a scope of its own at /cyclades/compute/v2.0 of a
 * separate server, the way the compute plugin of the node calls it (fault rendering, raw bodies), but
 * without that plugin's authentication hook, so the view's own is exercised.
 */
export async function imageTestKit(t: Pick<TestNode, 'node'>): Promise<ImageTestKit> {
  const plankton = await openPlankton(t.node.context);
  const app = Fastify();
  await app.register(async (scope) => {
    useOpenStackFaults(scope, { internalFault: 'computeFault' });
    rawBodies(scope);
    await plankton.computeImageRoutes(scope);
  }, { prefix: '/cyclades/compute/v2.0' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    plankton,
    computeUrl: `http://127.0.0.1:${port}/cyclades/compute/v2.0`,
    async close() { await app.close(); await plankton.close(); },
  };
}
