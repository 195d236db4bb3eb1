// matnet serve: the drawing pad, the prediction, and every layer of the network as the operation it is.
// Plain JavaScript, no libraries: everything comes from this server's /api/ (see /docs).
"use strict";

const ACTIVATIONS = new Set(["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax"]);
const ACTIVATION_NAMES = { ReLU: "relu", LeakyReLU: "leaky_relu", Sigmoid: "sigmoid", Tanh: "tanh", Softmax: "softmax" };
const PEN = 22;            // stroke width on the 280x280 pad: about two MNIST pixels
const DEBOUNCE_MS = 120;   // a prediction this long after the last change while drawing...
const THROTTLE_MS = 350;   // ...and at least this often during a long stroke

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");

const state = {
  models: [], model: null,     // the list, and the chosen model's details (with its layer table)
  mode: "draw",                // "draw": the strokes; "sample": a test image; "photo": an uploaded file
  strokes: [], current: null,
  sample: null, photo: null,
  weights: new Map(),          // "model/layer" -> {W: {shape, values}, b: ...}
  last: null,                  // the last prediction: outputs by layer name, the input, the probabilities
  marked: null,                // [panel, unit]: the unit whose weights the box shows, outlined in its panel
  timer: null, inFlight: false, again: false, lastSent: 0, predictions: 0,
};

// --- arrays ---------------------------------------------------------------------------------------------------
function decode(array) {
  if (array.base64 !== undefined && array.base64 !== null) {
    const text = atob(array.base64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return { shape: array.shape, values: new Float32Array(bytes.buffer) };
  }
  return { shape: array.shape, values: Float32Array.from(array.data.flat(Infinity)) };
}

function maxAbs(values) {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m || 1;
}

// red for positive, blue for negative, white for zero; t in [-1, 1]
function diverging(t, out, k) {
  t = Math.max(-1, Math.min(1, t));
  if (t >= 0) { out[k] = 255; out[k + 1] = out[k + 2] = Math.round(255 * (1 - t)); }
  else { out[k + 2] = 255; out[k] = out[k + 1] = Math.round(255 * (1 + t)); }
  out[k + 3] = 255;
}

// values (rows x cols, row-major) into a canvas of that many pixels; the CSS sets the size on screen
function paint(canvas, values, rows, cols, { gray = false, scale = null } = {}) {
  canvas.width = cols; canvas.height = rows;
  const c = canvas.getContext("2d");
  const image = c.createImageData(cols, rows);
  const s = scale || maxAbs(values);
  for (let i = 0; i < rows * cols; i++) {
    const v = i < values.length ? values[i] : 0;
    if (gray) {
      const g = Math.round(255 * Math.max(0, Math.min(1, v)));
      image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = g; image.data[4 * i + 3] = 255;
    } else if (i < values.length) {
      diverging(v / s, image.data, 4 * i);
    } else {
      image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = 238; image.data[4 * i + 3] = 255;
    }
  }
  c.putImageData(image, 0, 0);
}

// A vector is a row, as the formula has it: (1, n). One longer than rowWrap(n) units is wrapped into lines of that
// many, each under the last with an empty line between, so that it still reads as one row (the caption says so).
// A row of units to click (z, a) has cells of at least 8 px up to 256 units (longer ones, the cnn's 1568, 4 px); a
// row that is only read (x, b) is drawn half as wide, so that x @ W.T + b = z fits on fewer lines.
const rowWrap = (n) => (n > 256 ? 64 : 32);
const rowCell = (n, compact = false) => Math.max(3, Math.min(24, Math.floor((compact ? 128 : 256) / Math.min(n, rowWrap(n)))));

function paintRow(canvas, values, { compact = false } = {}) {
  const n = values.length, per = Math.min(n, rowWrap(n)), lines = Math.ceil(n / per);
  const width = per, height = 2 * lines - 1;
  canvas.width = width; canvas.height = height;
  const g = canvas.getContext("2d");
  const image = g.createImageData(width, height);   // transparent: the gaps between wrapped lines
  const s = maxAbs(values);
  for (let j = 0; j < n; j++) diverging(values[j] / s, image.data, 4 * (2 * Math.floor(j / per) * width + (j % per)));
  g.putImageData(image, 0, 0);
  const cell = rowCell(n, compact);
  canvas.style.width = `${width * cell}px`;
  canvas.style.height = "auto";
  canvas.dataset.cols = per; canvas.dataset.layout = "row";
}

// the network's input, when it is an image: the 784 values of the row x drawn as the 28x28 image they are
function paintImageRow(canvas, values, side) {
  paint(canvas, values, side, side);
  canvas.style.width = `${side * 4}px`;
  canvas.style.height = "auto";
  canvas.dataset.cols = side; canvas.dataset.layout = "image";
}

const wrapped = (n) => (n > rowWrap(n) ? `wrapped every ${rowWrap(n)}` : "");
const rowCaption = (name, n) => `${name} (1, ${n})` + (wrapped(n) ? `, one row (${wrapped(n)})` : "");
const imageSide = (n) => { const side = Math.round(Math.sqrt(n)); return side * side === n && n >= 64 ? side : 0; };

// W drawn as W.T, the (in, out) matrix the formula multiplies by: in tall, out wide; at most 400 px tall. A matrix
// that would be narrower than MIN_MATRIX px on that scale (the cnn's W.T (1568, 10): 3 px) is widened to it. The
// scale it was drawn at, in words.
const MIN_MATRIX = 60;
const px = (v) => (v >= 1 ? String(Math.round(v * 10) / 10) : v.toPrecision(2));

function paintTransposed(canvas, W) {
  const [out, inp] = W.shape;
  const values = new Float32Array(out * inp);
  for (let i = 0; i < inp; i++) for (let j = 0; j < out; j++) values[i * out + j] = W.values[j * inp + i];
  paint(canvas, values, inp, out);
  const scale = Math.min(8, 400 / inp, 560 / out);
  const width = Math.max(MIN_MATRIX, Math.round(out * scale)), height = Math.max(1, Math.round(inp * scale));
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  if (width > out * scale + 1) {
    return `drawn ${px(width / out)} px a column, ${px(scale)} px a row (widened: at one scale it would be `
      + `${px(out * scale)} px wide)`;
  }
  return `drawn ${px(scale)} px an entry`;
}

// feature maps (C, H, W) as a grid of C tiles with a one-pixel gap, one scale for the whole layer
function paintMaps(canvas, values, shape) {
  const [c, h, w] = shape;
  const per = Math.ceil(Math.sqrt(c));
  const rows = Math.ceil(c / per);
  const width = per * (w + 1) - 1, height = rows * (h + 1) - 1;
  canvas.width = width; canvas.height = height;
  const g = canvas.getContext("2d");
  const image = g.createImageData(width, height);
  image.data.fill(255);
  const s = maxAbs(values);
  for (let f = 0; f < c; f++) {
    const x0 = (f % per) * (w + 1), y0 = Math.floor(f / per) * (h + 1);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) diverging(values[f * h * w + i * w + j] / s, image.data, 4 * ((y0 + i) * width + x0 + j));
    }
  }
  g.putImageData(image, 0, 0);
  canvas.style.width = `${width * Math.max(1, Math.floor(360 / width))}px`;   // at most 100% wide (CSS)
}

