/**
 * Errors cross the worker boundary as the runtime's own classes: comlink's transfer handler for
 * thrown values is wrapped so that an AdaDiffError arrives as a DeviceLostError, CancelledError …
 * again, fields included, instead of a plain Error matched by its name. Installed on both sides.
 */
import * as Comlink from 'comlink';
import { AdaDiffError, recordOf, reviveError, type ErrorRecord } from '../runtime/errors';

type Thrown = { value: unknown };
type Serialized = { adadiff: ErrorRecord } | { base: unknown };

let installed = false;

export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const base = Comlink.transferHandlers.get('throw') as Comlink.TransferHandler<Thrown, unknown>;
  const handler: Comlink.TransferHandler<Thrown, Serialized> = {
    canHandle: (value): value is Thrown => base.canHandle(value),
    serialize(thrown) {
      if (thrown.value instanceof AdaDiffError) return [{ adadiff: recordOf(thrown.value) }, []];
      const [value, transfers] = base.serialize(thrown);
      return [{ base: value }, transfers];
    },
    deserialize(serialized) {
      if ('adadiff' in serialized)
        throw reviveError(serialized.adadiff) ?? new Error(serialized.adadiff.message);
      return base.deserialize(serialized.base);
    },
  };
  Comlink.transferHandlers.set('throw', handler as Comlink.TransferHandler<unknown, unknown>);
}
