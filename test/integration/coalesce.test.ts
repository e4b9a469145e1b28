/**
 * Socket writes coalesced (transport/coalesce.ts), against the real
 * RabbitMQ: messages published in one go reach the socket as a few writes
 * of many frames, not one system call per frame.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/broker/amqp.js';
import { BROKER_URL, brokerAvailable } from '../helpers/broker.js';

const available = await brokerAvailable();

interface CountedSocket {
  _write: (...a: unknown[]) => unknown;
  _writev: (chunks: unknown[], cb: unknown) => unknown;
}

describe.runIf(available)('coalesced socket writes', () => {
  it('sends 200 messages published at once in a few writes', async () => {
    const conn = await connect(BROKER_URL, 'coalesce test');
    try {
      const ch = await conn.createChannel();
      const queue = `fj.test.${randomUUID()}`;
      await ch.assertQueue(queue, { exclusive: true, autoDelete: true });
      const socket = (conn as unknown as { connection: { stream: CountedSocket } }).connection.stream;
      let writes = 0;
      let frames = 0;
      const write = socket._write.bind(socket);
      const writev = socket._writev.bind(socket);
      socket._write = (...a) => (writes++, frames++, write(...a));
      socket._writev = (chunks, cb) => (writes++, (frames += chunks.length), writev(chunks, cb));
      for (let i = 0; i < 200; i++) ch.sendToQueue(queue, Buffer.alloc(100));
      await ch.checkQueue(queue); // a round trip after the publishes: they have all been written
      expect(frames).toBeGreaterThanOrEqual(200);
      expect(writes).toBeLessThan(20);
      await ch.deleteQueue(queue);
    } finally {
      await conn.close();
    }
  });
});
