// A TCP relay between one emperor and etcd, so a test can cut that one emperor off while the others stay connected:
// 'refuse' resets every connection and refuses new ones; 'blackhole' keeps the connections open and drops every byte
// (a partition: nothing fails, nothing answers).
import * as net from 'node:net';

export type ProxyMode = 'pass' | 'refuse' | 'blackhole';

export class TcpProxy {
  private mode: ProxyMode = 'pass';
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private readonly server: net.Server;

  private constructor(readonly port: number, private readonly target: number) {
    this.server = net.createServer((c) => this.accept(c));
  }

  static async start(port: number, target: number): Promise<TcpProxy> {
    const p = new TcpProxy(port, target);
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(port, '127.0.0.1', () => resolve());
    });
    return p;
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  set(mode: ProxyMode): void {
    this.mode = mode;
    if (mode === 'refuse') for (const [a, b] of this.pairs) (a.resetAndDestroy(), b.destroy());
    if (mode === 'blackhole') for (const [a, b] of this.pairs) (a.pause(), b.pause());
    if (mode === 'pass') for (const [a, b] of this.pairs) (a.resume(), b.resume());
  }

  private accept(c: net.Socket): void {
    if (this.mode === 'refuse') return void c.resetAndDestroy();
    const up = net.connect(this.target, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [c, up];
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      c.destroy();
      up.destroy();
    };
    c.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    c.pipe(up);
    up.pipe(c);
    if (this.mode === 'blackhole') (c.pause(), up.pause());
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) (a.destroy(), b.destroy());
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
