// dir://: one directory, no recursion (uWSGI's uwsgi_imperial_monitor_directory); vassal names are bare entry names.
import * as path from 'node:path';
import { MonitorFs, MonitorOptions } from './types';
import { Candidate, FileMonitor } from './file-monitor';
import { isVassalFile } from '../config/vassal-env';

export class DirMonitor extends FileMonitor {
  /** `dir` must be the directory's realpath: uWSGI shows and chdirs into that. */
  constructor(
    private readonly dir: string,
    opts: MonitorOptions,
    fs: MonitorFs,
  ) {
    super(dir, dir, opts, fs);
  }

  protected async listCandidates(): Promise<Candidate[] | null> {
    await this.syncWatches([this.dir]);
    if (this.isHung(this.dir)) return null;
    let names: string[];
    try {
      names = await this.fs.readdir(this.dir);
    } catch (err) {
      if (this.hungOn(this.dir, err)) return null;
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
