// glob://: vassals are the paths a glob(3) pattern yields (uWSGI's glob monitor), names exactly as the pattern
// spells them, relative patterns resolved against the emperor's cwd at start. Every directory the pattern looks into
// is watched: an event where the last segment matches checks that one path, any other event re-expands the pattern.
import * as path from 'node:path';
import { MonitorFs, MonitorOptions } from './types';
import { Candidate, FileMonitor } from './file-monitor';
import { expandGlob, matchesLeaf, ParsedGlob, parseGlob } from './glob-pattern';
import { isVassalFile } from '../config/vassal-env';

const LIST_WIDTH = 32;

export class GlobMonitor extends FileMonitor {
  private readonly glob: ParsedGlob;
  /** Watched directory -> the pattern's text for it, for the directories holding final matches. */
  private leafPrefixes = new Map<string, string>();

  constructor(
    pattern: string,
    private readonly cwd: string,
    opts: MonitorOptions,
    fs: MonitorFs,
  ) {
    super(cwd, pattern, opts, fs);
    this.glob = parseGlob(pattern);
  }

  protected async listCandidates(): Promise<Candidate[] | null> {
    const w = await expandGlob(this.glob, this.cwd, LIST_WIDTH, (dir) => this.list(dir));
    this.leafPrefixes = new Map(w.dirs.filter((d) => d.leaf).map((d) => [d.path, d.prefix]));
    await this.syncWatches([...new Set(w.dirs.map((d) => d.path))]);
    return w.matches.filter((m) => isVassalFile(m.name, this.opts.extraExtensions));
  }

  /** A directory's entries; null when it cannot be listed (missing, unreadable, or hung: then left alone). */
  private async list(dir: string): Promise<string[] | null> {
    if (this.isHung(dir)) return null;
    try {
      return await this.fs.readdir(dir);
    } catch (err) {
      this.hungOn(dir, err);
      return null;
    }
  }

  protected onWatchEvent(dir: string, filename: string | null): void {
    const prefix = this.leafPrefixes.get(dir);
    if (filename === null || prefix === undefined || filename === path.basename(dir)) {
      this.requestRescan();
      return;
    }
    const name = prefix === '' ? filename : prefix.endsWith('/') ? prefix + filename : `${prefix}/${filename}`;
    if (matchesLeaf(this.glob, filename) && isVassalFile(name, this.opts.extraExtensions)) this.touch(name, path.join(dir, filename));
    else this.touchSymlinked();
  }
}