function paintBars(canvas, values, highlight = -1) {
  const n = values.length, width = Math.max(n, 300), height = 120;
  canvas.width = width; canvas.height = height;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, width, height);
  const s = maxAbs(values), mid = height / 2, step = width / n;
  g.fillStyle = "#ccc"; g.fillRect(0, mid, width, 1);
  for (let i = 0; i < n; i++) {
    const v = values[i] / s;
    g.fillStyle = i === highlight ? "#000" : v >= 0 ? "#c62828" : "#1e55b3";
    const y = v >= 0 ? mid - v * (mid - 2) : mid;
    g.fillRect(i * step, y, Math.max(1, step - (step > 3 ? 1 : 0)), Math.abs(v) * (mid - 2));
  }
}

const shapeText = (shape) => `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;
const rowText = (shape) => `(1, ${shape.join(", ")})`;
const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(2) : v.toFixed(3));

// --- the API --------------------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (!response.ok) {
    const detail = body && body.detail;
    // FastAPI's 422 is a list of {loc, msg}: said as "lr: Input should be greater than 0"
    const message = typeof detail === "string" ? detail
      : Array.isArray(detail) ? detail.map((e) => `${(e.loc || []).slice(1).join(".") || "input"}: ${e.msg}`).join("; ")
      : detail ? JSON.stringify(detail) : response.statusText;
    throw new Error(message);
  }
  return body;
}

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

async function layerWeights(layer) {
  const key = `${state.model.name}/${layer}`;
  if (!state.weights.has(key)) {
    const found = await api(`/api/models/${encodeURIComponent(state.model.name)}/layers/${encodeURIComponent(layer)}?encoding=base64`);
    const arrays = {};
    for (const [name, array] of Object.entries(found.arrays)) arrays[name] = decode(array);
    state.weights.set(key, arrays);
  }
  return state.weights.get(key);
}

// --- the model ------------------------------------------------------------------------------------------------
async function loadModels() {
  state.models = await api("/api/models");
  document.body.dataset.models = String(state.models.length);
  if (!state.models.length) return false;      // a server that only trains live (the Train view)
  const select = $("model");
  select.replaceChildren();
  for (const m of state.models) {
    const option = document.createElement("option");
    option.value = m.name; option.textContent = `${m.name} (${m.kind})`;
    select.appendChild(option);
  }
  await chooseModel(state.models[0].name);
  return true;
}

async function chooseModel(name) {
  document.body.dataset.state = "loading";
  state.model = await api(`/api/models/${encodeURIComponent(name)}`);
  state.last = null;
  clearNumber();
  const m = state.model;
  const accuracy = m.test_accuracy == null ? "" : `, test accuracy ${(100 * m.test_accuracy).toFixed(2)}%`;
  $("model-info").textContent = `${m.kind}, ${m.parameters.toLocaleString("en")} parameters${accuracy}`;
  $("seen-caption").textContent = `x (28, 28) \u2192 ${rowText(m.input_shape)}, values in [0, 1]`;
  $("explain-toggle").hidden = !m.explainable;
  if (!m.explainable) $("explain").checked = false;
  buildBars(m.classes);
  buildPanels(m.layers);
  for (const panel of state.panels) if (panel.W) await paintWeights(panel);
  document.body.dataset.state = "idle";
  if (hasInput()) predictNow(); else resetOutputs();
}

// --- the panels: one per layer (an activation right after a Dense layer is drawn inside its panel) ------------
function figure(parent, caption, cls = "") {
  const fig = document.createElement("figure");
  if (cls) fig.className = cls;
  const canvas = document.createElement("canvas");
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  fig.append(canvas, cap);
  parent.appendChild(fig);
  return { fig, canvas, cap };
}

function symbol(parent, text) {
  const span = document.createElement("span");
  span.className = "sym"; span.textContent = text;
  parent.appendChild(span);
}

// an operator and the operand after it, kept on one line ("@ W.T", "+ b", "= z"): on a narrow screen a line breaks
// before an operator, never between it and its operand
function term(parent, text) {
  const span = document.createElement("span");
  span.className = "term";
  symbol(span, text);
  parent.appendChild(span);
  return span;
}

// class names under a row of one cell per class (z of the last layer, p), each as wide as a cell
function labelCells(fig, classes) {
  const labels = document.createElement("div");
  labels.className = "labels";
  labels.style.gridTemplateColumns = `repeat(${classes.length}, minmax(0, 1fr))`;
  labels.style.width = `${classes.length * rowCell(classes.length)}px`;   // the row's, and shrunk with it (max-width)
  for (const name of classes) {
    const span = document.createElement("span");
    span.textContent = name; span.title = name;     // a class name from the model file: text, never markup
    labels.appendChild(span);
  }
  fig.canvas.after(labels);
}

function buildPanels(rows) {
  const root = $("layers");
  root.replaceChildren();
  state.panels = []; state.marked = null;
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k];
    const previous = state.panels[state.panels.length - 1];
    if (ACTIVATIONS.has(row.type) && previous && previous.row.type === "Dense" && !previous.activation
        && row.input === previous.row.name) {
      addActivation(previous, row);
      continue;
    }
    const panel = { row, el: document.createElement("div") };
    panel.el.className = "panel" + (row.inside ? " inside" : "");
    panel.el.dataset.layer = row.name;
    const title = document.createElement("h3");
    const where = row.inside ? `, inside ${row.inside}` : "";
    const kind = document.createElement("small");   // names come from the model file: text, never markup
    kind.textContent = `${row.type}${where}`;
    title.append(`${row.name} `, kind);
    const formula = document.createElement("div");
    formula.className = "formula";
    formula.textContent = row.operation;
    const op = document.createElement("div");
    op.className = "op";
    panel.el.append(title, formula, op);
    panel.op = op; panel.formula = formula;
    if (row.type === "Dense") buildDense(panel);
    else if (row.output_shape.length === 3) {
      panel.el.classList.add("small");
      panel.out = figure(op, "", "maps wide");
      const [c, h, w] = row.output_shape;
      panel.out.cap.textContent = `${shapeText(row.output_shape)}: ${c} feature map${c > 1 ? "s" : ""} of ${h}x${w}, one per channel`;
    } else {
      panel.el.classList.add("small");
      panel.out = figure(op, rowCaption("out", row.output_shape[0]));
    }
    root.appendChild(panel.el);
    state.panels.push(panel);
  }
  finishLast(state.panels[state.panels.length - 1]);
  for (const panel of state.panels) if (panel.row.type === "Dense") noteDead(panel);
}

// The network ends in z, the logits: the classes under z's cells, and p = softmax(z), the Prediction bars
function finishLast(panel) {
  const classes = state.model.classes, caption = $("bars-caption");
  caption.textContent = "";
  if (!panel || panel.row.type !== "Dense" || panel.row.output_shape[0] !== classes.length || classes.length > 32) return;
  labelCells(panel.z, classes);
  if (panel.activation) {
    if (panel.activation.type === "Softmax") labelCells(panel.a, classes);
    return;
  }
  panel.p = figure(term(panel.op, "\u2192 softmax \u2192"), `p (1, ${classes.length}) = softmax(z), `);
  panel.p.fig.className = "probabilities";
  labelCells(panel.p, classes);
  const link = document.createElement("a");
  link.href = "#prediction-panel"; link.textContent = "the Prediction bars";
  panel.p.cap.append(link);
  panel.formula.textContent = `${panel.row.operation},   p = softmax(z)`;
  caption.textContent = `p = softmax(z) of ${panel.row.name}, the last layer (Layer by layer)`;
}

const listed = (units) => (units.length <= 12 ? units.join(", ") : `${units.slice(0, 12).join(", ")} and ${units.length - 12} more`);

// Dead ReLU units (the server measured them: 0 for every one of N training images): the columns of this W.T
// that are such units, and the rows that take their (always 0) output. Said, and whether they are drawn white.
function noteDead(panel) {
  const dead = state.model.dead_units;
  if (!dead) return;
  const own = panel.activation && panel.activation.type === "ReLU" ? dead.units[panel.activation.name] : null;
  let source = panel.row.input;       // through a Dropout (it passes x on unchanged at inference) to the ReLU
  for (let row; (row = state.model.layers.find((r) => r.name === source)) && row.type === "Dropout";) source = row.input;
  const fed = dead.units[source];
  const where = `0 for every one of ${dead.images.toLocaleString("en")} ${dead.dataset} training images`;
  for (const [units, axis, relu] of [[own, "columns", panel.activation && panel.activation.name], [fed, "rows", source]]) {
    if (!units || !units.length) continue;
    const note = document.createElement("p");
    note.className = "note dead"; note.dataset.axis = axis; note.dataset.units = units.join(",");
    const one = units.length === 1, them = one ? "it" : "they";
    note.textContent = axis === "columns"
      ? `Dead ReLU unit${one ? "" : "s"}: W.T's column${one ? "" : "s"} ${listed(units)} ${one ? "is a unit" : "are units"} `
        + `of ${relu} that ${one ? "is" : "are"} ${where}; ${them} pass${one ? "es" : ""} nothing on, and ${one ? "its" : "their"} `
        + "weights get no gradient."
      : `W.T's row${one ? "" : "s"} ${listed(units)} take${one ? "s" : ""} ${relu}'s dead unit${one ? "" : "s"} (${where}): `
        + `${them} add${one ? "s" : ""} nothing to z.`;
    panel.el.appendChild(note);
    (panel.deadNotes = panel.deadNotes || []).push([note, axis, units]);
  }
}

