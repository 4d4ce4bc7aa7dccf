/** One generation as the page's components read it: the page session's run store. */
import { bind, pageSession } from './session';

export { compareImages, initialRun } from '../../session/run';
export type { CompareResult, RunState, RunStatus, StepRow } from '../../session/run';

export const useRun = bind(pageSession.run);
