// Chart.js configurations shared by the result views, and their rendering as accessible figures.

export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7A5C00", "#000000"];
export const OBSERVED = PALETTE[0];
export const IMPUTED = PALETTE[1];

const charts = [];

export function clearCharts(container) {
  while (charts.length) charts.pop().destroy();
  container.replaceChildren();
}

/** A figure with a title, the canvas (role img, described) and a text summary for screen readers. */
export function renderChart(container, { title, description, config, tall = false }) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  const box = document.createElement("div");
  box.className = tall ? "chart-box tall" : "chart-box";
  const canvas = document.createElement("canvas");
  canvas.dataset.testid = "chart";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${title}. ${description || ""}`.trim());
  canvas.textContent = description || title;
  box.append(canvas);
  figure.append(caption, box);
  container.append(figure);
  const options = config.options || {};
  charts.push(new window.Chart(canvas, {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...options,
      plugins: { legend: { position: "bottom" }, ...(options.plugins || {}) } },
  }));
}

/** Add a line to the `index`-th chart drawn (e.g. another method over the same years). */
export function addLine(index, label, data) {
  const chart = charts[index];
  const colour = PALETTE[(chart.data.datasets.length + 1) % PALETTE.length];
  chart.data.datasets.push({ type: "line", label, data, borderColor: colour, backgroundColor: colour,
    borderDash: [6, 3], pointRadius: 0, borderWidth: 2 });
  chart.update();
}

const round = (value, digits = 3) => (value === null || value === undefined ? "" : Number(value).toPrecision(digits));

/** Horizontal bars of `{name: value}`, largest first, at most `limit`. */
export function barsOf(values, { label, limit = 25, signed = false } = {}) {
  const entries = Object.entries(values || {}).filter(([, v]) => Number.isFinite(v))
    .sort((a, b) => b[1] - a[1]).slice(0, limit);
  return {
    type: "bar",
    data: { labels: entries.map(([name]) => name), datasets: [{ label, data: entries.map(([, v]) => v),
      backgroundColor: entries.map(([, v]) => (signed && v < 0 ? IMPUTED : OBSERVED)), maxBarThickness: 28 }] },
    options: { indexAxis: "y", plugins: { legend: { display: false } },
      scales: { y: { ticks: { autoSkip: false, font: { size: entries.length > 30 ? 9 : 11 } } } } },
  };
}

/** Heatmap of a split-orient matrix `{index, columns, data}` with values in [-1, 1]. */
export function heatmapOf(matrix, label) {
  const points = [];
  matrix.index.forEach((row, i) => matrix.columns.forEach((column, j) => points.push({ x: column, y: row, v: matrix.data[i][j] })));
  const n = Math.max(matrix.columns.length, 1);
  const m = Math.max(matrix.index.length, 1);
  const colour = (v) => {
    const t = Math.max(-1, Math.min(1, Number(v) || 0));
    const [r, g, b] = t >= 0 ? [213, 94, 0] : [0, 114, 178];
    return `rgba(${r}, ${g}, ${b}, ${Math.abs(t).toFixed(2)})`;
  };
  return {
    type: "matrix",
    data: { datasets: [{ label, data: points, backgroundColor: (ctx) => colour((ctx.raw || {}).v),
      borderColor: "#ffffff", borderWidth: 1,
      width: ({ chart }) => ((chart.chartArea || {}).width || 0) / n - 1,
      height: ({ chart }) => ((chart.chartArea || {}).height || 0) / m - 1 }] },
    options: {
      plugins: { legend: { display: false }, tooltip: { callbacks: {
        title: () => "", label: (ctx) => `${ctx.raw.y} × ${ctx.raw.x}: r = ${round(ctx.raw.v)}` } } },
      scales: { x: { type: "category", labels: matrix.columns, offset: true, ticks: { maxRotation: 60, autoSkip: false } },
        y: { type: "category", labels: matrix.index, offset: true, reverse: true } },
    },
  };
}

/** Points `[{x, y, name}]` grouped by cluster, one colour per cluster, the name on hover. */
export function clusterScatterOf(points, { x, y }) {
  const clusters = [...new Set(points.map((p) => p.cluster))].sort((a, b) => a - b);
  return {
    type: "scatter",
    data: { datasets: clusters.map((cluster, i) => ({ label: `Cluster ${cluster}`,
      data: points.filter((p) => p.cluster === cluster), backgroundColor: PALETTE[i % PALETTE.length],
      pointStyle: ["circle", "triangle", "rect", "rectRot", "star", "cross"][i % 6], pointRadius: 5 })) },
    options: { plugins: { tooltip: { callbacks: { label: (ctx) => `${ctx.raw.name}: (${round(ctx.raw.x)}, ${round(ctx.raw.y)})` } } },
      scales: { x: { title: { display: true, text: x } }, y: { title: { display: true, text: y } } } },
  };
}
