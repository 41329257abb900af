import type { ComponentDefinition } from '../astakos/logic/catalog.js';

/** The object storage component as it publishes itself in the catalog, with the resource it charges. */
export const PITHOS_COMPONENT: ComponentDefinition = {
  name: 'pithos',
  basePath: '/pithos',
  uiPath: '/pithos/ui',
  services: [
    {
      name: 'pithos_object-store', type: 'object-store', path: '/object-store', versionId: 'v1',
      resources: [
        { name: 'pithos.diskspace', desc: 'Pithos account diskspace', unit: 'bytes', service_type: 'object-store', service_origin: 'pithos_object-store', base_default: 40 * 2 ** 30 },
      ],
    },
  ],
};