// whether the dead units' columns (rows) of W.T are drawn white: every weight under 2% of the matrix's largest
function whiteDead(panel, W) {
  const [out, inp] = W.shape, s = maxAbs(W.values);
  for (const [note, axis, units] of panel.deadNotes || []) {
    const white = units.every((u) => {
      for (let k = 0; k < (axis === "columns" ? inp : out); k++) {
        const v = axis === "columns" ? W.values[u * inp + k] : W.values[k * inp + u];
        if (Math.abs(v) > 0.02 * s) return false;
      }
      return true;
    });
    note.dataset.white = String(white);
    if (white) note.append(units.length === 1 ? ` It is the white ${axis.slice(0, -1)} of W.T (its weights are about 0).`
      : ` They are the white ${axis} of W.T (their weights are about 0).`);
  }
}

function buildDense(panel) {
  const row = panel.row, op = panel.op;
  const [out] = row.output_shape, [inp] = row.input_shape;
  const side = row.input === "input" ? imageSide(inp) : 0;
  panel.x = figure(op, side ? `x (1, ${inp}), the ${side}x${side} image as one row` : rowCaption("x", inp));
  panel.W = figure(term(op, "@"), `W.T ${shapeText([inp, out])}: column j is unit j's weights (W is `
    + `${shapeText([out, inp])}); click a column`);
  panel.W.canvas.className = "matrix units";
  panel.W.fig.className = "matrix";
  panel.W.scale = document.createElement("span");
  panel.W.scale.className = "scale";
  panel.W.cap.append("; ", panel.W.scale);
  panel.W.canvas.addEventListener("click", (event) => {
    if (!state.last) return;
    const [fx] = where(panel.W.canvas, event);
    const j = Math.floor(fx * out);
    if (j >= 0 && j < out) showUnit(panel, j);
  });
  panel.b = figure(term(op, "+"), `b ${shapeText([out])}, added to each row` + (wrapped(out) ? `; ${wrapped(out)}` : ""));
  panel.z = figure(term(op, "="), rowCaption("z", out));
  panel.z.canvas.classList.add("units");
  panel.z.canvas.addEventListener("click", (event) => clickUnit(panel, panel.z.canvas, event));
}

