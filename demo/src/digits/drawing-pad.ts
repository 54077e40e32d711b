/**
 * A canvas to draw on with mouse, pen or finger (Pointer Events cover all
 * three; `touch-action: none` keeps the page from scrolling under a finger).
 */

export interface DrawingPad {
  /** Ink as grayscale in [0, 1], one value per canvas pixel (row-major). */
  ink(): Float32Array;
  clear(): void;
  /** Called when a stroke ends. */
  onStroke(listener: () => void): void;
}

/**
 * @example
 * const pad = drawingPad(document.querySelector('canvas')!);
 * pad.onStroke(() => predict(toMnistInput(pad.ink(), 280)));
 */
export function drawingPad(canvas: HTMLCanvasElement): DrawingPad {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (ctx === null) throw new Error('this browser cannot draw on a 2D canvas');
  const listeners: (() => void)[] = [];
  let last: { x: number; y: number } | null = null;
  canvas.style.touchAction = 'none';

  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  const point = (e: PointerEvent) => {
    const r = canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * canvas.width) / r.width, y: ((e.clientY - r.top) * canvas.height) / r.height };
  };
  const line = (to: { x: number; y: number }) => {
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = canvas.width / 14;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo((last ?? to).x, (last ?? to).y);
    ctx.lineTo(to.x + 0.01, to.y);
    ctx.stroke();
    last = to;
  };
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture?.(e.pointerId);
    last = null;
    line(point(e));
  });
  canvas.addEventListener('pointermove', (e) => {
    if (last !== null) line(point(e));
  });
  const end = () => {
    if (last === null) return;
    last = null;
    for (const l of listeners) l();
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  clear();

  return {
    ink() {
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const out = new Float32Array(canvas.width * canvas.height);
      for (let i = 0; i < out.length; i++) out[i] = data[i * 4] / 255;
      return out;
    },
    clear,
    onStroke: (l) => void listeners.push(l),
  };
}

/**
 * Paint a 784-value input on a 28x28 canvas, to show what the model sees.
 *
 * @example
 * showInput(previewCanvas, input);
 */
export function showInput(canvas: HTMLCanvasElement, input: Float32Array): void {
  const ctx = canvas.getContext('2d');
  if (ctx === null) return;
  const image = ctx.createImageData(28, 28);
  input.forEach((v, i) => image.data.set([v * 255, v * 255, v * 255, 255], i * 4));
  ctx.putImageData(image, 0, 0);
}
