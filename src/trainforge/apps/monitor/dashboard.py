"""The dashboard page: plain HTML and JavaScript, no external resources.

It polls `GET /v1/status` every second and draws, per topic, the negative share of the sliding
window over time on a canvas, with the alerts listed below. The canvas records how many points
it drew in `data-points` (what the browser test waits for).
"""

from __future__ import annotations

DASHBOARD_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>trainforge opinion monitor</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  #counters { color: #555; margin-bottom: .8rem; }
  #chart { border: 1px solid #ccc; width: 100%; max-width: 960px; height: 320px; }
  #legend span { display: inline-block; margin-right: 1rem; }
  #legend i { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; }
  #alerts li { margin: .2rem 0; color: #a40000; }
  #error { color: #a40000; }
</style>
</head>
<body>
<h1>Opinion monitor: negative share per topic</h1>
<div id="counters">waiting for data&hellip;</div>
<canvas id="chart" width="960" height="320" data-points="0"></canvas>
<div id="legend"></div>
<h2>Alerts</h2>
<ul id="alerts"><li class="none">none yet</li></ul>
<div id="error"></div>
<script>
"use strict";
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

function draw(topics) {
  const canvas = document.getElementById("chart");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 44, bottom = 24, top = 10, right = 10;
  ctx.clearRect(0, 0, w, h);
  let t0 = Infinity, t1 = -Infinity;
  for (const name in topics) {
    for (const p of topics[name].series) { t0 = Math.min(t0, p.t); t1 = Math.max(t1, p.t); }
  }
  ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#555"; ctx.font = "11px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = top + (h - top - bottom) * (1 - i / 4);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w - right, y); ctx.stroke();
    ctx.fillText((i * 25) + "%", 8, y + 4);
  }
  if (!isFinite(t0)) { canvas.dataset.points = "0"; return; }
  const span = Math.max(t1 - t0, 1);
  const x = t => left + (w - left - right) * (t - t0) / span;
  const y = s => top + (h - top - bottom) * (1 - s);
  ctx.fillText(new Date(t0 * 1000).toISOString().slice(11, 19), left, h - 6);
  ctx.fillText(new Date(t1 * 1000).toISOString().slice(11, 19), w - right - 50, h - 6);
  const legend = [];
  let points = 0;
  Object.keys(topics).forEach((name, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const series = topics[name].series;
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 2;
    ctx.beginPath();
    series.forEach((p, j) => {
      if (j) ctx.lineTo(x(p.t), y(p.share)); else ctx.moveTo(x(p.t), y(p.share));
    });
    ctx.stroke();
    for (const p of series) { ctx.fillRect(x(p.t) - 2, y(p.share) - 2, 4, 4); points++; }
    legend.push('<span><i style="background:' + colour + '"></i>' + escape(name) + '</span>');
  });
  canvas.dataset.points = String(points);
  document.getElementById("legend").innerHTML = legend.join("");
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;"}[c]));
}

function showAlerts(alerts) {
  if (!alerts.length) return;
  document.getElementById("alerts").innerHTML = alerts.slice().reverse().map(a =>
    '<li class="alert">' + escape(a.time) + ' &mdash; topic <b>' + escape(a.topic) +
    '</b>: negative share ' + (100 * a.negative_share).toFixed(1) + '% (baseline ' +
    (100 * a.baseline_mean).toFixed(1) + '%, ' + a.count + ' lines)</li>').join("");
}

async function poll() {
  try {
    const response = await fetch("v1/status", {cache: "no-store"});
    if (!response.ok) throw new Error("GET /v1/status answered " + response.status);
    const status = await response.json();
    const c = status.counters;
    document.getElementById("counters").textContent = c.lines + " lines, " + c.valid +
      " classified, " + c.malformed + " malformed, " + c.alerts + " alerts" +
      (status.now ? "; stream time " + status.now : "");
    draw(status.topics);
    showAlerts(status.alerts);
    document.getElementById("error").textContent = "";
  } catch (err) {
    document.getElementById("error").textContent = String(err);
  }
}
poll();
setInterval(poll, 1000);
</script>
</body>
</html>
"""
