/**
 * The dashboard's doors, with raw HTTP over sockets (fetch would normalize
 * the request target): the token is decided on the route the router matched,
 * so percent-encoded paths and absolute-form targets cannot skip it; the
 * `Host` a request names must be the dashboard's own (DNS rebinding); event
 * streams share one poll per topic and are capped; the token never travels in
 * a stream's URL. A real dashboard on a real file store (RabbitMQ for /metrics' queue depths).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { brokerAvailable } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'doors-token-0123456789abcdef';
const TRAILING = join(import.meta.dirname, '..', 'fixtures', 'trailing.ts');

interface RawAnswer {
  status: number;
  headers: string;
  body: string;
}

/** Sends `head` (request line and headers, without the blank line) and reads the answer to the end. */
function raw(port: number, head: string, body = ''): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`${head}\r\nConnection: close\r\n\r\n${body}`));
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (data += d));
    s.on('error', reject);
    s.on('close', () => {
      const [headers, ...rest] = data.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(headers)?.[1] ?? 0), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

/** Opens an event stream and resolves once its answer's head is in: the status, and a close(). */
function stream(port: number, host: string, target: string): Promise<{ status: number; close(): void }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    let data = '';
    s.setEncoding('latin1');
    s.on('error', reject);
    s.on('data', (d: string) => {
      data += d;
      const m = /^HTTP\/1\.1 (\d+)/.exec(data);
      if (m && data.includes('\r\n\r\n')) resolve({ status: Number(m[1]), close: () => s.destroy() });
    });
  });
}

const portOf = (d: Dashboard) => Number(new URL(d.url).port);

describe('a non-loopback dashboard: the token is decided on the matched route', () => {
  let dir: string;
  let dash: Dashboard;
  let port: number;
  let host: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fj-doors-'));
    dash = await startDashboard({ host: '::ffff:127.0.0.1', port: 0, store: `file://${dir}`, token: TOKEN });
    port = portOf(dash);
    host = `[::ffff:127.0.0.1]:${port}`;
  });
  afterAll(async () => {
    await dash?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    '/api/jobs',
    '/%61pi/jobs',
    '/%6detrics',
    '/%61pi/jobs/0b8f3c8e-1111-4222-8333-944445555666/input',
    '/%61pi/events?topic=workers',
    '/%61pi/queues/POOL/dead',
    '/api/%77orkers',
    '/no/such/route',
    'http://x/api/jobs',
    'http://HOST/api/jobs',
  ])('GET %s without the token is refused', async (path) => {
    const target = path.replace('HOST', host);
    const r = await raw(port, `GET ${target} HTTP/1.1\r\nHost: ${host}`);
    // An absolute-form target is refused as such (400), before any route rule; a path without the token is 401.
    if (target.startsWith('http')) expect(r.status).toBe(400);
    else expect([400, 401]).toContain(r.status);
    expect(r.body).not.toMatch(/"jobs"|"workers"|fj_/);
  });

  it('a submitted body with fields of the wrong type is 400 naming the field, never 500', async () => {
    for (const [body, field] of [
      [{ task: 'wordcount', input: { documents: ['a'] }, label: { toString: 1 } }, 'label'],
      [{ task: { toString: 1 }, input: {} }, 'task'],
      [{ task: 'wordcount', input: { documents: ['a'] }, options: { queue: { toString: 1 } } }, 'queue'],
      [{ task: 'wordcount', input: { documents: ['a'] }, options: { retries: { toString: 1 } } }, 'retries'],
    ] as const) {
      const text = JSON.stringify(body);
      const r = await raw(
        port,
        `POST /api/jobs HTTP/1.1\r\nHost: ${host}\r\nX-FJ-Token: ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${text.length}`,
        text,
      );
      expect(r.status, text).toBe(400);
      expect((JSON.parse(r.body) as { error: string }).error, text).toContain(field);
    }
  });

  it('the page itself is served without the token; the API with it', async () => {
    for (const path of ['/', '/page/app.js', '/page/style.css', '/page/preact-htm.js'])
      expect((await raw(port, `GET ${path} HTTP/1.1\r\nHost: ${host}`)).status).toBe(200);
    expect((await raw(port, `GET /%61pi/jobs HTTP/1.1\r\nHost: ${host}\r\nX-FJ-Token: ${TOKEN}`)).status).toBe(200);
  });
});

