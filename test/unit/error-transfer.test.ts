/**
 * Errors cross a comlink boundary as the runtime's own classes, fields included; every error class
 * the engine API exports is an AdaDiffError that does.
 */
import * as Comlink from 'comlink';
import { describe, expect, it } from 'vitest';
import {
  AdaDiffError,
  ConsentRefusedError,
  DeviceLostError,
  IntegrityError,
  NotLoadedError,
  ParameterError,
  reviveError,
  WorkerCrashedError,
} from '../../src/runtime/errors';
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

describe('every error the engine API throws', () => {
  const errorClasses = (entry: Record<string, unknown>) =>
    Object.entries(entry).filter(
      (e): e is [string, new (...a: never[]) => Error] =>
        typeof e[1] === 'function' && (e[1] as { prototype: unknown }).prototype instanceof Error,
    );

  it('is an AdaDiffError with a code, and crosses the worker boundary as its own class', async () => {
    const browser = errorClasses(await import('../../src/api/browser'));
    const node = errorClasses(await import('../../src/api/node'));
    expect(browser.map(([n]) => n).sort()).toEqual(node.map(([n]) => n).sort());
    expect(browser.map(([n]) => n)).toEqual(
      expect.arrayContaining(['WorkerCrashedError', 'NotLoadedError', 'ConsentRefusedError']),
    );
    for (const [name, cls] of browser) {
      if (cls === AdaDiffError) continue;
      expect(cls.prototype, name).toBeInstanceOf(AdaDiffError);
      const revived = reviveError({ name, message: 'm', fields: { code: 'x' } });
      expect(revived, `${name} must revive after postMessage`).toBeInstanceOf(cls);
      expect(revived?.name).toBe(name);
    }
  });

  it('the new classes keep their class, code, fields and message through comlink', async () => {
    installErrorTransfer();
    const { port1, port2 } = new MessageChannel();
    const api = {
      crashed: () => {
        throw new WorkerCrashedError('the engine stopped unexpectedly (abort)');
      },
      notLoaded: () => {
        throw new NotLoadedError();
      },
      refused: () => {
        throw new ConsentRefusedError('https://elsewhere.example');
      },
    };
    Comlink.expose(api, port1 as unknown as Comlink.Endpoint);
    const remote = Comlink.wrap<typeof api>(port2 as unknown as Comlink.Endpoint);
    const caught = (call: () => Promise<unknown>) =>
      call().then(
        () => null,
        (e: unknown) => e,
      );

    const crashed = await caught(() => remote.crashed());
    expect(crashed).toBeInstanceOf(WorkerCrashedError);
    expect(crashed).toMatchObject({
      code: 'worker-crashed',
      detail: 'the engine stopped unexpectedly (abort)',
    });
    // what went wrong, then what to do
    expect((crashed as Error).message).toMatch(/\(abort\)\. The next load or generate starts a fresh engine/);

    const notLoaded = await caught(() => remote.notLoaded());
    expect(notLoaded).toBeInstanceOf(NotLoadedError);
    expect(notLoaded).toMatchObject({ code: 'not-loaded', name: 'NotLoadedError' });
    expect((notLoaded as Error).message).toMatch(/no model is loaded: load one first/);

    const refused = await caught(() => remote.refused());
    expect(refused).toBeInstanceOf(ConsentRefusedError);
    expect(refused).toMatchObject({ code: 'consent', origin: 'https://elsewhere.example' });
    expect((refused as Error).message).toMatch(/from https:\/\/elsewhere\.example was refused: allow/);
    port1.close();
    port2.close();
  });
});
