/**
 * A TCP proxy a test controls, between a client and a server it must not
 * disturb: a coordinator talks to the shared RabbitMQ through it, and the
 * test "loses the broker" by cutting the proxy, never by stopping RabbitMQ
 * (other tests, and other people's, use it).
 *
 * `cut()` destroys every connection through the proxy and refuses new ones
 * (accepted, then closed at once: the client sees the broker go away and
 * come back no more) until `restore()`. The proxy keeps its port while cut,
 * so nothing else can take it and answer in the broker's place.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  /** Connections accepted and passed through, in all. */
  passed = 0;
  /** Connections refused while cut. */
  refused = 0;
  private cutOff = false;
  private stalled = false;
  /** Each open connection: the client's socket and the one to the server. */
  private readonly pairs = new Set<[Socket, Socket]>();
  /** Connections accepted while stalled, never answered. */
  private readonly held = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    /** The port the proxy listens on. */
    readonly port: number,
    /** The address it listens on. */
    readonly address: string,
  ) {}

  /** Starts a proxy on a free port of `listenOn` (127.0.0.1: this host only) to `host:port`. */
  static async start(host: string, port: number, listenOn = '127.0.0.1'): Promise<TcpProxy> {
    // The server's handler needs the proxy, which needs the server's port.
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, host, port));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, listenOn, () => resolve());
    });
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('tcp-proxy: no port');
    proxy = new TcpProxy(server, address.port, listenOn);
    return proxy;
  }

  /** `url` (amqp://user:pass@host:port/vhost...) with its host and port replaced by the proxy's. */
  via(url: string): string {
    const u = new URL(url);
    u.hostname = this.address;
    u.port = String(this.port);
    return u.href;
  }

  /** Connections open through the proxy now. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Drops every connection through the proxy, and refuses new ones until {@link restore}. */
  cut(): void {
    this.cutOff = true;
    for (const pair of this.pairs) for (const s of pair) s.destroy();
    this.pairs.clear();
  }

  /**
   * A broker that stops answering without closing anything (its host froze,
   * a network path went dark): every byte through the proxy is held, both
   * ways, and new connections are accepted and never answered, until
   * {@link restore}. Nothing is closed: only a peer's own timeouts notice.
   */
  stall(): void {
    this.stalled = true;
    for (const pair of this.pairs)
      for (const s of pair) {
        s.unpipe();
        s.pause();
      }
  }

  /** Lets new connections through again (held connections stay held). */
  restore(): void {
    this.cutOff = false;
    this.stalled = false;
  }

  /** Drops everything and stops listening. */
  async close(): Promise<void> {
    this.cut();
    for (const s of this.held) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    client.on('error', () => {});
    if (this.cutOff) {
      this.refused++;
      client.destroy();
      return;
    }
    if (this.stalled) {
      this.refused++;
      this.held.add(client);
      client.on('close', () => this.held.delete(client));
      return;
    }
    this.passed++;
    const upstream = connect({ host, port });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    // One side closing closes the other: the pair lives and dies together.
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    upstream.on('close', end);
    client.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
