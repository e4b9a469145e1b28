/**
 * One broker connection a worker keeps open ahead of the next detached job
 * it coordinates: a job (a pipeline's next stage, often) then starts without
 * waiting for a TCP and AMQP handshake, 5-8 ms on one machine and more
 * across hosts. The job owns the connection it takes and closes it. The
 * spare opens when a job is taken (none while the worker has coordinated
 * nothing: an idle worker holds no extra connection), and a spare the broker
 * closed meanwhile is not handed out.
 */
import type { ChannelModel } from 'amqplib';
import { closeConnection, within } from '../broker/amqp.js';

export class SpareConnection {
  private spare: Promise<ChannelModel> | undefined;
  private stopped = false;

  /** `open` connects (the worker's broker URL and a connection name). */
  constructor(private readonly open: () => Promise<ChannelModel>) {}

  /**
   * A connection for a job: the spare when it is open, else a new one (the
   * first job, the broker down when the spare was opened, or a spare it
   * closed since); another spare opens for the next job.
   */
  async take(): Promise<ChannelModel> {
    const spare = this.spare;
    this.spare = this.stopped ? undefined : this.opened();
    const conn = await spare?.catch(() => undefined);
    return conn && !closed.has(conn) ? conn : this.open();
  }

  /**
   * Closes the spare, each step bounded (a broker gone silent does not hold
   * the worker: a connect still under way then is left behind, as a link's
   * setup is); none opens after this.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const spare = this.spare;
    this.spare = undefined;
    const conn = spare && (await within(spare.catch(() => undefined)));
    if (conn) await closeConnection(conn);
  }

  private opened(): Promise<ChannelModel> {
    const opening = this.open().then((conn) => {
      conn.on('error', () => {}); // a spare lost while idle is replaced at the next take
      conn.on('close', () => closed.add(conn));
      return conn;
    });
    opening.catch(() => {});
    return opening;
  }
}

/** Connections that closed (the broker went away) while they waited to be taken. */
const closed = new WeakSet<ChannelModel>();
