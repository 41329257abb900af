import type { ComponentSettings } from '../common/settings/schema.js';

/** Settings of the compute service and its dispatcher (`30-cyclades.conf`). */
export const cycladesSettings: ComponentSettings = {
  component: 'cyclades',
  file: '30-cyclades.conf',
  keys: {
    'cyclades.service_token': { type: 'string', default: '', secret: true, description: "The cyclades component's token on the identity node (needed only when astakos runs elsewhere)" },
    'cyclades.embedded_defaults': { type: 'bool', default: false, description: 'When no backend exists, add one simulated (fake) cluster and a few flavors (synnefo up sets this)' },
    'cyclades.instance_prefix': { type: 'string', default: 'snf-', description: 'Prefix of the Ganeti instance names of servers (<prefix><server id>)' },
    'cyclades.servers_fqdn': { type: 'string', default: 'snf-{id}.vm.synnefo.local', description: 'SNF:fqdn of servers, {id} replaced by the server id (empty: none)' },
    'cyclades.os_provider': { type: 'string', default: 'snf-image+default', description: 'Ganeti OS definition that deploys images' },
    'cyclades.bus': { type: 'enum', default: 'local', choices: ['local', 'amqp'], description: 'How backend job events reach the dispatcher: in this process, or through RabbitMQ' },
    'cyclades.amqp_url': { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672/', secret: true, description: 'RabbitMQ URL when cyclades.bus = amqp' },
    'cyclades.fake_job_ms': { type: 'int', default: 300, min: 0, description: 'How long each job of the simulated (fake) backend stays running, in milliseconds' },
    'cyclades.fake_memory_mib': { type: 'int', default: 65536, min: 1, description: 'Memory of each simulated (fake) cluster, in MiB' },
    'cyclades.fake_disk_mib': { type: 'int', default: 1048576, min: 1, description: 'Disk of each simulated (fake) cluster, in MiB' },
    'cyclades.fake_cpus': { type: 'int', default: 32, min: 1, description: 'CPUs of each simulated (fake) cluster' },
    'cyclades.rapi_timeout_ms': { type: 'int', default: 30000, min: 100, description: 'Timeout of one Ganeti RAPI request' },
    'cyclades.job_retry_limit': { type: 'int', default: 5, min: 0, description: 'How many times a job submission is retried while a backend is unreachable before the server goes to ERROR' },
    'cyclades.build_timeout_s': { type: 'int', default: 600, min: 1, description: 'A server still without a backend job this long after its creation is put in ERROR (its creation was interrupted)' },
    'cyclades.max_personality': { type: 'int', default: 5, min: 0, description: 'Most personality files a server create may carry' },
    'cyclades.max_personality_size': { type: 'int', default: 10240, min: 0, description: 'Largest personality file, in bytes' },
    'cyclades.public_network_cidr': { type: 'string', default: '203.0.113.0/24', description: 'IPv4 subnet of the public network `synnefo up` creates (with embedded defaults) when none exists; its first address is the gateway' },
    'cyclades.public_network_link': { type: 'string', default: 'br0', description: 'Bridge (Ganeti network link) of that public network on every backend' },
    'cyclades.private_network_link': { type: 'string', default: 'prv0', description: 'Bridge of MAC_FILTERED private networks (isolated from each other by MAC prefix)' },
    'cyclades.default_network_link': { type: 'string', default: 'br0', description: 'Bridge of CUSTOM networks made without a link' },
    'cyclades.api_network_flavors': { type: 'string', default: 'MAC_FILTERED', description: 'Comma-separated network types users may create through the API (MAC_FILTERED, PHYSICAL_VLAN, IP_LESS_ROUTED, CUSTOM)' },
    'cyclades.default_server_networks': { type: 'string', default: 'SNF:ANY_PUBLIC_IPV4', description: 'What a server created without `networks` is connected to: SNF:ANY_PUBLIC_IPV4 (an address of any public network, no floating IP needed), network ids, comma-separated; empty for nothing' },
    'cyclades.volume_max_size': { type: 'int', default: 200, min: 1, description: 'Largest volume a user may create, in GiB' },
    'cyclades.volume_max_metadata': { type: 'int', default: 10, min: 0, description: 'Most metadata items a volume may have' },
    'cyclades.max_metadata': { type: 'int', default: 10, min: 0, description: 'Most metadata items a server may have' },
  },
};
