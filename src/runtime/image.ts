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

/**
 * An image as PNG, each pixel drawn as a scale×scale block (nearest neighbour): a 32×32 sample
 * stays crisp at a size a person can see, where a viewer's smoothing would blur it.
 */
export function encodePng(image: Float32Array, m: Manifest, scale = 1): Uint8Array {
  const { channels, height, width, valueRange } = m.image;
  const data = upscale(
    interleave(toUint8(image, valueRange), channels, height, width),
    channels,
    width,
    scale,
  );
  return encode({ width: width * scale, height: height * scale, data, channels, depth: 8 });
}

/** The whole-number scale that brings a model's image to at least `minSide` pixels a side. */
export function pngScale(m: Manifest, minSide = 256): number {
  return Math.max(1, Math.ceil(minSide / Math.min(m.image.width, m.image.height)));
}

/** Interleaved pixels [H·W·C], each repeated scale×scale times. */
function upscale(pixels: Uint8Array, channels: number, width: number, scale: number): Uint8Array {
  if (scale === 1) return pixels;
  const height = pixels.length / (channels * width);
  const out = new Uint8Array(pixels.length * scale * scale);
  const rowOut = width * scale * channels;
  for (let y = 0; y < height * scale; y++) {
    const src = Math.floor(y / scale) * width * channels;
    for (let x = 0; x < width * scale; x++) {
      const from = src + Math.floor(x / scale) * channels;
      out.set(pixels.subarray(from, from + channels), y * rowOut + x * channels);
    }
  }
  return out;
}
