// dir://: one directory, no recursion (uWSGI's uwsgi_imperial_monitor_directory); vassal names are bare entry names.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MonitorOptions } from './types';
import { Candidate, FileMonitor } from './file-monitor';
import { isVassalFile } from '../config/vassal-env';

export class DirMonitor extends FileMonitor {
  /** `dir` must be the directory's realpath: uWSGI shows and chdirs into that. */
  constructor(private readonly dir: string, opts: MonitorOptions) {
    super(dir, dir, opts);
  }

  protected async listCandidates(): Promise<Candidate[] | null> {
    await this.syncWatches([this.dir]);
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // the directory itself is gone: so are its vassals. Any other error (EACCES, EIO on NFS) keeps them running.
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      this.log.error({ dir: this.dir, err: (err as Error).message }, 'cannot read the vassal directory; keeping the vassals as they are');
      return null;
    }
    return names.filter((n) => isVassalFile(n, this.opts.extraExtensions)).map((name) => ({ name, path: path.join(this.dir, name) }));
  }

  protected onWatchEvent(dir: string, filename: string | null): void {
    // no name (queue overflow) or the directory's own name (it was removed or renamed): look at everything again
    if (filename === null || filename === path.basename(dir)) this.requestRescan();
    if (filename === null) return;
    if (isVassalFile(filename, this.opts.extraExtensions)) this.touch(filename, path.join(dir, filename));
    else this.touchSymlinked();
  }
}
