import type { ComponentDefinition } from '../astakos/logic/catalog.js';

const GiB = 2 ** 30;

/**
 * The compute component as it publishes itself in the catalog, with the resources it charges
 * and their default limits in every user's system project. The hidden totals (all servers,
 * running or not) are counted without a limit, as Synnefo registers them.
 */
export const CYCLADES_COMPONENT: ComponentDefinition = {
  name: 'cyclades',
  basePath: '/cyclades',
  uiPath: '/cyclades/ui',
  services: [
    {
      name: 'cyclades_compute', type: 'compute', path: '/compute', versionId: 'v2.0',
      resources: [
        { name: 'cyclades.vm', desc: 'Number of virtual machines', service_type: 'compute', service_origin: 'cyclades_compute', base_default: 4 },
        { name: 'cyclades.total_cpu', desc: 'Number of virtual machine processors', service_type: 'compute', service_origin: 'cyclades_compute', ui_visible: false, api_visible: false },
        { name: 'cyclades.cpu', desc: 'Number of virtual machine processors of running servers', service_type: 'compute', service_origin: 'cyclades_compute', base_default: 16 },
        { name: 'cyclades.total_ram', desc: 'Virtual machine memory size', unit: 'bytes', service_type: 'compute', service_origin: 'cyclades_compute', ui_visible: false, api_visible: false },
        { name: 'cyclades.ram', desc: 'Virtual machine memory size of running servers', unit: 'bytes', service_type: 'compute', service_origin: 'cyclades_compute', base_default: 8 * GiB },
        { name: 'cyclades.disk', desc: 'Virtual machine disk size', unit: 'bytes', service_type: 'compute', service_origin: 'cyclades_compute', base_default: 40 * GiB },
      ],
    },
    {
      name: 'cyclades_network', type: 'network', path: '/network', versionId: 'v2.0', exposeVersion: false,
      resources: [
        { name: 'cyclades.network.private', desc: 'Number of private networks', service_type: 'network', service_origin: 'cyclades_network', base_default: 4 },
        { name: 'cyclades.floating_ip', desc: 'Number of Floating IP addresses', service_type: 'network', service_origin: 'cyclades_network', base_default: 4 },
      ],
    },
    { name: 'cyclades_volume', type: 'volume', path: '/volume', versionId: 'v2.0', exposeVersion: false },
    // The openstack client (cinderclient 9) looks for `volumev3` only, and speaks v3.
    { name: 'cyclades_volumev3', type: 'volumev3', path: '/volume/v3', versionId: 'v3.0', exposeVersion: false },
    { name: 'cyclades_plankton', type: 'image', path: '/image', versionId: 'v1.0', exposeVersion: false },
  ],
};
