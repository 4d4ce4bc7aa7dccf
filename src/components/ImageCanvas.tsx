import { useEffect, useRef } from 'react';
import { toUint8 } from '../runtime/image';

interface Props {
  image: Float32Array | null;
  channels: number;
  height: number;
  width: number;
  /** The manifest's value range (the {...manifest.image} spread carries it). */
  valueRange: readonly [number, number];
  label: string;
  testId?: string;
  /** Show |a − b| instead: a heat map of where two images differ. */
  diffWith?: Float32Array | null;
}

/** A model-range image [C·H·W] drawn pixel for pixel; CSS scales it up without smoothing. */
export function ImageCanvas(props: Props) {
  const { image, channels, height, width, valueRange, label, testId, diffWith } = props;
  const [lo, hi] = valueRange;
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const ctx = ref.current?.getContext('2d');
    if (!ctx) return;
    const pixels = ctx.createImageData(width, height);
    if (image) {
      const plane = height * width;
      // a difference is drawn from 0 (black) to half the range's span and beyond (white)
      const values = diffWith ? image.map((v, i) => lo + 2 * Math.abs(v - diffWith[i]!)) : image;
      const bytes = toUint8(values, [lo, hi]);
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < 3; c++) pixels.data[p * 4 + c] = bytes[(channels === 1 ? 0 : c) * plane + p]!;
        pixels.data[p * 4 + 3] = 255;
      }
    }
    ctx.putImageData(pixels, 0, 0);
  }, [image, diffWith, channels, height, width, lo, hi]);
  return (
    <canvas
      ref={ref}
      className="image"
      width={width}
      height={height}
      role="img"
      aria-label={label}
      data-testid={testId}
      data-empty={image ? 'false' : 'true'}
    />
  );
}
