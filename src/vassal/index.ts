// Native vassals: the jail plan compiler and the emperor's link to each vassal's init.
import * as path from 'node:path';

export { compilePlan, isNativeVassal } from './compile';
export { InitLink, DEFAULT_MERCY_MS, type AppEvent, type StepReport } from './link';
export { formatPlan, type JailPlan, type PlanStep, type StepOrigin } from './plan';
export { INIT_EXIT_MOUNTPOINT, INIT_EXIT_PROTOCOL, INIT_EXIT_STEP_FAILED } from './wire';

/** Absolute path of build/Release/emperor-init (this file is dist/src/vassal/index.js). */
export function initExecutable(): string {
  return path.resolve(__dirname, '..', '..', '..', 'build', 'Release', 'emperor-init');
}
