/** Model-range images to 8-bit pixels and PNG (fast-png: pure JS, so Node and the browser agree). */
import { encode } from 'fast-png';
import type { Manifest } from './manifest';

export function toUint8(image: Float32Array, range: readonly [number, number] = [-1, 1]): Uint8Array {
  const [lo, hi] = range;
  const out = new Uint8Array(image.length);
  for (let i = 0; i < image.length; i++) {
    const v = ((image[i]! - lo) / (hi - lo)) * 255;
    out[i] = Math.round(Math.min(255, Math.max(0, v)));
  }
  return out;
}

/** Channel-first [C·H·W] → interleaved [H·W·C] as PNG and canvases want. */
export function interleave(planar: Uint8Array, channels: number, height: number, width: number): Uint8Array {
  if (channels === 1) return planar;
  const out = new Uint8Array(planar.length);
  const plane = height * width;
  for (let c = 0; c < channels; c++)
    for (let p = 0; p < plane; p++) out[p * channels + c] = planar[c * plane + p]!;
  return out;
}

export function encodePng(image: Float32Array, m: Manifest): Uint8Array {
  const { channels, height, width, valueRange } = m.image;
  const data = interleave(toUint8(image, valueRange), channels, height, width);
  return encode({ width, height, data, channels, depth: 8 });
}