function addActivation(panel, row) {
  const name = ACTIVATION_NAMES[row.type] || row.type.toLowerCase();
  panel.activation = row;
  panel.a = figure(term(panel.op, `\u2192 ${name} \u2192`), `${rowCaption(`a = ${name}(z)`, row.output_shape[0])}  [${row.name}]`);
  panel.a.fig.dataset.layer = row.name;
  panel.a.canvas.classList.add("units");
  panel.a.canvas.addEventListener("click", (event) => clickUnit(panel, panel.a.canvas, event));
  panel.formula.textContent = `${panel.row.operation},   a = ${name}(z)`;
}

// W and b are known before any input: drawn as soon as the panels are
async function paintWeights(panel) {
  if (panel.W.painted) return;
  const weights = await layerWeights(panel.row.name);
  panel.W.scale.textContent = paintTransposed(panel.W.canvas, weights.W);
  paintRow(panel.b.canvas, weights.b.values, { compact: true });
  whiteDead(panel, weights.W);
  panel.W.painted = true;
  panel.W.fig.dataset.rendered = "1";
}

function inputOf(row) {
  if (row.input === "input") return state.last.input;
  return state.last.outputs.get(row.input);
}

async function renderPanels() {
  for (const panel of state.panels) {
    const row = panel.row;
    const out = state.last.outputs.get(row.name);
    if (!out) continue;
    if (row.type === "Dense") {
      const x = inputOf(row);
      const side = row.input === "input" ? imageSide(x.values.length) : 0;
      if (side) paintImageRow(panel.x.canvas, x.values, side); else paintRow(panel.x.canvas, x.values, { compact: true });
      paintRow(panel.z.canvas, out.values);
      if (panel.a) {
        paintRow(panel.a.canvas, state.last.outputs.get(panel.activation.name).values);
        panel.a.fig.dataset.rendered = "1";
      }
      if (panel.p) paintRow(panel.p.canvas, state.last.probabilities);
      await paintWeights(panel);
    } else if (out.shape.length === 3) {
      paintMaps(panel.out.canvas, out.values, out.shape);
    } else {
      paintRow(panel.out.canvas, out.values);
    }
    panel.el.dataset.rendered = "1";
  }
  if (state.marked) markUnit(...state.marked);
}

