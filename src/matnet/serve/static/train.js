// matnet serve: the Train view. A small MLP trained live by the server (/api/train), watched as it learns: the
// loss and accuracy curves, the first layer's weights as images, ten test digits and their predictions; and one
// step drawn matrix by matrix (forward, loss, backward, update), each entry of dW checkable against central
// differences. Uses app.js's helpers (api, decode, paint, diverging, maxAbs, figure, symbol, fmt, shapeText).
"use strict";

(() => {
  const POLL_MS = 400;            // status and new losses, while a session lives
  const PICTURES_MS = 1000;       // the weights and the test digits, while it runs
  const MAX_WEIGHT_IMAGES = 32;
  const MAX_STEP_ROWS = 64;       // rows of the batch a step shows (all of a batch up to this)
  const RUN_STEPS = 1000000;      // "run": until paused, or every epoch is done
  const MAX_CHART_POINTS = 20000; // the loss curve keeps at most this many points (then every other one)

  const train = {
    id: null, status: null, losses: [], accuracy: [], since: 0,
    timer: null, polling: false, lastPictures: 0, speed: null, lastTick: null,
    step: null, selected: null, busy: false,
  };
  window.matnetTrain = train;     // what the page shows, for a test (or a curious reader) to see

  // --- views ----------------------------------------------------------------------------------------------------
  function showView(name) {
    document.body.dataset.view = name;
    $("draw-view").hidden = name !== "draw";
    $("train-view").hidden = name !== "train";
    $("tab-draw").classList.toggle("active", name === "draw");
    $("tab-train").classList.toggle("active", name === "train");
    document.querySelector(".model-bar").hidden = name !== "draw";
    if (name === "train") drawCurves();
  }

  window.addEventListener("hashchange", () => showView(location.hash === "#train" ? "train" : "draw"));

  // --- starting and ending a session --------------------------------------------------------------------------
  function settings() {
    const tokens = $("train-layers").value.trim().split(/[\s,\-]+/).filter(Boolean);
    if (!tokens.length || !tokens.every((t) => /^[0-9]+$/.test(t))) {
      throw new Error("Layer sizes: whole numbers separated by - or , (for example 784-32-10).");
    }
    const layers = tokens.map(Number);
    for (const [id, name] of [["train-lr", "Learning rate"], ["train-batch", "Batch size"], ["train-epochs", "Epochs"]]) {
      const value = Number($(id).value);
      if ($(id).value.trim() === "" || !Number.isFinite(value) || value <= 0) {
        throw new Error(`${name}: a number above 0, not "${$(id).value}".`);
      }
    }
    const smoothing = Number($("train-smoothing").value);
    if ($("train-smoothing").value.trim() === "" || !Number.isFinite(smoothing) || smoothing < 0 || smoothing >= 1) {
      throw new Error(`Label smoothing: a number from 0 up to (not including) 1, not "${$("train-smoothing").value}".`);
    }
    return {
      layers, activation: $("train-activation").value, init: $("train-init").value, loss: $("train-loss-fn").value,
      output: $("train-output").value, label_smoothing: smoothing, optimizer: $("train-optimizer").value,
      lr: Number($("train-lr").value), batch_size: Number($("train-batch").value),
      epochs: Number($("train-epochs").value),
    };
  }

  function say(text, error = false, hold = 0) {
    train.holdUntil = hold ? Date.now() + hold : 0;   // a message the user must be able to read: kept that long
    $("train-status").textContent = text;
    $("train-status").classList.toggle("error", error);
  }

  async function start(event) {
    event.preventDefault();
    let body;
    try { body = JSON.stringify(settings()); } catch (err) { say(err.message, true, 8000); return; }
    const post = () => api("/api/train", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    say("Loading MNIST and building the network...");
    $("train-start").disabled = true;
    try {
      let started;
      try {
        started = await post();
      } catch (err) {
        const live = /training session (\S+) is live/.exec(err.message);   // another page's, a script's, or a reload's
        if (!live) throw err;
        if (!window.confirm(`${err.message}\n\nThe server trains one network at a time. End that session (another `
          + "tab's or a script's, or this page's before a reload) and start this one?")) {
          throw new Error(`${err.message}: left running.`);
        }
        await fetch(`/api/train/${encodeURIComponent(live[1])}`, { method: "DELETE" });
        started = await post();
      }
      Object.assign(train, { id: started.id, status: started, losses: [], accuracy: [], since: 0, speed: null,
        lastTick: null, step: null, selected: null });
      window.matnetStep = null;
      $("train-form").hidden = true;
      $("train-controls").hidden = false;
      $("train-live").hidden = false;
      $("step-view").hidden = true;
      $("step-hover").hidden = true;
      const c = started.config;
      $("train-title").textContent = `${c.layers.join("-")}, ${c.activation}, ${c.optimizer}, batches of ${c.batch_size}`
        + (c.loss && c.loss !== "cross-entropy" ? `, ${c.loss} on a ${c.output} output` : "");
      $("train-lr-live").value = String(c.lr);
      document.body.dataset.session = started.id;
      await command("run", { steps: RUN_STEPS });
      poll();
    } catch (err) {
      say(err.message, true);
    } finally {
      $("train-start").disabled = false;
    }
  }

  async function command(name, body = null) {
    const options = { method: "POST" };
    if (body) { options.headers = { "Content-Type": "application/json" }; options.body = JSON.stringify(body); }
    const status = await api(`/api/train/${train.id}/${name}`, options);
    showStatus(status);
    return status;
  }

  async function reset() {
    clearTimeout(train.timer);
    const id = train.id;
    train.id = null;
    if (id) await fetch(`/api/train/${encodeURIComponent(id)}`, { method: "DELETE" });
    delete document.body.dataset.session;
    delete document.body.dataset.running;
    for (const id of ["train-controls", "train-live", "step-view", "step-hover"]) $(id).hidden = true;
    $("train-form").hidden = false;
    window.matnetStep = null;
    say("Choose a network and press Start.");
  }

  // --- polling: status, the new losses, now and then the weights and the test digits --------------------------
  async function poll() {
    clearTimeout(train.timer);
    if (!train.id || train.polling) return;
    train.polling = true;
    const id = train.id;
    try {
      const [status, history] = await Promise.all([
        api(`/api/train/${id}`), api(`/api/train/${id}/history?since=${train.since}`)]);
      if (id !== train.id) return;
      for (const point of history.loss) train.losses.push(point);   // (a spread of a long answer overflows the stack)
      if (history.loss.length) train.since = history.loss[history.loss.length - 1][0];
      if (train.losses.length > MAX_CHART_POINTS) {   // a long session: every other point, the last kept
        const last = train.losses[train.losses.length - 1];
        train.losses = train.losses.filter((_, i) => i % 2 === 0);
        if (train.losses[train.losses.length - 1] !== last) train.losses.push(last);
      }
      train.accuracy = history.val_accuracy;
      showStatus(status);
      drawCurves();
      const now = performance.now();
      if (status.running || !train.lastPictures || train.picturesStep !== status.step) {
        if (now - train.lastPictures >= PICTURES_MS || !status.running) {
          train.lastPictures = now;
          train.picturesStep = status.step;
          await Promise.all([showWeights(id), showSamples(id)]);
        }
      }
    } catch (err) {
      if (id === train.id) say(err.message, true);
      if (id === train.id && /no training session/.test(err.message)) {   // ended elsewhere, or left idle
        await reset();
        say(`${err.message}: it has ended. Choose a network and press Start.`, true);
      }
    } finally {
      train.polling = false;
      if (train.id === id && train.status && !train.status.finished && !train.status.error) {
        train.timer = setTimeout(poll, POLL_MS);
      } else if (train.id === id) {
        train.timer = setTimeout(poll, 5 * POLL_MS);   // stopped: still there (and kept alive) until Reset
      }
    }
  }

  function showStatus(status) {
    const now = performance.now();
    if (train.lastTick && status.running) {
      const [t0, s0] = train.lastTick;
      if (now - t0 > 200) {
        const rate = (1000 * (status.step - s0)) / (now - t0);
        train.speed = train.speed === null ? rate : 0.6 * train.speed + 0.4 * rate;
        train.lastTick = [now, status.step];
      }
    } else {
      train.lastTick = [now, status.step];
      if (!status.running) train.speed = null;
    }
    train.status = status;
    $("train-step").textContent = status.step.toLocaleString("en");
    $("train-epoch").textContent = `${status.epoch} of ${status.epochs}`;
    $("train-speed").textContent = train.speed === null ? "\u2013" : train.speed.toFixed(0);
    $("train-loss").textContent = status.loss === null ? "\u2013"
      : Math.abs(status.loss) >= 1e4 ? status.loss.toExponential(2) : status.loss.toFixed(4);
    // after a blow-up the last figure is from before it: said so, not shown as the network's accuracy now
    $("train-accuracy").textContent = status.val_accuracy === null ? "\u2013"
      : `${(100 * status.val_accuracy).toFixed(1)}%${status.error ? " (before it stopped)" : ""}`;
    if (document.activeElement !== $("train-lr-live")) $("train-lr-live").value = String(status.lr);
    $("train-pause").disabled = !status.running;
    $("train-resume").disabled = status.running || status.finished || Boolean(status.error);
    $("train-one").disabled = status.running || status.finished || Boolean(status.error);
    document.body.dataset.running = status.running ? "1" : "0";
    document.body.dataset.trainStep = String(status.step);
    if (status.error) say(`Training stopped: ${status.error}`, true);
    else if (Date.now() < (train.holdUntil || 0)) return;   // the routine line waits behind a message to read
    else if (status.finished) say("Every epoch is done. Reset to train another network.");
    else if (status.running) say("Training. Space pauses; the Right arrow then takes one step and shows it.");
    else say("Paused. One step (or the Right arrow) takes a step and draws it matrix by matrix; Space resumes.");
  }

  // --- the curves -------------------------------------------------------------------------------------------------
  function chart(canvas, points, { lo, hi, smooth = 0, color = "#1d2330", thin = "#b9bfcc" }) {
    const width = Math.max(200, Math.floor(canvas.clientWidth || 400)), height = canvas.height;
    if (canvas.width !== width) canvas.width = width;
    const g = canvas.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, width, height);
    const left = 44, right = 8, top = 8, bottom = 20;
    const w = width - left - right, h = height - top - bottom;
    const last = points.length ? points[points.length - 1][0] : 1;
    const x = (step) => left + (w * step) / Math.max(1, last);
    const y = (v) => top + h * (1 - (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo || 1));
    g.strokeStyle = "#d9dde5"; g.fillStyle = "#5d6575"; g.font = "11px system-ui, sans-serif"; g.lineWidth = 1;
    for (let k = 0; k <= 4; k++) {
      const v = lo + ((hi - lo) * k) / 4;
      g.beginPath(); g.moveTo(left, y(v)); g.lineTo(left + w, y(v)); g.stroke();
      g.fillText(v.toFixed(2), 4, y(v) + 4);
    }
    g.fillText(`step ${last.toLocaleString("en")}`, left + w - 70, height - 5);
    const line = (values, stroke, widthPx) => {
      if (!values.length) return;
      g.strokeStyle = stroke; g.lineWidth = widthPx; g.beginPath();
      values.forEach(([s, v], k) => (k ? g.lineTo(x(s), y(v)) : g.moveTo(x(s), y(v))));
      g.stroke();
    };
    if (smooth) {
      line(points, thin, 1);
      const averaged = [];
      let sum = 0;
      points.forEach(([s, v], k) => {
        sum += v;
        if (k >= smooth) sum -= points[k - smooth][1];
        averaged.push([s, sum / Math.min(k + 1, smooth)]);
      });
      line(averaged, color, 2);
    } else {
      line(points, color, 2);
    }
  }

  function drawCurves() {
    if ($("train-live").hidden) return;
    const losses = train.losses;
    let hi = 0;
    for (const [, v] of losses.slice(0, 50)) hi = Math.max(hi, v);
    chart($("loss-chart"), losses, { lo: 0, hi: Math.max(0.5, Math.min(hi, 5)), smooth: 20 });
    chart($("accuracy-chart"), train.accuracy, { lo: 0, hi: 1, color: "#c2410c" });
    $("loss-chart").dataset.points = String(losses.length);
    $("accuracy-chart").dataset.points = String(train.accuracy.length);
  }

  // --- the first layer's weights, the test digits -----------------------------------------------------------------
  async function showWeights(id) {
    const found = await api(`/api/train/${id}/weights?layer=0&rows=${MAX_WEIGHT_IMAGES}&encoding=base64`);
    const W = decode(found.W);
    const [rows, cols] = W.shape;
    const root = $("train-weights");
    if (root.children.length !== rows) {
      root.replaceChildren();
      for (let i = 0; i < rows; i++) {
        const canvas = document.createElement("canvas");
        canvas.className = "pixels"; canvas.title = `unit ${i}: W[${i}] as 28x28`;
        root.appendChild(canvas);
      }
    }
    const side = Math.round(Math.sqrt(cols));
    [...root.children].forEach((canvas, i) => {
      const row = W.values.subarray(i * cols, (i + 1) * cols);
      if (side * side === cols) paint(canvas, row, side, side); else paint(canvas, row, 1, cols);
    });
    root.dataset.step = String(found.step);
  }

  async function showSamples(id) {
    const found = await api(`/api/train/${id}/samples?encoding=base64`);
    const images = decode(found.images), p = decode(found.probabilities);
    const root = $("train-samples");
    if (root.children.length !== found.label.length) {
      root.replaceChildren();
      found.label.forEach((label, k) => {
        const fig = document.createElement("figure");
        const canvas = document.createElement("canvas");
        canvas.className = "pixels";
        paint(canvas, images.values.subarray(k * 784, (k + 1) * 784), 28, 28, { gray: true });
        const cap = document.createElement("figcaption");
        fig.append(canvas, cap);
        fig.dataset.label = String(label);
        root.appendChild(fig);
      });
    }
    [...root.children].forEach((fig, k) => {
      const guess = found.predicted[k], sure = p.values[k * 10 + guess];
      fig.querySelector("figcaption").textContent = `\u2192 ${guess} (${(100 * sure).toFixed(0)}%)`;
      fig.classList.toggle("right", guess === found.label[k]);
      fig.classList.toggle("wrong", guess !== found.label[k]);
      fig.dataset.predicted = String(guess);
    });
    root.dataset.step = String(found.step);
  }

  // --- one step, matrix by matrix -------------------------------------------------------------------------------
  const CELL = 10;   // the most pixels a matrix entry gets on screen

  // values (rows x cols) as a heat map whose canvas has exactly one pixel an entry; on screen at most maxW x maxH
  function matrix(parent, name, caption, array, { layer = null, gray = false, maxW = 520, maxH = 320 } = {}) {
    const [rows, cols] = array.shape.length === 1 ? [1, array.shape[0]] : array.shape;
    const f = figure(parent, caption);
    f.fig.dataset.matrix = name;
    if (layer !== null) f.fig.dataset.layer = String(layer);
    paint(f.canvas, array.values, rows, cols, { gray });
    // square cells where they fit; a long thin matrix (784 wide or tall) gets cells up to 4 times taller than wide
    // (or wider than tall), so that it is not a hairline
    const w = Math.min(CELL, maxW / cols), h = Math.min(CELL, maxH / rows);
    const cellW = Math.min(w, 4 * Math.max(h, 1)), cellH = Math.min(h, 4 * Math.max(w, 1));
    f.canvas.style.width = `${Math.max(2, cols * cellW)}px`;
    f.canvas.style.height = `${Math.max(2, rows * cellH)}px`;
    f.canvas.dataset.rows = String(rows); f.canvas.dataset.cols = String(cols);
    f.canvas.dataset.scale = String(maxAbs(array.values));
    return f;
  }

  function transpose(a) {
    const [rows, cols] = a.shape, out = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a.values[i * cols + j];
    return { shape: [cols, rows], values: out };
  }

  function section(title, text) {
    const box = document.createElement("div");
    box.className = "panel";
    const h = document.createElement("h3");
    h.textContent = title;
    const formula = document.createElement("div");
    formula.className = "formula";
    formula.textContent = text;
    const op = document.createElement("div");
    op.className = "op";
    box.append(h, formula, op);
    $("step-matrices").appendChild(box);
    return op;
  }

  const dims = (a) => shapeText(a.shape);

  async function oneStep() {
    if (!train.id || train.busy || (train.status && train.status.running)) return;
    train.busy = true;
    $("train-one").disabled = true;
    say("Taking one step...");
    try {
      const rows = Math.min(MAX_STEP_ROWS, train.status ? train.status.config.batch_size : MAX_STEP_ROWS);
      const step = await api(`/api/train/${train.id}/step?rows=${rows}&encoding=base64`, { method: "POST" });
      window.matnetStep = step;          // exactly what is drawn below
      drawStep(step);
      await poll();
    } catch (err) {
      say(err.message, true);
    } finally {
      train.busy = false;
      if (train.status) $("train-one").disabled = train.status.running || train.status.finished;
    }
  }

  function drawStep(step) {
    train.step = step;
    train.selected = null;
    $("step-hover").hidden = true;
    $("step-matrices").replaceChildren();
    const m = step.rows, n = step.batch_size;
    const x = decode(step.x), labels = decode(step.y).values;
    const layers = step.layers.map((layer) => {
      const out = {};
      for (const [key, value] of Object.entries(layer)) out[key] = typeof value === "string" ? value : decode(value);
      return out;
    });
    train.decoded = { x, layers };
    const partial = m < n ? ` (its first ${m} of ${n} rows are drawn; dW and db are the whole batch's)` : "";
    $("step-summary").textContent = `Step ${step.step} (epoch ${step.epoch}): a batch of ${n} training images${partial}, `
      + `loss ${step.loss.toFixed(4)}, ${step.optimizer} at lr ${fmt(step.lr)}. Red is positive, blue negative, each `
      + "matrix on its own scale. Hover over dW to see which row and column made an entry; click it to check it.";

    const batch = section("The batch", `X ${dims(x)}: one row a training image (shown as 28x28 below), Y its labels`);
    for (let r = 0; r < m; r++) {
      const f = figure(batch, `y = ${labels[r]}`, "thumb");
      paint(f.canvas, x.values.subarray(r * 784, (r + 1) * 784), 28, 28, { gray: true });
      f.canvas.className = "pixels";
    }

    // forward
    layers.forEach((layer, l) => {
      const prev = l === 0 ? x : layers[l - 1].A;
      const prevName = l === 0 ? "X" : `A${l}`;
      const act = layer.activation === "Softmax" ? "softmax" : (ACTIVATION_NAMES[layer.activation] || layer.activation);
      const out = layer.activation === "Softmax" ? "P" : `A${l + 1}`;
      const op = section(`Forward, layer ${l + 1} (${layer.name})`,
        `Z${l + 1} = ${prevName} @ W${l + 1}.T + b${l + 1}   ${dims(layer.Z)} = ${dims(prev)} @ ${shapeText([layer.W.shape[1], layer.W.shape[0]])} + ${shapeText([layer.b.shape[0]])};   `
        + `${out} = ${act}(Z${l + 1})`);
      matrix(op, l === 0 ? "X" : "A_prev", `${prevName} ${dims(prev)}`, prev, { layer: l, gray: l === 0 });
      symbol(op, "@");
      matrix(op, "W.T", `W${l + 1}.T ${shapeText([layer.W.shape[1], layer.W.shape[0]])}`, transpose(layer.W), { layer: l });
      symbol(op, "+");
      matrix(op, "b", `b${l + 1} ${dims(layer.b)}`, layer.b, { layer: l });
      symbol(op, "=");
      matrix(op, "Z", `Z${l + 1} ${dims(layer.Z)}`, layer.Z, { layer: l });
      symbol(op, `\u2192 ${act} \u2192`);
      matrix(op, "A", `${out} ${dims(layer.A)}`, layer.A, { layer: l });
    });

    // the loss: the session's own (cross-entropy, with label smoothing e or not, or mse on the last layer's output)
    const last = layers[layers.length - 1], classes = last.A.shape[1], L = layers.length;
    const config = (train.status && train.status.config) || {};
    const mse = config.loss === "mse", smooth = mse ? 0 : (config.label_smoothing || 0);
    const outName = last.activation === "Softmax" ? "P" : `A${L}`;
    const targets = new Float32Array(m * classes).fill(smooth / classes);
    for (let r = 0; r < m; r++) targets[r * classes + labels[r]] += 1 - smooth;
    const Y = { shape: [m, classes], values: targets };
    const lossText = mse
      ? `loss = mean over the ${n} x ${classes} entries of (${outName} - Y)^2 = ${step.loss.toFixed(4)}   (mse of the output against the one-hot Y)`
      : smooth
        ? `loss = -mean over the batch of sum over classes of Y * log P = ${step.loss.toFixed(4)}   (cross-entropy against Y = ${fmt(1 - smooth)} one-hot + ${fmt(smooth)} / ${classes})`
        : `loss = -mean over the batch of log P[r, y_r] = ${step.loss.toFixed(4)}   (cross-entropy of P against the one-hot Y)`;
    const lossOp = section("The loss", lossText);
    matrix(lossOp, outName, `${outName} ${dims(last.A)}`, last.A, { layer: L - 1, gray: true });
    symbol(lossOp, "vs");
    matrix(lossOp, "Y", `Y ${smooth ? "smoothed" : "one-hot"} ${dims(Y)}`, Y, { gray: true });
    const lastDZ = !mse ? `dZ${L} = (P - Y) / ${n}`
      : last.activation === "Sigmoid" ? `dZ${L} = 2 (A${L} - Y) / (${n} x ${classes}) * A${L} (1 - A${L})`
        : last.activation === "Softmax" ? `dZ${L} = the softmax's Jacobian applied to 2 (P - Y) / (${n} x ${classes})`
          : `dZ${L} = 2 (Z${L} - Y) / (${n} x ${classes})`;

    // backward, from the last layer to the first
    for (let l = layers.length - 1; l >= 0; l--) {
      const layer = layers[l];
      const prev = l === 0 ? x : layers[l - 1].A;
      const prevName = l === 0 ? "X" : `A${l}`;
      const how = l === layers.length - 1 ? lastDZ
        : `dZ${l + 1} = (dZ${l + 2} @ W${l + 2}) * ${ACTIVATION_NAMES[layer.activation] || layer.activation}'(Z${l + 1})`;
      const op = section(`Backward, layer ${l + 1} (${layer.name})`,
        `${how};   dW${l + 1} = dZ${l + 1}.T @ ${prevName}   ${dims(layer.dW)} = ${shapeText([layer.dW.shape[0], n])} @ ${shapeText([n, prev.shape[1]])};   `
        + `db${l + 1} = dZ${l + 1} summed over rows ${dims(layer.db)}`);
      matrix(op, "dZ.T", `dZ${l + 1}.T ${shapeText([layer.dZ.shape[1], layer.dZ.shape[0]])}`, transpose(layer.dZ), { layer: l });
      symbol(op, "@");
      matrix(op, "A_prev", `${prevName} ${dims(prev)}`, prev, { layer: l, gray: l === 0 });
      symbol(op, "=");
      const dW = matrix(op, "dW", `dW${l + 1} ${dims(layer.dW)}`, layer.dW, { layer: l, maxW: 900, maxH: 360 });
      dW.fig.classList.add("wide");
      dW.canvas.classList.add("hoverable");
      dW.canvas.addEventListener("mousemove", (event) => hover(l, dW.canvas, event, false));
      dW.canvas.addEventListener("click", (event) => hover(l, dW.canvas, event, true));
      matrix(op, "db", `db${l + 1} ${dims(layer.db)}`, layer.db, { layer: l });
    }

    // the update
    layers.forEach((layer, l) => {
      const rule = step.optimizer === "sgd" ? `W${l + 1}_new = W${l + 1} - lr * dW${l + 1}  (lr = ${fmt(step.lr)})`
        : `W${l + 1}_new = W${l + 1} updated by ${step.optimizer} from dW${l + 1} (and its running averages), lr = ${fmt(step.lr)}`;
      const op = section(`Update, layer ${l + 1} (${layer.name})`, `${rule}   ${dims(layer.W_new)}`);
      matrix(op, "W", `W${l + 1} ${dims(layer.W)}`, layer.W, { layer: l, maxW: 300 });
      symbol(op, step.optimizer === "sgd" ? "- lr \u00d7" : "with");
      matrix(op, "dW", `dW${l + 1} ${dims(layer.dW)}`, layer.dW, { layer: l, maxW: 300 });
      symbol(op, "=");
      matrix(op, "W_new", `W${l + 1}_new ${dims(layer.W_new)}`, layer.W_new, { layer: l, maxW: 300 });
    });
    $("step-view").hidden = false;
    document.body.dataset.stepShown = String(step.step);
  }

  // hovering (or clicking, which keeps it) over dW[i, j]: which row of dZ.T and column of A_prev made it
  function hover(l, canvas, event, pin) {
    if (train.selected && train.selected.pinned && !pin) return;
    const rect = canvas.getBoundingClientRect();
    const rows = Number(canvas.dataset.rows), cols = Number(canvas.dataset.cols);
    const i = Math.min(rows - 1, Math.floor(((event.clientY - rect.top) / rect.height) * rows));
    const j = Math.min(cols - 1, Math.floor(((event.clientX - rect.left) / rect.width) * cols));
    if (i < 0 || j < 0) return;
    select(l, i, j, pin);
  }

  function select(l, i, j, pinned) {
    const { x, layers } = train.decoded;
    const layer = layers[l], prev = l === 0 ? x : layers[l - 1].A;
    const m = train.step.rows, n = train.step.batch_size;
    const outs = layer.dZ.shape[1], ins = prev.shape[1];
    const prevName = l === 0 ? "X" : `A${l}`;
    let dot = 0;
    const terms = [];
    for (let r = 0; r < m; r++) {
      const a = layer.dZ.values[r * outs + i], b = prev.values[r * ins + j];
      dot += a * b;
      if (terms.length < 4) terms.push(`${fmt(a)}\u00d7${fmt(b)}`);
    }
    const value = layer.dW.values[i * ins + j];
    let text = `dW${l + 1}[${i}, ${j}] = ${fmt(value)}\n`
      + `= row ${i} of dZ${l + 1}.T (unit ${i}'s gradient on the batch's ${n} images) \u00b7 column ${j} of ${prevName} `
      + `(input ${j} on the same images)\n= ${terms.join(" + ")}${m > 4 ? " + ..." : ""}`;
    text += m === n ? ` = ${fmt(dot)}` : `  (the first ${m} of ${n} rows give ${fmt(dot)})`;
    $("step-hover-text").textContent = text;
    $("check-result").textContent = "";
    delete $("check-result").dataset.relative;
    train.selected = { layer: l, index: [i, j], pinned };
    const box = $("step-hover");
    box.dataset.layer = String(l); box.dataset.i = String(i); box.dataset.j = String(j);
    box.dataset.pinned = pinned ? "1" : "0";
    box.hidden = false;
  }

  async function check() {
    if (!train.selected || !train.id) return;
    const { layer, index } = train.selected;
    $("check-result").textContent = "checking...";
    try {
      const found = await api(`/api/train/${train.id}/check`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ layer, param: "W", index }) });
      $("check-result").textContent = `numeric (central differences, float64) ${found.numeric.toExponential(8)}\n`
        + `analytic (backward pass, float64) ${found.analytic.toExponential(8)}\n`
        + `relative difference ${found.relative_error.toExponential(2)}`;
      $("check-result").dataset.relative = String(found.relative_error);
    } catch (err) {
      $("check-result").textContent = err.message;
    }
  }

  // --- controls ------------------------------------------------------------------------------------------------
  const guarded = (fn) => () => fn().catch((err) => say(err.message, true, 8000));
  const pause = guarded(async () => { if (train.id) await command("pause"); });
  const resume = guarded(async () => {
    if (!train.id) return;
    $("step-hover").hidden = true;                // the box explains a cell of a step that is now behind
    await command("run", { steps: RUN_STEPS });
    poll();
  });

  // presets that set more than the sizes: the fields' values (matnet.config.PRESETS, less what the form lacks)
  const PRESETS = {
    nielsen: { "train-layers": "784-100-10", "train-activation": "sigmoid", "train-init": "normal",
      "train-loss-fn": "mse", "train-output": "sigmoid", "train-smoothing": "0", "train-optimizer": "sgd",
      "train-lr": "15", "train-batch": "10", "train-epochs": "30" },
  };
  $("train-preset").addEventListener("change", (event) => {
    const preset = PRESETS[event.target.value];
    if (preset) for (const [id, value] of Object.entries(preset)) $(id).value = value;
    else if (event.target.value !== "custom") $("train-layers").value = event.target.value;
    else $("train-layers").focus();
  });
  $("train-layers").addEventListener("input", () => {
    const known = [...$("train-preset").options].map((o) => o.value).filter((v) => !PRESETS[v]);
    const typed = $("train-layers").value.trim().split(/[\s,\-]+/).filter(Boolean).join("-");
    $("train-preset").value = known.includes(typed) ? typed : "custom";
  });
  $("train-settings").addEventListener("submit", start);
  $("train-pause").addEventListener("click", pause);
  $("train-resume").addEventListener("click", resume);
  $("train-one").addEventListener("click", oneStep);
  $("train-reset").addEventListener("click", guarded(reset));
  $("train-save").addEventListener("click", guarded(async () => {
    if (!train.id) return;
    if (train.status && train.status.running) await command("pause");
    say("Saving: evaluating on the test set and writing the run folder...");
    const saved = await api(`/api/train/${train.id}/save`, { method: "POST" });
    say(`Saved ${saved.path} (test accuracy ${(100 * saved.test_accuracy).toFixed(2)}%): `
      + `matnet report ${saved.path}, matnet evaluate ${saved.path}, matnet serve ${saved.path}.`, false, 15000);
    document.body.dataset.saved = saved.path;
  }));
  $("check-button").addEventListener("click", check);
  $("train-lr-live").addEventListener("change", guarded(async () => {
    const lr = Number($("train-lr-live").value);
    if (!train.id) return;
    showStatus(await api(`/api/train/${train.id}`, {
      method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ lr }) }));
  }));

  document.addEventListener("keydown", (event) => {
    if (document.body.dataset.view !== "train" || !train.id) return;
    const tag = event.target && event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === " ") {
      event.preventDefault();
      if (train.status && train.status.running) pause(); else resume();
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      if (train.status && train.status.running) pause().then(oneStep); else oneStep();
    }
  });
  window.addEventListener("resize", drawCurves);

  // --- on arrival: the Train view when asked for (#train), or when the server has no model to draw on -----------
  showView(location.hash === "#train" ? "train" : "draw");
  api("/api/health").then((health) => {
    if (!health.models.length && location.hash !== "#draw") {
      history.replaceState(null, "", "#train");
      showView("train");
    }
  }).catch(() => {});
})();
