// --emperor-multi-section: a monitor wrapped so that a vassal file becomes one vassal per section. The sections and
// the digests of their options come from the config readers, asked as the file's owner (tyrant mode) with the same
// vassal-wide options as each section's own read: nothing here reads a file.
import type { Monitor } from '../monitors/types';
import { SectionMonitor } from '../monitors/section-monitor';
import { readRequest } from './launch';
import type { VassalContext } from './vassal';

/** `context` is asked at the first listing, once the monitor has started. */
export function sectionMonitor(
  m: Monitor,
  context: () => Pick<VassalContext, 'reader' | 'opts' | 'binaryPath' | 'env' | 'ownerEnv' | 'credentialsFor'>,
): Monitor {
  return new SectionMonitor(m, async (src) => {
    const ctx = context();
    const creds = ctx.credentialsFor(src);
    // a refused owner: the file's default vassal is shown refused, as any vassal of that owner
    if ('refused' in creds) return { error: creds.refused };
    const r = await ctx.reader.sections(readRequest(src, ctx, creds, false));
    return 'error' in r ? { error: r.error.message } : r;
  });
}