// --- a unit's incoming weights ----------------------------------------------------------------------------------
// where a click fell on a canvas, as fractions of its drawing (inside the border): [0, 1) each way
function where(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  return [(event.clientX - rect.left - canvas.clientLeft) / canvas.clientWidth,
    (event.clientY - rect.top - canvas.clientTop) / canvas.clientHeight];
}

async function clickUnit(panel, canvas, event) {
  if (!state.last) return;
  const [fx, fy] = where(canvas, event);
  const cols = Number(canvas.dataset.cols);
  const col = Math.floor(fx * cols);
  const y = Math.floor(fy * canvas.height);
  if (canvas.dataset.layout === "row" && y % 2) return;      // the gap between two wrapped lines
  const j = (canvas.dataset.layout === "row" ? y / 2 : y) * cols + col;
  const row = panel.row;
  if (j < 0 || j >= row.output_shape[0]) return;
  await showUnit(panel, j);
}

async function showUnit(panel, j) {
  const row = panel.row;
  const weights = await layerWeights(row.name);
  const [, inp] = weights.W.shape;
  const w = weights.W.values.subarray(j * inp, (j + 1) * inp);
  const z = state.last.outputs.get(row.name).values[j];
  const b = weights.b.values[j];
  let text = `z = x @ W[${j}] + b[${j}] = ${fmt(z)}   (b[${j}] = ${fmt(b)})`;
  if (panel.activation) {
    const a = state.last.outputs.get(panel.activation.name).values[j];
    text += `\noutput a = ${ACTIVATION_NAMES[panel.activation.type] || panel.activation.type}(z) = ${fmt(a)}`;
  }
  $("unit-title").textContent = `${row.name}, unit ${j}`;
  $("unit-values").textContent = text;
  $("unit-values").style.whiteSpace = "pre-wrap";
  const canvas = $("unit-weights");
  if (row.input === "input" && inp === 784) {
    paint(canvas, w, 28, 28);
    canvas.style.imageRendering = "pixelated";
    $("unit-caption").textContent = `W[${j}]: the ${inp} incoming weights as a 28x28 image (red: ink there raises z, blue: lowers it)`;
  } else {
    paintBars(canvas, w);
    $("unit-caption").textContent = `W[${j}]: one bar per input unit of ${row.input} (${inp} in all)`;
  }
  $("unit").hidden = false;
  $("unit").dataset.unit = `${row.name}:${j}`;
  markUnit(panel, j);
}

