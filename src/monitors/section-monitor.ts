// --emperor-multi-section: one vassal per section of each vassal file. A monitor still sees files; this layer turns
// each file into its section vassals ("app.ini" for [uwsgi], "app.ini:app2" for [app2]) from what the config readers
// say the file holds (`list`, run off the emperor's loop with the owner's rights: only readers read configs). Each
// section comes with a digest of its resolved options, so an edit adds the sections that appeared, removes the ones
// that went, and changes only the ones whose options changed.
import { logger, type Logger } from '../log';
import type { Monitor, MonitorEvents, VassalSource } from './types';
import { detached } from '../detach';

export interface SectionState {
  /** null: the default section, the vassal named as the file itself. */
  section: string | null;
  digest: string;
}

/** A file's sections, or why they could not be listed (the file's vassals are then kept as they are). */
export type SectionListing = { sections: SectionState[] } | { error: string };

export type ListSections = (src: VassalSource) => Promise<SectionListing>;

interface Child {
  src: VassalSource;
  digest: string;
}

interface FileState {
  /** The latest the monitor said of the file. */
  src: VassalSource;
  /** The owner the children were last told of (tyrant mode acts on an owner change). */
  owner?: { uid: number; gid: number };
  children: Map<string, Child>;
  listing: boolean;
  /** An event came while a listing was in flight: list again once it is over. */
  again: boolean;
  removed: boolean;
  lastError?: string;
}

export function sectionVassalName(file: string, section: string | null): string {
  return section === null ? file : `${file}:${section}`;
}

export class SectionMonitor implements Monitor {
  private events: MonitorEvents | null = null;
  private readonly files = new Map<string, FileState>();
  private readonly log: Logger;

  constructor(
    private readonly inner: Monitor,
    private readonly list: ListSections,
  ) {
    this.log = logger().child({ monitor: inner.id });
  }

  get id(): string {
    return this.inner.id;
  }

  get errors(): Array<{ path: string; error: string }> {
    return this.inner.errors;
  }

  start(events: MonitorEvents): void {
    this.events = events;
    this.inner.start({
      add: (src) => this.listSoon(src),
      change: (src) => this.listSoon(src),
      remove: (src) => this.removeFile(src),
    });
  }

  rescan(): void {
    this.inner.rescan();
  }

  stop(): void {
    this.events = null;
    this.inner.stop();
  }

  private listSoon(src: VassalSource): void {
    let st = this.files.get(src.name);
    if (!st) {
      st = { src, children: new Map(), listing: false, again: false, removed: false };
      this.files.set(src.name, st);
    }
    st.src = src;
    if (st.listing) {
      st.again = true;
      return;
    }
    detached(this.listLoop(st), 'section listing');
  }

  /** One listing at a time per file; events meanwhile make one more, of the file as it is then. */
  private async listLoop(st: FileState): Promise<void> {
    st.listing = true;
    do {
      st.again = false;
      const src = st.src;
      let listing: SectionListing;
      try {
        listing = await this.list(src);
      } catch (e) {
        listing = { error: (e as Error).message };
      }
      if (st.removed || !this.events) break;
      this.apply(st, src, listing);
    } while (st.again);
    st.listing = false;
  }

  private apply(st: FileState, src: VassalSource, listing: SectionListing): void {
    const ev = this.events!;
    const ownerChanged = st.owner !== undefined && (st.owner.uid !== src.uid || st.owner.gid !== src.gid);
    st.owner = { uid: src.uid, gid: src.gid };
    const child = (section: string | null): VassalSource => ({ ...src, name: sectionVassalName(src.name, section) });
    if ('error' in listing) {
      if (listing.error !== st.lastError)
        this.log.error(
          { event: 'sections-error', file: src.path, error: listing.error },
          `cannot list the sections of ${src.name}: ${listing.error}`,
        );
      st.lastError = listing.error;
      if (st.children.size === 0) {
        // a file that does not read at all is shown as its default vassal, which reads it and says why
        const c = child(null);
        st.children.set(c.name, { src: c, digest: '' });
        ev.add(c);
      } else if (ownerChanged) {
        for (const c of st.children.values()) {
          c.src = { ...c.src, uid: src.uid, gid: src.gid, mtimeMs: src.mtimeMs };
          ev.change(c.src);
        }
      }
      return;
    }
    st.lastError = undefined;
    const wanted = new Map(listing.sections.map((s) => [sectionVassalName(src.name, s.section), s]));
    const gone: string[] = [];
    const added: string[] = [];
    const changed: string[] = [];
    for (const [name, c] of st.children) {
      if (wanted.has(name)) continue;
      st.children.delete(name);
      gone.push(name);
      ev.remove(c.src);
    }
    for (const s of listing.sections) {
      const c = child(s.section);
      const old = st.children.get(c.name);
      st.children.set(c.name, { src: c, digest: s.digest });
      if (!old) {
        added.push(c.name);
        ev.add(c);
      } else if (old.digest !== s.digest || ownerChanged) {
        changed.push(c.name);
        ev.change(c);
      } else {
        ev.unchanged?.(c);
      }
    }
    this.log.info(
      { event: 'sections', file: src.path, sections: [...st.children.keys()], added, changed, removed: gone },
      `${src.name}: ${st.children.size} section vassal(s); added ${added.length}, changed ${changed.length}, removed ${gone.length}`,
    );
  }

  private removeFile(src: VassalSource): void {
    const st = this.files.get(src.name);
    if (!st) return;
    st.removed = true;
    this.files.delete(src.name);
    for (const c of st.children.values()) this.events?.remove(c.src);
  }
}
