// @ts-check
// Tiny line charts for table cells. Dozens of them redraw every second, so they are plain
// canvas strokes rather than full charts: no axes, no legend, scaled to their own maximum.

const WIDTH = 72;
const HEIGHT = 20;
/** Points shown: the last minute. */
const POINTS = 60;

/** A canvas sized for the device's pixel ratio, so lines stay sharp. */
export function sparkCanvas(/** @type {string} */ label) {
  const canvas = document.createElement('canvas');
  const ratio = Math.min(window.devicePixelRatio || 1, 3);
  canvas.width = WIDTH * ratio;
  canvas.height = HEIGHT * ratio;
  canvas.className = 'spark';
  // Decorative next to the number it illustrates, but named for screen-reader users who meet it.
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  return canvas;
}

/** Colours by the class of the cell holding the canvas (spark-up, spark-down...). */
/** @type {Map<string, string>} */
const colors = new Map();
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => colors.clear());

/**
 * The canvas's CSS colour, read once per kind: getComputedStyle for each of dozens of canvases
 * would force a style recalculation each time while the event log keeps changing the DOM.
 * @param {HTMLCanvasElement} canvas
 */
function colorOf(canvas) {
  const key = canvas.parentElement?.className ?? '';
  let color = colors.get(key);
  if (color === undefined) {
    color = getComputedStyle(canvas).color || '#36c';
    if (canvas.isConnected) colors.set(key, color);
  }
  return color;
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {number[]} values oldest first
 */
export function drawSpark(canvas, values) {
  const ctx = canvas.getContext('2d');
  if (ctx === null) return;
  const w = canvas.width;
  const hgt = canvas.height;
  ctx.clearRect(0, 0, w, hgt);
  const points = values.slice(-POINTS);
  if (points.length < 2) return;
  const max = Math.max(...points);
  const color = colorOf(canvas);
  const pad = Math.max(1, hgt * 0.08);
  // Right-aligned: the newest point is always at the right edge, as time flows left.
  const x = (/** @type {number} */ i) => ((POINTS - points.length + i) / (POINTS - 1)) * w;
  const y = (/** @type {number} */ v) => max <= 0 ? hgt - pad : hgt - pad - (v / max) * (hgt - 2 * pad);
  ctx.beginPath();
  points.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
  ctx.strokeStyle = color;
  ctx.lineWidth = Math.max(1, canvas.width / WIDTH);
  ctx.stroke();
  ctx.lineTo(x(points.length - 1), hgt);
  ctx.lineTo(x(0), hgt);
  ctx.closePath();
  ctx.globalAlpha = 0.18;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
}
