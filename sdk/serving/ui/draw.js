// Canvas drawings: the image a model saw with its attributions over it, bars over a series' lags, small line charts.
// Each drawn canvas gets data-drawn="1" and an aria-label saying in words what it shows.

import { cssVar, fmt } from "./dom.js";

const POS = [196, 40, 40];
const NEG = [30, 90, 200];

function dims(nested) {
  const shape = [];
  for (let probe = nested; Array.isArray(probe); probe = probe[0]) shape.push(probe.length);
  return shape;
}

// view: [H][W] or [H][W][C] (values in any range: shown min..max); grid: [rows, cols] over it, units row-major.
export function drawHeatmap(canvas, view, grid, attributions, size = 256) {
  const [rows, cols] = grid;
  const shape = view ? dims(view) : [rows, cols];
  const [height, width] = shape;
  const channels = shape.length > 2 ? shape[2] : 1;
  const flat = view ? view.flat(Infinity).map(Number) : new Array(height * width).fill(0);
  let [lo, hi] = extent(flat);
  if (!(hi > lo)) [lo, hi] = [0, 1];
  const small = document.createElement("canvas");
  small.width = width;
  small.height = height;
  const pixels = small.getContext("2d").createImageData(width, height);
  for (let p = 0; p < width * height; p += 1) {
    for (let c = 0; c < 3; c += 1) {
      const v = flat[p * channels + (channels >= 3 ? c : 0)];
      pixels.data[p * 4 + c] = Math.round((255 * (v - lo)) / (hi - lo));
    }
    pixels.data[p * 4 + 3] = 255;
  }
  small.getContext("2d").putImageData(pixels, 0, 0);

  const scale = Math.max(1, Math.floor(size / Math.max(width, height)));
  canvas.width = width * scale;
  canvas.height = height * scale;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  const strongest = largest(attributions);
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      const a = attributions[r * cols + c];
      if (!a) continue;
      const [red, green, blue] = a > 0 ? POS : NEG;
      ctx.fillStyle = `rgba(${red}, ${green}, ${blue}, ${(0.8 * Math.abs(a)) / strongest})`;
      const x0 = Math.floor((c * canvas.width) / cols);
      const y0 = Math.floor((r * canvas.height) / rows);
      ctx.fillRect(x0, y0, Math.floor(((c + 1) * canvas.width) / cols) - x0, Math.floor(((r + 1) * canvas.height) / rows) - y0);
    }
  }
  canvas.dataset.drawn = "1";
}

// One bar per lag (positive up, red; negative down, blue); the series window as a line above them.
export function drawBars(canvas, units, attributions, view) {
  const width = 520;
  const height = view ? 220 : 160;
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const fg = cssVar("--fg", "#222");
  const muted = cssVar("--muted", "#666");
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  const n = attributions.length;
  const band = view ? 70 : 0;
  if (view) {
    const series = view.flat(Infinity).map(Number);
    const [lo, hi] = extent(series);
    ctx.strokeStyle = cssVar("--accent", "#0b62c4");
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    series.forEach((v, i) => {
      const x = 20 + ((i + 0.5) * (width - 40)) / series.length;
      const y = 8 + (band - 16) * (1 - (hi > lo ? (v - lo) / (hi - lo) : 0.5));
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  const top = band + 8;
  const bottom = height - 18;
  const zero = (top + bottom) / 2;
  const strongest = largest(attributions);
  const slot = (width - 40) / Math.max(n, 1);
  attributions.forEach((a, i) => {
    const h = ((bottom - top) / 2) * (Math.abs(a) / strongest);
    const [red, green, blue] = a >= 0 ? POS : NEG;
    ctx.fillStyle = `rgb(${red}, ${green}, ${blue})`;
    ctx.fillRect(20 + i * slot + slot * 0.15, a >= 0 ? zero - h : zero, Math.max(1, slot * 0.7), h);
  });
  ctx.strokeStyle = muted;
  ctx.beginPath();
  ctx.moveTo(16, zero);
  ctx.lineTo(width - 16, zero);
  ctx.stroke();
  ctx.fillStyle = fg;
  if (n) {
    ctx.fillText(String(units[0]), 20, height - 4);
    const last = String(units[n - 1]);
    ctx.fillText(last, width - 20 - ctx.measureText(last).width, height - 4);
  }
  canvas.dataset.drawn = "1";
}

// A small line chart of the last polls: one line per series (null: no value at that poll).
export function drawSpark(canvas, series) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(120, Math.round((canvas.clientWidth || 200) * ratio));
  const height = Math.round(64 * ratio);
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const known = series.flat().filter((v) => v !== null && Number.isFinite(v));
  if (!known.length) return;
  const [lo0, hi0] = extent(known);
  const lo = Math.min(lo0, 0);
  const span = Math.max(hi0, 0) - lo || 1;
  ctx.strokeStyle = cssVar("--line", "#ccc");
  ctx.lineWidth = ratio;
  ctx.beginPath();
  ctx.moveTo(0, height - 1);
  ctx.lineTo(width, height - 1);
  ctx.stroke();
  const colours = [cssVar("--accent", "#0b62c4"), cssVar("--warn", "#9a5b00")];
  series.forEach((values, s) => {
    ctx.strokeStyle = colours[s % colours.length];
    ctx.lineWidth = 2 * ratio;
    ctx.beginPath();
    let drawing = false;
    values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        drawing = false;
        return;
      }
      const x = values.length > 1 ? (i * (width - 4)) / (values.length - 1) + 2 : width / 2;
      const y = height - 3 - ((v - lo) / span) * (height - 8);
      if (drawing) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      drawing = true;
    });
    ctx.stroke();
  });
  canvas.dataset.drawn = "1";
}

// [min, max] without spreading (a large image would overflow the call stack).
export function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function largest(values) {
  let best = 0;
  for (const v of values) best = Math.max(best, Math.abs(v));
  return best || 1;
}

// "r3c4 +0.21, r4c4 +0.19, ..." : the strongest units, for those who cannot see the picture.
export function strongest(units, attributions, count = 5) {
  return attributions
    .map((a, i) => [a, i])
    .sort((x, y) => Math.abs(y[0]) - Math.abs(x[0]))
    .slice(0, count)
    .filter(([a]) => a !== 0)
    .map(([a, i]) => `${units[i]} ${a > 0 ? "+" : ""}${fmt(a, 3)}`)
    .join(", ");
}
