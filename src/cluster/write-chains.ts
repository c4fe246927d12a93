// Writes to etcd about one vassal, in the order they were decided: a stop's write never overtakes the start's it
// ends, while the writes about different vassals go side by side.
import { detached } from '../detach';

export class WriteChains {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly what: string) {}

  /** Runs `op` once every write queued before it for `name` is over (op catches its own failures). */
  run(name: string, op: () => Promise<void>): void {
    const next = (this.chains.get(name) ?? Promise.resolve()).then(op);
    this.chains.set(name, next);
    detached(
      next.finally(() => {
        if (this.chains.get(name) === next) this.chains.delete(name);
      }),
      this.what,
    );
  }
}
