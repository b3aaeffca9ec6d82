// The chainrule playground page: one session per tab; the server trains, this draws.
"use strict";

const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const DROPOUTS = [0, 0.1, 0.2, 0.3, 0.5];
const NEG = [245, 147, 34]; // class 0, negative weights
const POS = [8, 119, 189]; // class 1, positive weights
const MID = [232, 234, 235];
const POLL_PLAYING_MS = 100; // at most 10 state requests a second while training
const POLL_IDLE_MS = 1000;

const $ = (id) => document.getElementById(id);
let options = null;
let sessionId = null;
let state = null;
let shape = ""; // the drawn network's features and layers; rebuilt when it changes

// ------------------------------------------------------------------ colours
function mix(a, b, t) {
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t));
}
function colour(v) { // v in [-1, 1]
  v = Math.max(-1, Math.min(1, v));
  return v < 0 ? mix(MID, NEG, -v) : mix(MID, POS, v);
}
const PALETTE = Array.from({ length: 256 }, (_, level) => colour(level / 127.5 - 1));
function css(rgb) {
  return `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
}

// ------------------------------------------------------------------ talking to the server
function showStatus(text) {
  $("status").textContent = text;
}
async function api(path, body, method) {
  const init = { method: method || (body === undefined ? "GET" : "POST") };
  if (body !== undefined && body !== null) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    showStatus(`${data.error || response.statusText}`);
    throw new Error(data.error || response.statusText);
  }
  showStatus("");
  return data;
}
async function changeSettings(fields) {
  render(await api(`/api/sessions/${sessionId}/settings`, fields));
}
async function act(action) {
  render(await api(`/api/sessions/${sessionId}/${action}`, null, "POST"));
}

async function poll() {
  try {
    const data = await api(`/api/sessions/${sessionId}/state?since=${state.version}`);
    if (data.changed !== false) render(data);
  } catch (error) {
    if (String(error).includes("no such session")) return restart();
  }
  setTimeout(poll, state.playing ? POLL_PLAYING_MS : POLL_IDLE_MS);
}
async function restart() { // the session expired (the tab slept): start a new one, same settings
  const settings = state ? state.settings : {};
  render(await api("/api/sessions", settings));
  sessionId = state.id;
  setTimeout(poll, POLL_IDLE_MS);
}

// ------------------------------------------------------------------ controls
function fillSelect(id, values, label) {
  const select = $(id);
  select.innerHTML = "";
  for (const value of values) {
    const option = document.createElement("option");
    option.value = String(value);
    option.textContent = label ? label(value) : String(value);
    select.appendChild(option);
  }
}
function buildControls() {
  fillSelect("lr", LEARNING_RATES);
  fillSelect("activation", options.activations);
  fillSelect("optimizer", options.optimizers);
  fillSelect("regularization", options.regularizations, (v) => (v === "none" ? "None" : v.toUpperCase()));
  fillSelect("reg_rate", REG_RATES);
  fillSelect("dropout", DROPOUTS);
  for (const id of ["lr", "reg_rate", "dropout"]) {
    $(id).addEventListener("change", () => changeSettings({ [id]: Number($(id).value) }));
  }
  for (const id of ["activation", "optimizer", "regularization"]) {
    $(id).addEventListener("change", () => changeSettings({ [id]: $(id).value }));
  }
  const sliders = {
    train_fraction: (v) => v / 100,
    noise: (v) => v / 100,
    batch_size: (v) => v,
  };
  for (const [id, convert] of Object.entries(sliders)) {
    $(id).addEventListener("input", () => { $(`${id}-value`).textContent = $(id).value; });
    $(id).addEventListener("change", () => changeSettings({ [id]: convert(Number($(id).value)) }));
  }
  const datasets = $("datasets");
  for (const name of options.datasets) {
    const button = document.createElement("button");
    button.id = `dataset-${name}`;
    button.textContent = name;
    button.addEventListener("click", () => changeSettings({ dataset: name }));
    datasets.appendChild(button);
  }
  $("seed").addEventListener("change", () => changeSettings({ seed: Number($("seed").value) }));
  $("regenerate").addEventListener("click", () => changeSettings({ seed: state.settings.seed + 1 }));
  $("play").addEventListener("click", () => act(state.playing ? "pause" : "play"));
  $("step").addEventListener("click", () => act("step"));
  $("reset").addEventListener("click", () => act("reset"));
  $("add-layer").addEventListener("click", () => {
    const hidden = state.settings.hidden;
    if (hidden.length < options.max_layers) changeSettings({ hidden: [...hidden, 2] });
  });
  $("remove-layer").addEventListener("click", () => {
    const hidden = state.settings.hidden;
    if (hidden.length > 0) changeSettings({ hidden: hidden.slice(0, -1) });
  });
  $("show-test").addEventListener("change", () => drawSurface());
  window.addEventListener("resize", () => drawLinks());
}

// ------------------------------------------------------------------ drawing
function decode(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
function paintHeatMap(canvas, base64) {
  const size = state.grid.size;
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext("2d");
  const image = context.createImageData(size, size);
  const levels = decode(base64);
  for (let i = 0; i < levels.length; i++) {
    const rgb = PALETTE[levels[i]];
    image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

function unitControls(layer) {
  const box = document.createElement("div");
  box.className = "unit-controls";
  for (const [text, delta] of [["+", 1], ["\u2212", -1]]) {
    const button = document.createElement("button");
    button.textContent = text;
    button.title = delta > 0 ? "add a unit" : "remove a unit";
    button.addEventListener("click", () => {
      const hidden = [...state.settings.hidden];
      const units = hidden[layer] + delta;
      if (units >= 1 && units <= options.max_units) {
        hidden[layer] = units;
        changeSettings({ hidden });
      }
    });
    box.appendChild(button);
  }
  return box;
}
function column(title, controls) {
  const box = document.createElement("div");
  box.className = "column";
  const heading = document.createElement("h3");
  heading.textContent = title;
  box.appendChild(heading);
  const slot = controls || document.createElement("div");
  slot.classList.add("unit-controls");
  box.appendChild(slot);
  return box;
}
function node(id, classes) {
  const box = document.createElement("div");
  box.className = `node ${classes || ""}`;
  box.id = id;
  box.appendChild(document.createElement("canvas"));
  return box;
}
function buildNetwork() {
  const settings = state.settings;
  const columns = $("columns");
  columns.innerHTML = "";
  const features = column("Features");
  for (const name of options.features) {
    const box = node(`feature-${name}`, `feature${settings.features.includes(name) ? "" : " off"}`);
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    box.appendChild(label);
    box.title = `${name}: click to turn it on or off`;
    box.addEventListener("click", () => {
      const on = state.settings.features;
      const next = on.includes(name) ? on.filter((f) => f !== name) : [...on, name];
      if (next.length) changeSettings({ features: next });
    });
    features.appendChild(box);
  }
  columns.appendChild(features);
  settings.hidden.forEach((units, layer) => {
    const box = column(`${units} neuron${units > 1 ? "s" : ""}`, unitControls(layer));
    for (let unit = 0; unit < units; unit++) box.appendChild(node(`neuron-${layer}-${unit}`));
    columns.appendChild(box);
  });
  const output = column("Output");
  for (let k = 0; k < 2; k++) {
    const box = node(`output-${k}`, "output");
    box.title = `the logit of class ${k}`;
    output.appendChild(box);
  }
  columns.appendChild(output);
  $("layer-count").textContent = `${settings.hidden.length} hidden layer${settings.hidden.length === 1 ? "" : "s"}`;
}

function nodeIds() { // the node ids of each column, inputs first
  const s = state.settings;
  return [
    s.features.map((f) => `feature-${f}`),
    ...s.hidden.map((units, layer) => Array.from({ length: units }, (_, j) => `neuron-${layer}-${j}`)),
    ["output-0", "output-1"],
  ];
}
function drawLinks() {
  if (!state) return;
  const svg = $("links");
  const origin = $("network").getBoundingClientRect();
  svg.innerHTML = "";
  const columns = nodeIds();
  const ns = "http://www.w3.org/2000/svg";
  state.weights.forEach((matrix, layer) => {
    matrix.forEach((row, to) => {
      row.forEach((weight, from) => {
        const a = $(columns[layer][from]).getBoundingClientRect();
        const b = $(columns[layer + 1][to]).getBoundingClientRect();
        const x1 = a.right - origin.left, y1 = a.top + a.height / 2 - origin.top;
        const x2 = b.left - origin.left, y2 = b.top + b.height / 2 - origin.top;
        const xm = (x1 + x2) / 2;
        const d = `M${x1},${y1} C${xm},${y1} ${xm},${y2} ${x2},${y2}`;
        const line = document.createElementNS(ns, "path");
        line.setAttribute("d", d);
        line.setAttribute("class", weight === 0 ? "link zero" : "link"); // L1 set it to exactly 0
        line.setAttribute("stroke", css(colour(weight)));
        line.setAttribute("stroke-width", String(0.6 + 1.8 * Math.min(Math.abs(weight), 5)));
        const hit = document.createElementNS(ns, "path");
        hit.setAttribute("d", d);
        hit.setAttribute("class", "hit");
        hit.id = `weight-${layer}-${to}-${from}`;
        hit.dataset.weight = String(weight);
        hit.addEventListener("mousemove", (event) => showWeight(event, layer, to, from));
        hit.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
        svg.appendChild(line);
        svg.appendChild(hit);
      });
    });
  });
}
function nodeName(id) { // "feature-x1" -> "x1", "neuron-0-3" -> "layer 1 unit 4", "output-1" -> "logit 1"
  const parts = id.split("-");
  if (parts[0] === "feature") return parts.slice(1).join("-");
  if (parts[0] === "neuron") return `layer ${Number(parts[1]) + 1} unit ${Number(parts[2]) + 1}`;
  return `logit ${parts[1]}`;
}
function showWeight(event, layer, to, from) {
  const columns = nodeIds();
  const weight = state.weights[layer][to][from];
  const tooltip = $("tooltip");
  tooltip.textContent = `weight ${nodeName(columns[layer][from])} \u2192 ${nodeName(columns[layer + 1][to])}: ${weight === 0 ? "0 (exactly zero)" : weight.toPrecision(3)}`;
  tooltip.dataset.weight = String(weight);
  tooltip.style.left = `${event.clientX + 12}px`;
  tooltip.style.top = `${event.clientY + 12}px`;
  tooltip.hidden = false;
}

function drawCurves() {
  const canvas = $("curves");
  const context = canvas.getContext("2d");
  const { epoch, train, test } = state.curves;
  context.clearRect(0, 0, canvas.width, canvas.height);
  const values = [...train, ...test].filter((v) => v !== null);
  if (!values.length) return;
  const top = Math.max(...values) * 1.05 || 1;
  const last = Math.max(epoch[epoch.length - 1], 1);
  for (const [series, stroke] of [[train, "#999"], [test, "#000"]]) {
    context.beginPath();
    context.strokeStyle = stroke;
    series.forEach((v, i) => {
      if (v === null) return;
      const x = (epoch[i] / last) * (canvas.width - 2) + 1;
      const y = canvas.height - 2 - (v / top) * (canvas.height - 4);
      if (i === 0) context.moveTo(x, y); else context.lineTo(x, y);
    });
    context.stroke();
  }
}
function drawSurface() {
  const canvas = $("surface");
  const context = canvas.getContext("2d");
  const map = paintHeatMap(document.createElement("canvas"), state.output);
  context.imageSmoothingEnabled = true;
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.globalAlpha = 0.7; // lighter than the points drawn on it
  context.drawImage(map, 0, 0, canvas.width, canvas.height);
  context.globalAlpha = 1;
  const extent = state.grid.extent;
  const toPixel = (v, flip) => ((flip ? extent - v : v + extent) / (2 * extent)) * canvas.width;
  const roles = $("show-test").checked ? ["train", "test"] : ["train"];
  for (const role of roles) {
    context.strokeStyle = role === "train" ? "#fff" : "#000";
    for (const [x1, x2, label] of state.points[role]) {
      context.beginPath();
      context.arc(toPixel(x1, false), toPixel(x2, true), 3, 0, 2 * Math.PI);
      context.fillStyle = css(label ? POS : NEG);
      context.fill();
      context.stroke();
    }
  }
}
function drawDoctor() {
  const panel = $("doctor");
  panel.innerHTML = "";
  if (!state.doctor.length) {
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = state.epoch ? "The doctor found nothing wrong so far." : "Findings appear once the network trains.";
    panel.appendChild(note);
    return;
  }
  for (const finding of state.doctor) {
    const box = document.createElement("div");
    box.className = `finding ${finding.severity}`;
    const title = document.createElement("b");
    title.textContent = `[${finding.severity}] ${finding.title}`;
    const evidence = document.createElement("div");
    evidence.textContent = finding.evidence;
    const remedy = document.createElement("div");
    remedy.className = "try";
    remedy.textContent = `Try: ${finding.remedies[0] || ""}`;
    box.append(title, evidence, remedy);
    panel.appendChild(box);
  }
}

function number(v, digits) {
  return v === null || v === undefined ? "-" : v.toFixed(digits);
}
function render(next) {
  if (state && next.id === state.id && next.version < state.version) return; // a late answer
  state = next;
  sessionId = state.id;
  const s = state.settings;
  $("epoch").textContent = String(state.epoch).padStart(6, "0");
  $("play").dataset.playing = String(state.playing);
  $("play").innerHTML = state.playing ? "&#10074;&#10074;" : "&#9654;";
  for (const id of ["lr", "activation", "optimizer", "regularization", "reg_rate", "dropout"]) {
    $(id).value = String(s[id]);
  }
  $("reg_rate").disabled = s.regularization === "none";
  $("train_fraction").value = String(Math.round(s.train_fraction * 100));
  $("noise").value = String(Math.round(s.noise * 100));
  $("batch_size").value = String(s.batch_size);
  $("train_fraction-value").textContent = $("train_fraction").value + "%";
  $("noise-value").textContent = $("noise").value;
  $("batch_size-value").textContent = $("batch_size").value;
  $("seed").value = String(s.seed);
  for (const name of options.datasets) $(`dataset-${name}`).classList.toggle("selected", name === s.dataset);
  for (const kind of ["toml", "py"]) {
    const link = $(`export-${kind}`);
    link.href = `/api/sessions/${state.id}/export.${kind}`;
    link.classList.toggle("disabled", state.epoch === 0);
  }
  const signature = JSON.stringify([s.features, s.hidden]);
  if (signature !== shape) {
    shape = signature;
    buildNetwork();
  }
  state.inputs.forEach((input) => paintHeatMap($(`feature-${input.name}`).querySelector("canvas"), input.map));
  state.neurons.forEach((layer, l) => layer.forEach((unit, j) => {
    const box = $(`neuron-${l}-${j}`);
    paintHeatMap(box.querySelector("canvas"), unit.map);
    box.title = `layer ${l + 1}, unit ${j + 1}: output scaled by ${unit.scale.toPrecision(3)}; bias ${state.biases[l][j].toPrecision(3)}`;
  }));
  state.logits.forEach((logit, k) => paintHeatMap($(`output-${k}`).querySelector("canvas"), logit.map));
  drawLinks();
  $("test-loss").textContent = number(state.last.test_loss, 3);
  $("train-loss").textContent = number(state.last.train_loss, 3);
  $("test-accuracy").textContent = state.last.test_accuracy === null ? "-" : `${(100 * state.last.test_accuracy).toFixed(1)}%`;
  drawCurves();
  drawSurface();
  drawDoctor();
  if (state.message) showStatus(state.message);
  document.body.dataset.ready = "true";
}

async function start() {
  options = await api("/api/options");
  buildControls();
  render(await api("/api/sessions", {}));
  addEventListener("pagehide", () => navigator.sendBeacon(`/api/sessions/${sessionId}/close`));
  setTimeout(poll, POLL_IDLE_MS);
}
start();
