/** The loaded model as the page's components read it: the page session's model store. */
import { bind, pageSession } from './session';

export type { ModelState, ModelStatus } from '../../session/session';

export const useModel = bind(pageSession.model);
