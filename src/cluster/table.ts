// What the cluster code needs of the emperor's vassal table, and nothing more.
import type { ResolvedConfig } from '../config/types';
import type { VassalSource } from '../monitors/types';

export interface VassalTable {
  /** Resolves once no vassal of this source is left in the table (at once when there is none). */
  whenGone(src: VassalSource): Promise<void>;
  /** SIGKILL whatever runs for this source, now (its cgroup, or its process group). */
  killNow(src: VassalSource): void;
  /** Whether the vassal of this source is up (its app started), not starting, throttled or broken. */
  isRunning(src: VassalSource): boolean;
}

/** What a running vassal tells the cluster code: the config an instance started with, and its end. */
export interface InstanceEvents {
  started(src: VassalSource, config: ResolvedConfig): void;
  ended(src: VassalSource): void;
}