// the unit shown in the box, outlined where it is drawn: its cell of z (and a), its column of W.T
function markUnit(panel, j) {
  unmark();
  state.marked = [panel, j];
  panel.el.dataset.unit = String(j);
  const out = panel.row.output_shape[0];
  for (const fig of [panel.z, panel.a, panel.W]) {
    if (!fig || !fig.canvas.width) continue;
    const c = fig.canvas, w = c.clientWidth, h = c.clientHeight, mark = document.createElement("div");
    mark.className = "mark";
    let box;
    if (fig === panel.W) box = [j * w / out, 0, w / out, h];
    else {
      const per = Number(c.dataset.cols), cell = w / per;
      box = [(j % per) * cell, 2 * Math.floor(j / per) * cell, cell, cell];
    }
    const [left, top, width, height] = box;
    Object.assign(mark.style, { left: `${c.offsetLeft + c.clientLeft + left}px`, top: `${c.offsetTop + c.clientTop + top}px`,
      width: `${width}px`, height: `${height}px` });
    fig.fig.appendChild(mark);
  }
}

function unmark() {
  for (const mark of document.querySelectorAll("#layers .mark")) mark.remove();
  for (const panel of state.panels || []) delete panel.el.dataset.unit;
  state.marked = null;
}

// --- the prediction -------------------------------------------------------------------------------------------
function buildBars(classes) {
  const bars = $("bars");
  bars.replaceChildren();
  classes.forEach((name, k) => {
    const bar = document.createElement("div");
    bar.className = "bar"; bar.dataset.class = name; bar.dataset.index = k;
    const [label, track, fill, pct] = ["name", "track", "fill", "pct"].map((cls) => {
      const span = document.createElement("span");
      span.className = cls;
      return span;
    });
    label.textContent = name;            // a class name from the model file: text, never markup
    track.appendChild(fill);
    bar.append(label, track, pct);
    bars.appendChild(bar);
  });
}

function clearVerdict() {
  state.last = null;
  $("unit").hidden = true;
  unmark();
  $("label").textContent = "\u2013";
  $("confidence").textContent = "";
  for (const bar of document.querySelectorAll(".bar")) {
    bar.classList.remove("best");
    bar.querySelector(".fill").style.width = "0";
    bar.querySelector(".pct").textContent = "";
    delete bar.dataset.p;
  }
  paint($("seen"), new Float32Array(784), 28, 28, { gray: true });
  $("attribution-figure").hidden = true;
}

function unstale() {
  $("layers").classList.remove("stale");
  $("verdict-note").hidden = true;
  $("layers-note").hidden = true;
}

function resetOutputs() {
  clearVerdict();
  unstale();
  for (const panel of state.panels || []) {
    delete panel.el.dataset.rendered;
    if (panel.a) delete panel.a.fig.dataset.rendered;
  }
  document.body.dataset.state = "idle";
}

// This input could not be read (a photo with no digit, say): nothing on screen may pass for its prediction. The
// verdict is cleared, the layers (still the previous input's) are greyed, and both say why.
function showFailure(message) {
  clearVerdict();
  $("read-number").hidden = true;
  const what = { photo: "photo", sample: "test image", draw: "drawing" }[state.mode];
  $("verdict-note").textContent = `No prediction for this ${what}: ${message}`;
  $("verdict-note").hidden = false;
  $("layers-note").textContent = `Greyed: these layers show the previous input, not this ${what} (no prediction: `
    + `${message}).`;
  $("layers-note").hidden = !document.querySelector("#layers [data-rendered]");
  $("layers").classList.add("stale");
  document.body.dataset.shown = "none";
}

function render(result) {
  const input = decode(result.input);
  const outputs = new Map();
  for (const layer of result.layers) outputs.set(layer.name, decode(layer.output));
  state.last = { input, outputs, probabilities: result.probabilities };
  unstale();
  document.body.dataset.shown = state.mode;     // what the panels now show: "draw", "sample" or "photo"
  paint($("seen"), input.values, 28, 28, { gray: true });
  $("label").textContent = result.label;
  const best = result.probabilities[result.class_index];
  $("confidence").textContent = `${(100 * best).toFixed(1)}% sure`;
  document.querySelectorAll(".bar").forEach((bar, k) => {
    const p = result.probabilities[k];
    bar.dataset.p = String(p);
    bar.classList.toggle("best", k === result.class_index);
    bar.querySelector(".fill").style.width = `${(100 * p).toFixed(2)}%`;
    bar.querySelector(".pct").textContent = `${(100 * p).toFixed(1)}%`;
  });
  if (result.attribution) {
    const a = decode(result.attribution);
    paint($("attribution"), a.values, 28, 28);
    $("attribution-class").textContent = result.label;
    $("attribution-figure").hidden = false;
  } else {
    $("attribution-figure").hidden = true;
  }
}

