// Two small inline-SVG charts built by code (no library, no inline styles: colours come
// from classes in style.css).

import { svg } from "./dom.js";
import { className, formatNumber } from "./i18n.js";

const ROW = 14;
const LABEL_W = 110;
const BAR_W = 170;

/** Horizontal bars, one per class: values is [[label, value in 0..1], ...]. */
export function barChart(values, title) {
  const height = values.length * ROW + 4;
  const root = svg("svg", { viewBox: `0 0 ${LABEL_W + BAR_W + 40} ${height}`, role: "img", "aria-label": title, class: "chart chart-bars" });
  root.append(svg("title", {}, title));
  values.forEach(([label, value], i) => {
    const y = i * ROW + 2;
    const v = Number.isFinite(value) ? Math.max(0, Math.min(1, value)) : 0;
    root.append(
      svg("text", { x: LABEL_W - 4, y: y + ROW - 4, "text-anchor": "end", class: "chart-text" }, className(label)),
      svg("rect", { x: LABEL_W, y: y + 2, width: BAR_W, height: ROW - 4, class: "chart-track" }),
      svg("rect", { x: LABEL_W, y: y + 2, width: (BAR_W * v).toFixed(1), height: ROW - 4, class: "chart-bar" }),
      svg("text", { x: LABEL_W + BAR_W + 4, y: y + ROW - 4, class: "chart-text" }, Number.isFinite(value) ? formatNumber(value, 2) : "–"),
    );
  });
  return root;
}

/** A line through the losses of each epoch, with the first and last values written. */
export function lineChart(values, title) {
  const w = 320;
  const h = 120;
  const pad = { l: 44, r: 8, t: 8, b: 20 };
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const x = (i) => pad.l + (values.length === 1 ? 0 : (i * (w - pad.l - pad.r)) / (values.length - 1));
  const y = (v) => pad.t + (1 - (v - min) / span) * (h - pad.t - pad.b);
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": title, class: "chart chart-line" });
  root.append(
    svg("title", {}, title),
    svg("line", { x1: pad.l, y1: h - pad.b, x2: w - pad.r, y2: h - pad.b, class: "chart-axis" }),
    svg("line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: h - pad.b, class: "chart-axis" }),
    svg("text", { x: pad.l - 4, y: pad.t + 8, "text-anchor": "end", class: "chart-text" }, formatNumber(max, 3)),
    svg("text", { x: pad.l - 4, y: h - pad.b, "text-anchor": "end", class: "chart-text" }, formatNumber(min, 3)),
    svg("text", { x: pad.l, y: h - 4, class: "chart-text" }, "1"),
    svg("text", { x: w - pad.r, y: h - 4, "text-anchor": "end", class: "chart-text" }, String(values.length)),
    svg("polyline", { points, class: "chart-path" }),
    ...values.map((v, i) => svg("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.5, class: "chart-dot" })),
  );
  return root;
}
