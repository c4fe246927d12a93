// A TCP relay between one emperor and etcd, so a test can cut that one emperor off while the others stay connected:
// 'refuse' resets every connection and refuses new ones; 'blackhole' keeps the connections open and drops every byte
// (a partition: nothing fails, nothing answers). The relay runs in a process of its own: a test that scans /proc in
// a tight loop must not delay the bytes it relays.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { within } from './wait';

export type ProxyMode = 'pass' | 'refuse' | 'blackhole';

class Relay {
  private mode: ProxyMode = 'pass';
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  readonly server: net.Server;

  constructor(private readonly target: number) {
    this.server = net.createServer((c) => this.accept(c));
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
}

export class TcpProxy {
  private buf = '';
  private waiting: Array<() => void> = [];

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      while (this.buf.includes('\n')) {
        this.buf = this.buf.slice(this.buf.indexOf('\n') + 1);
        this.waiting.shift()?.();
      }
    });
  }

  /** A relay on 127.0.0.1:port to 127.0.0.1:target. */
  static async start(port: number, target: number): Promise<TcpProxy> {
    const child = spawn(process.execPath, [__filename, String(port), String(target)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const p = new TcpProxy(port, child);
    await within(new Promise<void>((r) => p.waiting.push(r)), 10000, `the relay on port ${port}`);
    return p;
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  async set(mode: ProxyMode): Promise<void> {
    const done = new Promise<void>((r) => this.waiting.push(r));
    this.child.stdin!.write(`${mode}\n`);
    await within(done, 5000, `the relay to go ${mode}`);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await within(gone, 5000, 'the relay to exit');
  }
}

if (require.main === module) {
  const relay = new Relay(Number(process.argv[3]));
  relay.server.listen(Number(process.argv[2]), '127.0.0.1', () => process.stdout.write('ready\n'));
  let buf = '';
  process.stdin.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      relay.set(buf.slice(0, i) as ProxyMode);
      buf = buf.slice(i + 1);
      process.stdout.write('ok\n');
    }
  });
}
