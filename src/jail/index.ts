// Native vassals: the jail plan compiler and the emperor's link to each vassal's init.
import { programFile } from '../package-info';

export { compilePlan, inheritStep, isNativeVassal, pickShell } from './compile';
export { InitLink, DEFAULT_MERCY_MS, type AppEvent, type ByteWriter, type LinkEvents, type StepReport } from './init-link';
export { formatPlan, type JailPlan, type PlanStep, type StepOrigin } from './plan';
export { INIT_EXIT_MOUNTPOINT, INIT_EXIT_PROTOCOL, INIT_EXIT_STEP_FAILED } from './init-wire';

/** Absolute path of the vassal init executable. */
export function initExecutable(): string {
  return programFile('emperor-init');
}
