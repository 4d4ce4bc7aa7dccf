/** Errors cross a comlink boundary as the runtime's own classes, fields included. */
import * as Comlink from 'comlink';
import { describe, expect, it } from 'vitest';
import { DeviceLostError, IntegrityError, ParameterError } from '../../src/runtime/errors';
import { installErrorTransfer } from '../../src/worker/error-transfer';

describe('error transfer', () => {
  it('a thrown AdaDiffError arrives as its class; any other error as a plain Error', async () => {
    installErrorTransfer();
    const { port1, port2 } = new MessageChannel();
    const api = {
      lose: () => {
        throw new DeviceLostError('destroyed');
      },
      damaged: () => {
        throw new IntegrityError('block_03.onnx', 'sha256', 'aa', 'bb');
      },
      param: () => {
        throw new ParameterError('steps', 'is 0: must be 1…1000');
      },
      other: () => {
        throw new TypeError('not ours');
      },
    };
    Comlink.expose(api, port1 as unknown as Comlink.Endpoint);
    const remote = Comlink.wrap<typeof api>(port2 as unknown as Comlink.Endpoint);
    const caught = async (call: () => Promise<unknown>) =>
      call().then(
        () => null,
        (e: unknown) => e,
      );
    const lost = await caught(() => remote.lose());
    expect(lost).toBeInstanceOf(DeviceLostError);
    expect(lost).toMatchObject({ code: 'device-lost', name: 'DeviceLostError' });
    expect((lost as Error).message).toMatch(/^the WebGPU device was lost \(destroyed\)/);
    const damaged = await caught(() => remote.damaged());
    expect(damaged).toBeInstanceOf(IntegrityError);
    expect(damaged).toMatchObject({ file: 'block_03.onnx', field: 'sha256' });
    expect(await caught(() => remote.param())).toMatchObject({ parameter: 'steps', name: 'ParameterError' });
    const other = await caught(() => remote.other());
    expect(other).toBeInstanceOf(Error);
    expect(other).not.toBeInstanceOf(DeviceLostError);
    expect(other).toMatchObject({ name: 'TypeError', message: 'not ours' });
    port1.close();
    port2.close();
  });
});
