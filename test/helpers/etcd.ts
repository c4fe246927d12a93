// Real etcd (Debian's etcd-server) for a test: one server, or a cluster of several members, each with its own data
// directory on disk (under the temp directory: /dev/shm is 64 MB in a container, too small for etcd's preallocated
// WAL) and free ports, ended by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { etcdClient } from '../../src/etcd/client';
import { freePorts } from './ports';
import { until, within } from './wait';

interface Membership {
  name: string;
  /** --initial-cluster: every member's name=peerURL. */
  cluster: string;
  /** Cluster token: two test clusters never mix. */
  token: string;
}

export class EtcdServer {
  private child?: ChildProcess;
  private log = '';

  constructor(
    readonly dataDir: string,
    readonly port: number,
    readonly peerPort: number,
    private readonly member: Membership,
  ) {}

  /** host:port of its client URL. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  get name(): string {
    return this.member.name;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(): Promise<EtcdServer> {
    const [port, peer] = await freePorts(2);
    const dir = dataDir();
    const s = new EtcdServer(dir, port, peer, { name: 'test', cluster: `test=http://127.0.0.1:${peer}`, token: path.basename(dir) });
    await s.run();
    return s;
  }

  /** Starts it (again, on the same data and ports) and waits until it answers. */
  async run(): Promise<void> {
    this.spawn();
    await this.answers();
  }

  /** Starts the process without waiting (a cluster's members must start together to elect a leader). */
  spawn(): void {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const client = `http://127.0.0.1:${this.port}`;
    this.log = '';
    this.child = spawn(
      'etcd',
      [
        '--name',
        this.member.name,
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
        this.member.cluster,
        '--initial-cluster-token',
        this.member.token,
        '--log-level',
        'error',
        '--logger',
        'zap',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.log = (this.log + d).slice(-4000)));
  }

  /** Waits until it answers a linearizable read (so the cluster has a leader). */
  async answers(timeoutMs = 15000): Promise<void> {
    // without etcd3's circuit breaker, which would wait 5 s after the first refused probes
    const c = etcdClient(this.endpoint);
    try {
      await until(
        async () => {
          if (!this.running) throw new Error(`etcd ${this.name} exited: ${this.log}`);
          await c
            .get('probe')
            .options({ deadline: new Date(Date.now() + 500) })
            .string();
          return true;
        },
        `etcd ${this.name} on ${this.endpoint}`,
        timeoutMs,
      );
    } finally {
      c.close();
    }
  }

  /** SIGKILL (or another signal) and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await within(gone, 10000, `etcd pid ${child.pid} to exit`);
  }

  /** SIGSTOP or SIGCONT. */
  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.running) process.kill(this.pid, sig);
  }

  async destroy(): Promise<void> {
    this.signal('SIGCONT');
    await this.kill();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** A client of the test's own (close it). */
  client(): Etcd3 {
    return new Etcd3({ hosts: `http://${this.endpoint}` });
  }
}

function dataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-etcd-'));
}

/** Several members on loopback, started together. */
export class EtcdCluster {
  private constructor(readonly members: EtcdServer[]) {}

  static async start(size = 3): Promise<EtcdCluster> {
    const ports = await freePorts(size * 2);
    const token = path.basename(dataDir());
    const names = Array.from({ length: size }, (_, i) => `m${i}`);
    const cluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
    const c = new EtcdCluster(names.map((name, i) => new EtcdServer(dataDir(), ports[2 * i], ports[2 * i + 1], { name, cluster, token })));
    try {
      await c.runAll();
    } catch (e) {
      await c.destroy();
      throw e;
    }
    return c;
  }

  /** host:port,host:port,... of every member still in the cluster (as an etcd:// spec lists them). */
  get endpoints(): string {
    return this.members.map((m) => m.endpoint).join(',');
  }

  /** Starts every member that is not running, together, and waits until each answers. */
  async runAll(): Promise<void> {
    const down = this.members.filter((m) => !m.running);
    for (const m of down) m.spawn();
    await Promise.all(down.map((m) => m.answers()));
  }

  /** The member that leads now (asked of the members that run). */
  async leader(): Promise<EtcdServer> {
    return until(
      async () => {
        for (const m of this.members.filter((x) => x.running)) {
          const c = m.client();
          try {
            const s = await c.maintenance.status({ deadline: new Date(Date.now() + 1000) });
            if (s.leader !== '0' && s.leader === s.header.member_id) return m;
          } catch {
            /* not answering: another one may */
          } finally {
            c.close();
          }
        }
        return undefined;
      },
      'the leader of the etcd cluster',
      15000,
    );
  }

  /** Removes a member from the cluster for good (asked of another member), and ends its process. */
  async remove(m: EtcdServer): Promise<void> {
    const other = this.members.find((x) => x !== m && x.running)!;
    const c = other.client();
    try {
      const list = await c.cluster.memberList({});
      const id = list.members.find((x) => x.name === m.name)!.ID;
      await c.cluster.memberRemove({ ID: id });
    } finally {
      c.close();
    }
    // a removed member stops on its own once it learns it; it is killed if it has not within the bound
    await until(() => !m.running, `removed member ${m.name} to stop`, 10000).catch(() => m.kill());
    await m.destroy();
    this.members.splice(this.members.indexOf(m), 1);
  }

  /** A client of the test's own on every member (close it). */
  client(): Etcd3 {
    return new Etcd3({ hosts: this.members.map((m) => `http://${m.endpoint}`) });
  }

  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => m.destroy()));
  }
}
