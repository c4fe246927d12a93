// A real etcd (Debian's etcd-server) for a test: its own data directory and free ports, ended by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePorts } from './ports';
import { until, within } from './wait';

export class EtcdServer {
  private child?: ChildProcess;
  private log = '';

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly peerPort: number,
  ) {}

  /** host:port of its client URL. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  static async start(): Promise<EtcdServer> {
    const [port, peer] = await freePorts(2);
    // on tmpfs: etcd fsyncs its log on every put, and a disk's fsync (tens of ms here) would be measured as ours
    const s = new EtcdServer(fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'emperor-etcd-')), port, peer);
    await s.run();
    return s;
  }

  /** Starts it (again, on the same data and ports) and waits until it answers. */
  async run(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const client = `http://127.0.0.1:${this.port}`;
    this.log = '';
    this.child = spawn(
      'etcd',
      [
        '--name',
        'test',
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `test=${peer}`,
        '--log-level',
        'error',
        '--logger',
        'zap',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.log = (this.log + d).slice(-4000)));
    const c = new Etcd3({ hosts: client });
    try {
      await until(
        async () => {
          if (this.child?.exitCode !== null) throw new Error(`etcd exited: ${this.log}`);
          await c
            .get('probe')
            .options({ deadline: new Date(Date.now() + 500) })
            .string();
          return true;
        },
        `etcd on ${client}`,
        15000,
      );
    } finally {
      c.close();
    }
  }

  /** SIGKILL (or another signal) and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await within(gone, 10000, `etcd pid ${child.pid} to exit`);
  }

  async destroy(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** A client of the test's own (close it). */
  client(): Etcd3 {
    return new Etcd3({ hosts: `http://${this.endpoint}` });
  }
}
