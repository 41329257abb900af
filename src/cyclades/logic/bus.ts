import { EventEmitter } from 'node:events';

/**
 * A backend job the dispatcher should follow to its end: a server's (`serverId`), a network's
 * creation or removal on the backend (`networkId`), a NIC's addition or removal (`portId`), or a
 * disk's (`volumeId`).
 */
export interface JobSubmitted { backendId: number; jobId: number; serverId: number; networkId?: number; portId?: number; volumeId?: number }

/**
 * How the API tells the dispatcher about new jobs. The local bus serves a node that runs both;
 * an AMQP bus (RabbitMQ) serves split nodes. Delivery is a hint: the dispatcher also finds
 * unfinished jobs in the database, so a lost message delays nothing for long.
 */
export interface EventBus {
  publishJob(job: JobSubmitted): Promise<void>;
  onJob(handler: (job: JobSubmitted) => void): void;
  close(): Promise<void>;
}

export class LocalBus implements EventBus {
  private readonly emitter = new EventEmitter();
  async publishJob(job: JobSubmitted): Promise<void> { this.emitter.emit('job', job); }
  onJob(handler: (job: JobSubmitted) => void): void { this.emitter.on('job', handler); }
  async close(): Promise<void> { this.emitter.removeAllListeners(); }
}
