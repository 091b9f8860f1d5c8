/**
 * A TCP proxy for fault tests, between a client (the worker) and a server: it forwards
 * bytes both ways until told to fail in one of the ways a network fails.
 *
 * - drop():     every connection is closed at once (both sides see it).
 * - stall():    nothing is forwarded any more, sockets stay open (a hung router, a server
 *               that stopped answering); resume() forwards what was held back.
 * - halfOpen(): the server's side of every connection is closed, the client's side stays
 *               open and silent (the peer vanished without a FIN or RST reaching the client);
 *               new connections get the same until resume().
 */
import net from 'node:net';

type Mode = 'forward' | 'stall' | 'half-open';

interface Pair {
  client: net.Socket;
  server: net.Socket | undefined;
  /** Held back while stalled: [to the server, to the client]. */
  held: [Buffer[], Buffer[]];
}

export class TcpProxy {
  private mode: Mode = 'forward';
  private readonly pairs = new Set<Pair>();
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** A proxy on a free local port to `targetHost:targetPort`. */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = net.createServer((socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port, targetHost, targetPort);
    return proxy;
  }

  /** `url` (a postgres:// URL to the target) through this proxy. */
  url(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  /** Connections open now. */
  get connections(): number {
    return this.pairs.size;
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const pair: Pair = { client, server: undefined, held: [[], []] };
    this.pairs.add(pair);
    client.on('error', () => this.closePair(pair));
    client.on('close', () => this.closePair(pair));
    if (this.mode === 'half-open') {
      client.on('data', () => undefined); // swallowed: no one answers
      return;
    }
    const server = net.connect(this.targetPort, this.targetHost);
    pair.server = server;
    server.on('error', () => this.closePair(pair));
    server.on('close', () => this.closePair(pair));
    client.on('data', (d) => this.forward(pair, 0, d));
    server.on('data', (d) => this.forward(pair, 1, d));
  }

  private forward(pair: Pair, dir: 0 | 1, data: Buffer): void {
    if (this.mode === 'half-open') return;
    if (this.mode === 'stall') {
      pair.held[dir].push(data);
      return;
    }
    (dir === 0 ? pair.server : pair.client)?.write(data);
  }

  private closePair(pair: Pair): void {
    // In half-open mode the client's side outlives the server's: that is the fault.
    if (this.mode === 'half-open' && !pair.client.destroyed) {
      pair.server?.destroy();
      return;
    }
    if (!this.pairs.delete(pair)) return;
    pair.client.destroy();
    pair.server?.destroy();
  }

  /** Close every connection now. */
  drop(): void {
    for (const pair of [...this.pairs]) {
      this.pairs.delete(pair);
      pair.client.destroy();
      pair.server?.destroy();
    }
  }

  /** Stop forwarding; sockets stay open. */
  stall(): void {
    this.mode = 'stall';
  }

  /** Close the server's side of every connection, keep the client's open and silent. */
  halfOpen(): void {
    this.mode = 'half-open';
    for (const pair of this.pairs) {
      pair.server?.destroy();
      pair.server = undefined;
    }
  }

  /**
   * Forward again: what a stall held back is sent on; connections left half-open are
   * closed now (as the client's TCP stack would find out at last).
   */
  resume(): void {
    const was = this.mode;
    this.mode = 'forward';
    for (const pair of [...this.pairs]) {
      if (was === 'half-open' || !pair.server) {
        this.pairs.delete(pair);
        pair.client.destroy();
        pair.server?.destroy();
        continue;
      }
      for (const d of pair.held[0].splice(0)) pair.server.write(d);
      for (const d of pair.held[1].splice(0)) pair.client.write(d);
    }
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
