// A service manager's end of sd_notify for the tests: a real AF_UNIX SOCK_DGRAM socket (a path, or '@name' for an
// abstract one) bound by a tiny helper in Debian's python3 (scripts/install-deps.sh), since Node has no unix
// datagram sockets. Every datagram comes back as one message string.
import { spawn, type ChildProcess } from 'node:child_process';
import { within } from './wait';

const RECEIVER = `
import json, os, socket, sys
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + name[1:] if name.startswith('@') else name)
print(json.dumps('bound'), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode('utf-8', 'replace')), flush=True)
`;

export class NotifySocket {
  readonly messages: string[] = [];
  private readonly child: ChildProcess;
  private readonly bound: Promise<void>;

  constructor(readonly address: string) {
    this.child = spawn('/usr/bin/python3', ['-c', RECEIVER, address], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    let onBound!: () => void;
    this.bound = new Promise((r) => (onBound = r));
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const m = JSON.parse(buf.slice(0, nl)) as string;
        buf = buf.slice(nl + 1);
        if (m === 'bound') onBound();
        else this.messages.push(m);
      }
    });
  }

  ready(): Promise<void> {
    return within(this.bound, 10000, `the notify socket ${this.address} to be bound`);
  }

  /** Resolves with the first message (after `from`) that pred accepts. */
  async waitFor(pred: (m: string) => boolean, what: string, from = 0, timeoutMs = 15000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.slice(from).find(pred);
      if (m !== undefined) return m;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}
