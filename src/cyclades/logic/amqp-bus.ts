import amqp, { type Channel, type ChannelModel, type ConsumeMessage, type ConfirmChannel, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from '../../common/log.js';
import { redactUrl } from '../../common/log.js';
import type { EventBus, JobSubmitted } from './bus.js';

const EXCHANGE = 'synnefo.jobs';
const QUEUE = 'synnefo.dispatcher.jobs';
const DEAD_EXCHANGE = 'synnefo.dead';
const DEAD_QUEUE = 'synnefo.dispatcher.dead';

/**
 * The job bus over RabbitMQ (AMQP 0-9-1): a durable fanout exchange, one durable queue the
 * dispatchers share, and a dead-letter queue for messages no dispatcher could read. Publishing
 * waits for the broker's confirmation; the connection recovers by itself after a broker restart.
 */
export class AmqpBus implements EventBus {
  private publisher: ConfirmChannel | undefined;
  private consumer: Channel | undefined;
  private readonly handlers: ((job: JobSubmitted) => void)[] = [];

  private constructor(private readonly connection: RecoveringChannelModel, private readonly log: Logger) {}

  static async connect(url: string, log: Logger): Promise<AmqpBus> {
    let bus: AmqpBus | undefined;
    const connection = await amqp.connect(url, {
      recovery: {
        initialMaxRetries: 3, maxRetries: Infinity, maxDelay: 10_000, waitForConnect: false,
        setup: async (model: ChannelModel) => { await bus!.setup(model); },
      },
    });
    bus = new AmqpBus(connection, log);
    connection.on('disconnect', (err: Error) => log.warn({ err: err?.message, url: redactUrl(url) }, 'lost the AMQP broker; reconnecting'));
    connection.on('error', () => { /* reported through disconnect */ });
    await connection.waitForConnect();
    return bus;
  }

  private async setup(model: { createChannel(): Promise<Channel>; createConfirmChannel(): Promise<ConfirmChannel> }): Promise<void> {
    const ch = await model.createConfirmChannel();
    await ch.assertExchange(DEAD_EXCHANGE, 'fanout', { durable: true });
    await ch.assertQueue(DEAD_QUEUE, { durable: true });
    await ch.bindQueue(DEAD_QUEUE, DEAD_EXCHANGE, '');
    await ch.assertExchange(EXCHANGE, 'fanout', { durable: true });
    await ch.assertQueue(QUEUE, { durable: true, deadLetterExchange: DEAD_EXCHANGE });
    await ch.bindQueue(QUEUE, EXCHANGE, '');
    this.publisher = ch;
    this.consumer = undefined;
    if (this.handlers.length) await this.startConsuming(model);
  }

  async publishJob(job: JobSubmitted): Promise<void> {
    const ch = this.publisher;
    // Without a broker the job still reaches a dispatcher: dispatchers also scan the database.
    if (!ch) { this.log.warn({ job }, 'AMQP broker unavailable; the job will be found by the dispatcher\'s database scan'); return; }
    ch.publish(EXCHANGE, '', Buffer.from(JSON.stringify(job)), { persistent: true, contentType: 'application/json' });
    await ch.waitForConfirms().catch((err: unknown) => this.log.warn({ err: (err as Error).message, job }, 'the broker did not confirm a job message'));
  }

  onJob(handler: (job: JobSubmitted) => void): void {
    this.handlers.push(handler);
    if (this.handlers.length === 1) void this.startConsuming(this.connection as unknown as { createChannel(): Promise<Channel> }).catch((err: unknown) => this.log.error({ err }, 'cannot consume job messages'));
  }

  private async startConsuming(model: { createChannel(): Promise<Channel> }): Promise<void> {
    if (this.consumer) return;
    const ch = await model.createChannel();
    this.consumer = ch;
    await ch.prefetch(100);
    await ch.consume(QUEUE, (msg: ConsumeMessage | null) => {
      if (!msg) return;
      let job: JobSubmitted;
      try {
        job = JSON.parse(msg.content.toString('utf8')) as JobSubmitted;
        if (![job.backendId, job.jobId, job.serverId].every(Number.isSafeInteger)) throw new Error('not a job message');
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'unreadable job message sent to the dead-letter queue');
        ch.nack(msg, false, false);
        return;
      }
      for (const h of this.handlers) h(job);
      ch.ack(msg);
    });
  }

  async close(): Promise<void> {
    this.handlers.length = 0;
    await this.connection.close().catch(() => undefined);
  }
}
