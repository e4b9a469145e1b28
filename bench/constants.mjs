/**
 * The constants of docs/scaling.md's model that no other benchmark reports:
 *
 * - broker: persistent messages per second through ONE durable queue of
 *   RabbitMQ at FJ_BROKER_URL, as fj uses it (publisher confirms, at most
 *   256 unconfirmed; a consumer with manual acks and prefetch 64), for
 *   small (100-byte) bodies; and the broker's CPU time per message (read
 *   from /proc when RabbitMQ runs on this host);
 * - store: put and get operations per second of the default file store
 *   (1 KiB payloads, one at a time and 64 at once).
 *
 *   node bench/constants.mjs [--messages 20000] [--ops 2000]
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER } from '../dist/src/index.js';
import { openStore } from '../dist/src/store/open.js';
import { connect, Publisher } from '../dist/src/broker/amqp.js';
import { fmt, portAnswers, saveResult, table, tempDir } from './lib.mjs';

const { values: opt } = parseArgs({
  options: { messages: { type: 'string', default: '20000' }, ops: { type: 'string', default: '2000' } },
});
const BROKER = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
const figures = {};

function beamCpuMs() {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!/beam\.smp.*rabbit/.test(readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' '))) continue;
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) * 10;
    } catch {
      // not readable
    }
  }
  return undefined;
}

if (await portAnswers({ host: new URL(BROKER).hostname, port: Number(new URL(BROKER).port || 5672) })) {
  const N = Number(opt.messages);
  const queue = `fj.bench.${randomUUID()}.constants`;
  const conn = await connect(BROKER, 'bench constants');
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, { durable: true });
  await ch.prefetch(64);
  const body = Buffer.alloc(100, 1);
  let got = 0;
  let done;
  const all = new Promise((r) => (done = r));
  await ch.consume(queue, (m) => {
    if (!m) return; // the queue was deleted
    ch.ack(m);
    if (++got === N) done();
  });
  const publisher = new Publisher(await conn.createConfirmChannel());
  const cpu0 = beamCpuMs();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await publisher.send(queue, body, {});
  await publisher.flush();
  await all;
  const ms = performance.now() - t0;
  const cpu = cpu0 === undefined ? undefined : beamCpuMs() - cpu0;
  await ch.deleteQueue(queue);
  await conn.close();
  figures.broker = {
    messages: N,
    ms,
    perSec: (N * 1000) / ms,
    brokerCpuUsPerMessage: cpu === undefined ? undefined : (cpu * 1000) / N,
  };
  table(
    `broker: ${fmt.int(N)} persistent 100-byte messages through one durable queue (confirms, manual acks)`,
    ['', 'wall', 'messages/s', 'broker CPU per message'],
    [
      [
        '',
        fmt.ms(ms),
        fmt.int(figures.broker.perSec),
        cpu === undefined ? 'n/a' : fmt.us(figures.broker.brokerCpuUsPerMessage),
      ],
    ],
  );
} else console.log(`broker: SKIPPED, RabbitMQ does not answer at ${new URL(BROKER).host}`);

{
  const OPS = Number(opt.ops);
  const { dir, cleanup } = tempDir();
  const store = await openStore(`file://${dir}`);
  const job = `bench-${randomUUID()}`;
  const payloads = Array.from({ length: OPS }, (_, i) => Buffer.alloc(1024, i % 251));
  const rows = [];
  for (const parallel of [1, 64]) {
    const refs = [];
    let t0 = performance.now();
    for (let i = 0; i < OPS; i += parallel)
      refs.push(...(await Promise.all(payloads.slice(i, i + parallel).map((p) => store.put(job, p)))));
    const putMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < OPS; i += parallel) await Promise.all(refs.slice(i, i + parallel).map((r) => store.get(r)));
    const getMs = performance.now() - t0;
    rows.push({ parallel, putPerSec: (OPS * 1000) / putMs, getPerSec: (OPS * 1000) / getMs });
    await store.deleteJob?.(job);
  }
  await store.close();
  cleanup();
  figures.store = rows;
  table(
    `file store: ${fmt.int(OPS)} puts then gets of 1 KiB payloads`,
    ['at once', 'puts/s', 'gets/s'],
    rows.map((r) => [r.parallel, fmt.int(r.putPerSec), fmt.int(r.getPerSec)]),
  );
}
saveResult('constants', figures);