describe('a loopback dashboard refuses a Host that is not its own (DNS rebinding)', () => {
  let dir: string;
  let dash: Dashboard;
  let port: number;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fj-doors-'));
    dash = await startDashboard({ port: 0, store: `file://${dir}`, token: TOKEN, allowedHosts: ['fj.internal'] });
    port = portOf(dash);
  });
  afterAll(async () => {
    await dash?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a rebound name is 421 for every request, page and API, with the rule in the body', async () => {
    for (const path of ['/api/jobs', '/', '/page/app.js', '/api/events?topic=workers']) {
      const r = await raw(
        port,
        `GET ${path} HTTP/1.1\r\nHost: evil.example:${port}\r\nOrigin: http://evil.example:${port}\r\nSec-Fetch-Site: same-origin`,
      );
      expect(r.status).toBe(421);
      expect(r.body).toContain("Host 'evil.example:");
      expect(r.body).toContain('FJ_DASHBOARD_HOSTS');
    }
    const post = await raw(
      port,
      `POST /api/jobs HTTP/1.1\r\nHost: evil.example:${port}\r\nX-FJ-Token: ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2`,
      '{}',
    );
    expect(post.status).toBe(421);
    expect((await raw(port, `GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port + 1}`)).status).toBe(421); // another port
    expect((await raw(port, 'GET /api/jobs HTTP/1.0')).status).toBe(421); // no Host at all
  });

  it('its own address, localhost, [::1] and a name allowed by option answer', async () => {
    for (const h of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`, 'fj.internal'])
      expect((await raw(port, `GET /api/jobs HTTP/1.1\r\nHost: ${h}`)).status, h).toBe(200);
  });
});

describe.runIf(await brokerAvailable())('event streams: one poll per topic, a cap, no token in the URL', () => {
  let dir: string;
  let dash: Dashboard;
  let port: number;
  let host: string;
  /** A figure of the dashboard's own in /metrics. */
  const metric = async (name: string) => {
    const r = await raw(port, `GET /metrics HTTP/1.1\r\nHost: ${host}\r\nX-FJ-Token: ${TOKEN}`);
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'm').exec(r.body);
    if (!m) throw new Error(`no ${name} in /metrics: ${r.status} ${r.body.slice(0, 300)}`);
    return Number(m[1]);
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fj-doors-'));
    dash = await startDashboard({
      host: '::ffff:127.0.0.1',
      port: 0,
      store: `file://${dir}`,
      token: TOKEN,
      liveEveryMs: 100,
      maxStreams: 6,
    });
    port = portOf(dash);
    host = `[::ffff:127.0.0.1]:${port}`;
  });
  afterAll(async () => {
    await dash?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ticket = async () => {
    const r = await raw(
      port,
      `POST /api/events/ticket HTTP/1.1\r\nHost: ${host}\r\nX-FJ-Token: ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2`,
      '{}',
    );
    expect(r.status).toBe(200);
    return (JSON.parse(r.body) as { ticket: string }).ticket;
  };

  it('the token in the URL opens no stream; a ticket fetched with the header opens one, once', async () => {
    expect((await raw(port, `GET /api/events?topic=workers&token=${TOKEN} HTTP/1.1\r\nHost: ${host}`)).status).toBe(
      401,
    );
    const t = await ticket();
    expect(t).not.toContain(TOKEN);
    const s = await stream(port, host, `/api/events?topic=workers&ticket=${t}`);
    expect(s.status).toBe(200);
    s.close();
    expect((await raw(port, `GET /api/events?topic=workers&ticket=${t} HTTP/1.1\r\nHost: ${host}`)).status).toBe(401); // used
  });

  it('six streams of a topic cost one poll a tick; the seventh is 503; the poll stops with the last', async () => {
    const open = [];
    for (let i = 0; i < 6; i++)
      open.push(await stream(port, host, `/api/events?topic=overview&ticket=${await ticket()}`));
    expect(open.map((s) => s.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await metric('fj_dashboard_event_streams')).toBe(6);
    const t0 = await metric('fj_dashboard_topic_polls_total');
    const start = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    const polls = (await metric('fj_dashboard_topic_polls_total')) - t0;
    const ticks = (Date.now() - start) / 100;
    expect(polls).toBeGreaterThan(2);
    expect(polls).toBeLessThanOrEqual(ticks + 2); // one poll a tick for six streams, not six
    const seventh = await raw(port, `GET /api/events?topic=workers&ticket=${await ticket()} HTTP/1.1\r\nHost: ${host}`);
    expect(seventh.status).toBe(503);
    expect(seventh.body).toMatch(/6 event streams are open.*maxStreams/);
    for (const s of open) s.close();
    await waitFor('the streams to be counted closed', async () => (await metric('fj_dashboard_event_streams')) === 0);
    const after = await metric('fj_dashboard_topic_polls_total');
    await new Promise((r) => setTimeout(r, 400));
    expect(await metric('fj_dashboard_topic_polls_total')).toBe(after); // nobody listens: nothing is polled
  });
});

describe('many event streams at once', () => {
  it('twenty open streams, within the cap, make the dashboard print no listener-leak warning', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fj-doors-'));
    const dash = await startDashboard({ port: 0, store: `file://${dir}`, token: TOKEN, liveEveryMs: 100 });
    const port = portOf(dash);
    const host = `127.0.0.1:${port}`;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    const open: { status: number; close(): void }[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const r = await raw(
          port,
          `POST /api/events/ticket HTTP/1.1\r\nHost: ${host}\r\nX-FJ-Token: ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2`,
          '{}',
        );
        const { ticket } = JSON.parse(r.body) as { ticket: string };
        open.push(await stream(port, host, `/api/events?topic=${i % 2 ? 'overview' : 'workers'}&ticket=${ticket}`));
      }
      expect(open.map((s) => s.status)).toEqual(Array.from({ length: 20 }, () => 200));
      await new Promise((r) => setTimeout(r, 300)); // a warning is emitted on the next tick
      expect(warnings.filter((w) => /MaxListeners/.test(w))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      for (const s of open) s.close();
      await dash.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a submitted input is validated off the event loop, within a time limit', () => {
  let dir: string;
  let dash: Dashboard;
  let port: number;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fj-doors-'));
    dash = await startDashboard({
      port: 0,
      store: `file://${dir}`,
      token: TOKEN,
      tasks: [TRAILING],
      validateTimeoutMs: 500,
    });
    port = portOf(dash);
  });
  afterAll(async () => {
    await dash?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const submit = (input: unknown) => {
    const text = JSON.stringify({ task: 'trailing', input });
    return raw(
      port,
      `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-FJ-Token: ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${text.length}`,
      text,
    );
  };

  it('an input whose pattern backtracks for seconds is refused (400) after the limit; the dashboard answers meanwhile', async () => {
    const started = Date.now();
    const slow = submit({ text: `${' '.repeat(80_000)}x` }); // about 17 s in ajv's pattern test
    await new Promise((r) => setTimeout(r, 100));
    const t = Date.now();
    expect((await raw(port, `GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}`)).status).toBe(200);
    expect(Date.now() - t).toBeLessThan(300); // not stuck behind the validation
    const r = await slow;
    expect(Date.now() - started).toBeLessThan(8000); // the thread's start and the schema's compiling, then 500 ms
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({
      code: 'FJ_INPUT',
      error: expect.stringMatching(/took longer than 500 ms to validate against the schema of task trailing/),
    });
    // The thread is replaced: the next input is validated, with its problems named.
    const bad = await submit({ text: 5 });
    expect(bad.status, bad.body).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ code: 'FJ_INPUT', problems: ['/text: must be string'] });
  });
});