function hasInput() {
  return (state.mode === "draw" && state.strokes.length > 0) || (state.mode === "sample" && state.sample)
    || (state.mode === "photo" && state.photo);
}

async function body() {
  if (state.mode === "sample") return [JSON.stringify({ image: state.sample.image }), "application/json"];
  if (state.mode === "photo") return [state.photo, state.photo.type || "application/octet-stream"];
  const blob = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  return [blob, "image/png"];
}

function schedule() {
  clearTimeout(state.timer);
  if (!state.inFlight && performance.now() - state.lastSent > THROTTLE_MS) { predictNow(); return; }
  state.timer = setTimeout(predictNow, DEBOUNCE_MS);
}

async function predictNow() {
  clearTimeout(state.timer);
  if (state.inFlight) { state.again = true; return; }
  if (!state.model) return;
  if (!hasInput()) { resetOutputs(); return; }
  state.inFlight = true; state.again = false; state.lastSent = performance.now();
  document.body.dataset.state = "busy";
  try {
    const [data, type] = await body();
    const explain = state.model.explainable && $("explain").checked;
    const url = `/api/predict?model=${encodeURIComponent(state.model.name)}&layers=true&encoding=base64`
      + (explain ? "&explain=true" : "");
    const result = await api(url, { method: "POST", headers: { "Content-Type": type }, body: data });
    if (hasInput() && result.model === state.model.name) {   // not cleared, nor another model chosen, meanwhile
      render(result);
      await renderPanels();
      state.predictions += 1;
      document.body.dataset.predictions = String(state.predictions);
      // the warning that a photo holds several digit-sized marks: it may be read as a number instead
      $("read-number").hidden = !(result.warning && state.mode === "photo");
      setStatus(result.warning ? `Warning: ${result.warning}.`
        : state.mode === "draw" ? "Keep drawing, or clear and try another digit."
        : state.mode === "sample" ? "A test image: draw on the pad to start your own." : "Your photo, made MNIST-like.");
    }
    document.body.dataset.state = state.again ? "busy" : "done";   // "done": what is shown is the latest input's
  } catch (err) {
    setStatus(err.message, true);
    if (!state.again) showFailure(err.message);
    document.body.dataset.state = state.again ? "busy" : "error";
  } finally {
    state.inFlight = false;
    if (state.again) predictNow();
  }
}

// --- drawing ----------------------------------------------------------------------------------------------------
function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
}

function strokePath(points) {
  ctx.strokeStyle = "#000"; ctx.fillStyle = "#000";
  ctx.lineWidth = PEN; ctx.lineCap = "round"; ctx.lineJoin = "round";
  if (points.length === 1) {
    ctx.beginPath(); ctx.arc(points[0][0], points[0][1], PEN / 2, 0, 2 * Math.PI); ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(points[0][0], points[0][1]);
  for (const [x, y] of points.slice(1)) ctx.lineTo(x, y);
  ctx.stroke();
}

function redraw() {
  clearPad();
  for (const stroke of state.strokes) strokePath(stroke);
}

function toDrawing() {
  if (state.mode !== "draw") {
    state.mode = "draw"; state.sample = null; state.photo = null; state.strokes = [];
    $("true-label").hidden = true;
    clearNumber();
    clearPad();
  }
}

function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [((event.clientX - rect.left) / rect.width) * pad.width, ((event.clientY - rect.top) / rect.height) * pad.height];
}

pad.addEventListener("pointerdown", (event) => {
  if (event.button !== undefined && event.button > 0) return;
  event.preventDefault();
  toDrawing();
  pad.setPointerCapture(event.pointerId);
  state.current = [padPoint(event)];
  state.strokes.push(state.current);
  strokePath(state.current);
  schedule();
});

pad.addEventListener("pointermove", (event) => {
  if (!state.current) return;
  event.preventDefault();
  const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  const points = (coalesced.length ? coalesced : [event]).map(padPoint);
  strokePath([state.current[state.current.length - 1], ...points]);
  state.current.push(...points);
  schedule();
});

function endStroke() {
  if (!state.current) return;
  state.current = null;
  predictNow();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function clearAll() {
  state.mode = "draw"; state.strokes = []; state.sample = null; state.photo = null;
  $("true-label").hidden = true;
  clearNumber();
  clearPad();
  resetOutputs();
  setStatus("Draw a digit in the box.");
}

function undo() {
  if (state.mode !== "draw") { clearAll(); return; }
  state.strokes.pop();
  redraw();
  predictNow();
}

$("clear").addEventListener("click", clearAll);
$("undo").addEventListener("click", undo);
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); }
  if (event.key === "Escape") { if (!$("unit").hidden) closeUnit(); else clearAll(); }
});

