/**
 * The least a Node.js program does to count the corpus's words through
 * RabbitMQ: no fj, no validation, no store, no retries, no progress, no
 * signing, no fault tolerance beyond what RabbitMQ gives for free (persistent
 * messages, publisher confirms, acks after the answer is confirmed, as fj's
 * are). The floor `fj run --executor amqp` is measured against in the peers
 * harness (the `bare amqp` row), as bench/wordcount-bare.mjs is the local one's.
 *
 * Two processes, as fj's:
 * - `consume`: the worker, started before the clock (warm, as an `fj worker`
 *   is): two threads that import the built-in task; it consumes the work
 *   queue with a prefetch of 2 per thread, hands each message's bytes to the
 *   least busy thread (one copy, transferred), which decodes the documents,
 *   folds them into a fresh accumulator and posts it back encoded; the
 *   answer is published to the message's reply queue (persistent, confirmed),
 *   then the message is acked. Prints `consuming` once ready; runs until
 *   SIGTERM.
 * - `publish`: the client, timed whole: reads and parses the corpus, cuts it
 *   into `--messages` batches (by default the number fj's run sends: the
 *   harness passes it), publishes each (msgpack, persistent, confirmed) with
 *   an exclusive reply queue, decodes the answers as they come, joins them
 *   with the task's own `join` and writes the output JSON.
 *
 *   node bench/wordcount-bare-amqp.mjs consume --broker URL --queue Q
 *   node bench/wordcount-bare-amqp.mjs publish corpus.json --broker URL --queue Q [--messages 160] [-o out.json]
 */
import amqp from 'amqplib';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { Packr } from 'msgpackr';

const taskUrl = new URL('../dist/tasks/wordcount.js', import.meta.url);
const params = { delimiter: ' ' };
// fj's codec options (src/core/codec.ts), so the bytes on the wire are the same.
const packr = new Packr({
  structuredClone: false,
  useRecords: false,
  moreTypes: false,
  bundleStrings: false,
  mapsAsObjects: true,
  int64AsType: 'bigint',
  variableMapSize: true,
});

if (!isMainThread) {
  // A folding thread: bytes in, the batch's counts out (encoded, transferred back).
  const { default: WordCount } = await import(taskUrl);
  const task = new WordCount();
  parentPort.on('message', ({ id, bytes }) => {
    let acc = task.seed(params, {});
    for (const d of packr.unpack(bytes)) acc = task.fold(acc, d, params, {});
    const out = packr.pack(acc);
    const own = new Uint8Array(out); // a copy of its own, transferred (pack's buffer is reused)
    parentPort.postMessage({ id, bytes: own }, [own.buffer]);
  });
} else {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      broker: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
      queue: { type: 'string' },
      messages: { type: 'string', default: '160' },
      o: { type: 'string', short: 'o' },
    },
  });
  const [mode, input] = positionals;
  if (!values.queue || !['consume', 'publish'].includes(mode) || (mode === 'publish' && !input)) {
    console.error('usage: wordcount-bare-amqp.mjs consume|publish [corpus.json] --broker URL --queue Q');
    process.exit(2);
  }
  if (mode === 'consume') await consume(values.broker, values.queue);
  else await publish(values.broker, values.queue, input, Number(values.messages), values.o);
}

async function consume(broker, queue) {
  const conn = await amqp.connect(broker);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true });
  const threads = [0, 1].map(() => ({ worker: new Worker(new URL(import.meta.url)), busy: 0 }));
  await ch.prefetch(threads.length * 2);
  const pending = new Map();
  let next = 0;
  for (const t of threads)
    t.worker.on('message', ({ id, bytes }) => {
      t.busy--;
      const msg = pending.get(id);
      pending.delete(id);
      const { replyTo, correlationId } = msg.properties;
      const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      // Acked once the answer is confirmed: a worker that dies before leaves the message to another.
      ch.sendToQueue(replyTo, body, { correlationId, persistent: true }, (err) => err || ch.ack(msg));
    });
  await ch.consume(queue, (msg) => {
    const t = threads[0].busy <= threads[1].busy ? threads[0] : threads[1];
    t.busy++;
    const id = next++;
    pending.set(id, msg);
    const bytes = new Uint8Array(msg.content); // one copy, of just these bytes
    t.worker.postMessage({ id, bytes }, [bytes.buffer]);
  });
  console.log('consuming');
  process.once('SIGTERM', async () => {
    await conn.close().catch(() => {});
    process.exit(0);
  });
}

async function publish(broker, queue, input, messages, outFile) {
  const { documents } = JSON.parse(readFileSync(input, 'utf8'));
  const { default: WordCount } = await import(taskUrl);
  const conn = await amqp.connect(broker);
  const ch = await conn.createConfirmChannel();
  const { queue: replies } = await ch.assertQueue('', { exclusive: true });
  const size = Math.ceil(documents.length / messages);
  const batches = Math.ceil(documents.length / size);
  const partials = new Array(batches);
  let answered = 0;
  const done = new Promise((resolve) => {
    ch.consume(
      replies,
      (msg) => {
        partials[Number(msg.properties.correlationId)] = packr.unpack(msg.content);
        if (++answered === batches) resolve();
      },
      { noAck: true },
    );
  });
  for (let b = 0; b < batches; b++) {
    const body = packr.pack(documents.slice(b * size, (b + 1) * size));
    ch.sendToQueue(queue, body, { replyTo: replies, correlationId: String(b), persistent: true });
  }
  await ch.waitForConfirms();
  await done;
  const text = `${JSON.stringify(new WordCount().join(partials, params), null, 2)}\n`;
  if (outFile) writeFileSync(outFile, text);
  else process.stdout.write(text);
  await conn.close();
}
