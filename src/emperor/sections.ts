// --emperor-multi-section: each monitor wrapped so that a vassal file becomes one vassal per section. The sections
// and the digests of their options come from the config readers, asked as the file's owner (tyrant mode) with the
// same vassal-wide options as each section's own read: nothing here reads a file.
import type { Monitor } from '../monitors/types';
import { SectionMonitor } from '../monitors/sections';
import { readRequest } from './launch';
import type { VassalContext } from './vassal';

export function sectionMonitors(monitors: Monitor[], ctx: Pick<VassalContext, 'reader' | 'opts' | 'binaryPath' | 'credentialsFor'>): Monitor[] {
  return monitors.map((m) => new SectionMonitor(m, async (src) => {
    const creds = ctx.credentialsFor(src);
    // a refused owner: the file's default vassal is shown refused, as any vassal of that owner
    if ('refused' in creds) return { error: creds.refused };
    const r = await ctx.reader.sections(readRequest(src, ctx, creds, false));
    return 'error' in r ? { error: r.error.message } : r;
  }));
}