// --- a test image, and a photo --------------------------------------------------------------------------------
function showImage(values) {   // a 28x28 MNIST image on the pad, dark on white like ink on paper
  const small = document.createElement("canvas");
  const inverted = Float32Array.from(values, (v) => 1 - v);
  paint(small, inverted, 28, 28, { gray: true });
  clearPad();
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, pad.width, pad.height);
}

async function randomDigit({ onArrival = false } = {}) {
  try {
    const sample = await api(`/api/test-images/random?model=${encodeURIComponent(state.model.name)}`);
    if (onArrival && hasInput()) return;     // the user started drawing (or chose a photo) meanwhile
    state.mode = "sample"; state.sample = sample; state.strokes = []; state.photo = null;
    clearNumber();
    showImage(Float32Array.from(sample.image.flat()));
    $("true-label").textContent = `True label: ${sample.label} (test image #${sample.index})`;
    $("true-label").hidden = false;
    predictNow();
  } catch (err) {
    setStatus(err.message, true);
  }
}

$("random").addEventListener("click", () => randomDigit());

// --- a photo of a number: read digit by digit (/api/number), offered beside /api/predict's warning that it
// holds several digit-sized marks. Any other input (an upload, a drawing, a test digit, a model) clears it.
function clearNumber() {
  $("read-number").hidden = true;
  $("number-view").hidden = true;
  $("number-digits").replaceChildren();
  delete document.body.dataset.number;
}

function showNumber(result) {
  $("number").textContent = result.number;
  const digits = $("number-digits");
  digits.replaceChildren();
  for (const digit of result.digits) {       // each as "What the model sees" draws its input: 28x28, gray
    const figure = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.className = "pixels";
    paint(canvas, decode(digit.input).values, 28, 28, { gray: true });
    const caption = document.createElement("figcaption");
    caption.textContent = `${digit.label} (${(100 * digit.probabilities[digit.class_index]).toFixed(1)}%)`;
    figure.append(canvas, caption);
    digits.appendChild(figure);
  }
  $("number-warning").textContent = result.warning ? `Warning: ${result.warning}.` : "";
  $("number-warning").hidden = !result.warning;
  $("number-view").hidden = false;
}

async function readNumber() {
  const photo = state.photo;
  if (state.mode !== "photo" || !photo || !state.model) return;
  $("read-number").disabled = true;
  document.body.dataset.number = "busy";
  try {
    const url = `/api/number?model=${encodeURIComponent(state.model.name)}&encoding=base64`;
    const result = await api(url, { method: "POST", headers: { "Content-Type": photo.type || "application/octet-stream" },
      body: photo });
    if (state.photo !== photo || result.model !== state.model.name) return;   // another input or model meanwhile
    showNumber(result);
    document.body.dataset.number = "done";
  } catch (err) {
    if (state.photo !== photo) return;
    setStatus(err.message, true);
    document.body.dataset.number = "error";
  } finally {
    $("read-number").disabled = false;
  }
}

$("read-number").addEventListener("click", readNumber);

$("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  state.mode = "photo"; state.photo = file; state.strokes = []; state.sample = null;
  $("true-label").hidden = true;
  clearNumber();
  clearPad();
  try {
    const bitmap = await createImageBitmap(file);
    const s = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    const w = bitmap.width * s, h = bitmap.height * s;
    ctx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  } catch (err) {
    // the browser cannot show it; the server says whether it can read it
  }
  predictNow();
});

$("model").addEventListener("change", (event) => chooseModel(event.target.value).catch((err) => setStatus(err.message, true)));
$("explain").addEventListener("change", () => { if (hasInput()) predictNow(); });
function closeUnit() { $("unit").hidden = true; unmark(); }
$("unit-close").addEventListener("click", closeUnit);

clearPad();
loadModels()
  .then((any) => {
    if (!any) {
      setStatus("No model is served here: matnet serve was started without a run folder or model file. "
        + "Train one in the Train view, or restart it with one (matnet serve runs/NAME).", true);
      $("model-info").textContent = "no model";
      document.body.dataset.state = "nomodel";
      return null;
    }
    setStatus("Draw a digit in the box (mouse, pen or finger), or load a test digit.");
    return randomDigit({ onArrival: true });   // the page explains itself on arrival: a test digit, and every layer working on it
  })
  .catch((err) => { setStatus(`Cannot load the models: ${err.message}`, true); document.body.dataset.state = "error"; });
