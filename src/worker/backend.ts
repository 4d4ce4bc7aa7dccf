/**
 * Which backend runs. 'auto' takes WebGPU only on a hardware adapter: a software adapter such as
 * SwiftShader is far slower than wasm, so it counts as none unless the user forces WebGPU.
 */
import { BackendError, type Backend } from '../runtime';
import type { BackendChoice } from './api';

export interface AdapterInfo {
  available: boolean;
  software: boolean;
  description: string;
}

export async function probeWebGpu(): Promise<AdapterInfo> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { available: false, software: false, description: 'this browser has no WebGPU' };
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return { available: false, software: false, description: 'no WebGPU adapter' };
  const info = adapter.info;
  const name =
    [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  const software =
    Boolean((adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter) ||
    /swiftshader|llvmpipe|software/i.test(name);
  return { available: true, software, description: name };
}

/** `adapter`: the probed WebGPU adapter when WebGPU was chosen (benchmarks name it), else null. */
export async function chooseBackend(
  choice: BackendChoice,
): Promise<{ backend: Backend; reason: string; adapter: AdapterInfo | null }> {
  if (choice === 'wasm') return { backend: 'wasm', reason: 'chosen by you', adapter: null };
  const probe = await probeWebGpu();
  if (choice === 'webgpu') {
    if (!probe.available) {
      throw new BackendError(
        `WebGPU was requested but ${probe.description}. Choose the wasm backend (works everywhere).`,
      );
    }
    return {
      backend: 'webgpu',
      reason: `chosen by you (${probe.description}${probe.software ? ', software' : ''})`,
      adapter: probe,
    };
  }
  if (probe.available && !probe.software) {
    return { backend: 'webgpu', reason: probe.description, adapter: probe };
  }
  return {
    backend: 'wasm',
    adapter: null,
    reason: probe.available
      ? `WebGPU adapter is software (${probe.description}): wasm is faster`
      : probe.description,
  };
}

/**
 * Calls onLost when the newest GPUDevice created in this worker is lost. ONNX Runtime creates
 * the device itself and does not reliably expose it (ort.env.webgpu.device), so the one place
 * every device passes through, GPUAdapter.requestDevice, is observed. Older devices are ours,
 * released on unload, and their loss means nothing.
 */
export function watchDeviceLoss(onLost: (reason: string) => void): void {
  const proto = (globalThis as { GPUAdapter?: { prototype: GPUAdapter } }).GPUAdapter?.prototype;
  if (!proto) return;
  const requestDevice = proto.requestDevice;
  let newest: GPUDevice | null = null;
  proto.requestDevice = async function (this: GPUAdapter, ...args: Parameters<GPUAdapter['requestDevice']>) {
    const device = await requestDevice.apply(this, args);
    newest = device;
    void device.lost.then((info) => {
      if (device === newest) onLost(info.message || info.reason || 'unknown reason');
    });
    return device;
  };
}
