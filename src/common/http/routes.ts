import type { FastifyInstance, RouteHandlerMethod, RouteShorthandOptions } from 'fastify';
import { NotAllowed } from '../errors.js';

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'COPY' | 'MOVE';
const ALL: Method[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export interface RouteSpec { options?: RouteShorthandOptions; handler: RouteHandlerMethod }

/**
 * Registers the handlers of one path and answers every other method with 405 and an Allow header,
 * as the OpenStack APIs do.
 */
export function resource(app: FastifyInstance, url: string, methods: Partial<Record<Method, RouteSpec | RouteHandlerMethod>>): void {
  const allowed = Object.keys(methods) as Method[];
  for (const m of allowed) {
    const spec = methods[m]!;
    const { options, handler } = typeof spec === 'function' ? { options: {}, handler: spec } : spec;
    // An explicit HEAD handler replaces the one Fastify would derive from GET.
    const exposeHeadRoute = m === 'GET' && allowed.includes('HEAD') ? { exposeHeadRoute: false } : {};
    app.route({ ...options, ...exposeHeadRoute, method: m, url, handler });
  }
  const others = ALL.filter((m) => !allowed.includes(m) && !(m === 'HEAD' && allowed.includes('GET')));
  if (others.length) {
    app.route({ method: others, url, handler: async () => { throw new NotAllowed(allowed.join(', ')); } });
  }
}
