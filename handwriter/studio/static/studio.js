// The handwriter studio page: streams ink from /api/write into an SVG page, draws ink on a
// pad, and sends ink back for downloads, reading and styles. No build step, no libraries.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const LINE_HEIGHT = 100, SCALE = 35, MARGIN = 20;  // page px; one model unit = one line's height
const CLEARANCE = 45;  // page px from the lowest ink of a line to the next line's baseline
const FIRST_BASELINE = 70;  // page px from the top to the first line's baseline
const BASELINE_DROP = 0.95;  // model units from a line's first point to its baseline, typically
const PAD_ROW = 90;                                  // px between the pad's ruled lines
// A sentence to write on each of the pad's ruled lines, so the studio knows what they say:
// every letter of the alphabet between them, and nothing a model's alphabet lacks.
const PROMPTS = ["the quick brown fox jumps", "over the lazy dog", "pack my box with",
                 "five dozen liquor jugs", "how vexingly quick daft zebras jump"];
const SAMPLE = "written by the network in my hand";  // written in a hand just adapted to

let page = [];        // per line: {text, strokes: [[dx, dy, pen_lift], ...]}, model units, y up
let running = null;   // AbortController of the stream in flight
let notice = "";      // what of the pasted text the studio changed to write it

// ------------------------------------------------------------------ messages

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
  if (isError) $("message").scrollIntoView({block: "nearest"});  // it sits below the panels
}

async function postJSON(url, body, signal) {
  const response = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body), signal});
  if (!response.ok) {
    let text = `${response.status} ${response.statusText}`;
    try { text = (await response.json()).error || text; } catch (e) { /* not JSON */ }
    throw new Error(text);
  }
  return response;
}

// ------------------------------------------------------------------ the page

const svg = $("page");
let pens = [];    // per line: {x, y, path, points} where the pen is and the open stroke

function resetPage(texts) {
  page = texts.map((text) => ({text, strokes: [], baseline: null}));
  pens = texts.map(() => ({x: 0, y: 0, path: null, points: 0}));
  svg.replaceChildren(...texts.map(() => document.createElementNS(SVG, "g")));
  svg.setAttribute("viewBox", `0 0 900 ${Math.max(1, texts.length) * LINE_HEIGHT + MARGIN}`);
  svg.dataset.points = 0;
}

function baselineOf(strokes) {  // the 10th percentile of the pen's heights, as layout.level
  let y = 0;
  const heights = strokes.map(([, dy]) => (y += dy)).sort((a, b) => a - b);
  return heights.length ? heights[Math.floor(0.1 * (heights.length - 1))] : -BASELINE_DROP;
}

function settle(line) {  // a line written to its end is placed by its own baseline from now on
  page[line].baseline = baselineOf(page[line].strokes);
}

function settleAll() {  // the page is done or stopped: every line by its own baseline
  page.forEach((line, i) => { if (line.strokes.length) settle(i); });
  placeLines();
}

function placeLines() {  // baselines a line apart, further where the ink above reaches low
  let baseline = FIRST_BASELINE, lowest = -Infinity, right = 900;
  [...svg.children].forEach((group, line) => {
    if (line > 0) baseline = Math.max(baseline + LINE_HEIGHT, lowest + CLEARANCE);
    // a line still being written sits where a line's baseline usually is below its start
    const shift = baseline + (page[line].baseline ?? -BASELINE_DROP) * SCALE;
    group.setAttribute("transform", `translate(0 ${shift.toFixed(1)})`);
    group.dataset.baseline = baseline;
    const box = group.childElementCount ? group.getBBox() : null;
    lowest = box ? box.y + box.height + shift : baseline;
    // a line still being written widens the page only once written: a draft that strays
    // is seldom the one picked
    if (box && page[line].baseline !== null) right = Math.max(right, box.x + box.width + MARGIN);
  });
  fitPage(right);
}

function addPoints(line, points) {
  const pen = pens[line], group = svg.children[line];
  for (let above = 0; above < line; above++) {  // ink on this line: those above are written
    if (page[above].baseline === null) settle(above);
  }
  for (const [dx, dy, lift] of points) {
    pen.x += dx; pen.y += dy;
    const x = (MARGIN + pen.x * SCALE).toFixed(1), y = (-pen.y * SCALE).toFixed(1);
    if (!pen.path) {
      pen.path = document.createElementNS(SVG, "path");
      pen.path.setAttribute("d", `M${x} ${y}`);
      pen.points = 1;
      group.appendChild(pen.path);
    } else {
      pen.path.setAttribute("d", `${pen.path.getAttribute("d")} L${x} ${y}`);
      pen.points += 1;
    }
    if (lift > 0.5) {
      if (pen.points === 1) pen.path.setAttribute("d", `${pen.path.getAttribute("d")} l0 0`);
      pen.path = null;
    }
  }
  page[line].strokes.push(...points);
  svg.dataset.points = page.reduce((n, l) => n + l.strokes.length, 0);  // for tests, and "done"
  placeLines();
}

function replaceLine(line, points) {  // a retake, or the reader's pick of the drafts
  svg.children[line].replaceChildren();
  pens[line] = {x: 0, y: 0, path: null, points: 0};
  const written = page[line].baseline !== null;
  page[line].strokes = [];
  addPoints(line, points);
  if (written) {
    settle(line);
    placeLines();
  }
}

function fitPage(right) {  // the page's slots, grown to hold ink that strays past them
  const box = svg.getBBox();
  const left = Math.min(0, box.x - MARGIN), top = Math.min(0, box.y - MARGIN);
  const bottom = Math.max(page.length * LINE_HEIGHT, box.y + box.height) + MARGIN;
  svg.setAttribute("viewBox", [left, top, right - left, bottom - top].map(Math.round).join(" "));
}

// ------------------------------------------------------------------ streaming

async function stream(request) {
  if (running && !running.finished) running.abort();  // a finished stream is left to close
  const controller = new AbortController();
  running = controller;
  document.querySelectorAll(".stop").forEach((b) => { b.disabled = false; });
  say("Starting…");
  let started = false;  // an error before the page starts (a refused text) keeps the old page
  try {
    const response = await postJSON("/api/write", request, controller.signal);
    started = true;
    await readEvents(response, (event) => handle(event, request, controller));
  } catch (e) {
    if (e.name === "AbortError") {
      if (running === controller) settleAll();  // stopped, not replaced by a new page
      say("Stopped.");
    } else if (started) failed(e.message);
    else say(e.message, true);
  } finally {
    if (running === controller) {
      running = null;
      document.querySelectorAll(".stop").forEach((b) => { b.disabled = true; });
    }
  }
}

async function readEvents(response, onEvent) {  // server-sent events, each to onEvent
  const reader = response.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (line.startsWith("data: ")) await onEvent(JSON.parse(line.slice(6)));
    }
  }
}

function failed(message) {  // an error mid-page: say it, and clear the ink it leaves in doubt
  say(message, true);
  resetPage([]);
  $("drafted").hidden = true;
}

function handle(event, request, controller) {
  if (event.type === "queued") {
    say(`Waiting for a free pen: place ${event.position} in the queue…`);
  } else if (event.type === "start") {
    resetPage(event.lines);
    svg.setAttribute("aria-label", `Handwriting: ${event.lines.join(" / ")}`);
    svg.scrollIntoView({block: "nearest"});  // on a phone the page is below the controls
    svg.dataset.seed = event.seed;  // said, not put in the box: "Write" again writes anew
    notice = event.notice ? ` Note: the studio ${event.notice}.` : "";
    if (request.mode === "sample") showDrafted(event.lines);
    say(`Writing with seed ${event.seed}…${notice}`);
  } else if (event.type === "points") {
    addPoints(event.line, event.points);
  } else if (event.type === "line") {
    replaceLine(event.line, event.points);
  } else if (event.type === "done") {
    controller.finished = true;
    settleAll();
    document.querySelectorAll(".stop").forEach((b) => { b.disabled = true; });
    say(`Done: seed ${svg.dataset.seed}, ${svg.dataset.points} points. Type that seed to ` +
        "write the same ink again." + notice);
  } else if (event.type === "error") {
    failed(event.error);
  }
}

function showDrafted(texts) {  // the text model's lines, so one can read what the ink says
  $("drafted").querySelector("ol").replaceChildren(...texts.map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
  $("drafted").hidden = false;
}

function numberOf(id) {  // an empty box sends null: the server's default
  const value = $(id).value.trim();
  return value === "" ? null : Number(value);
}

function writeRequest(text) {  // the Write tab's settings, in its chosen style
  const choice = $("style").value;
  const style = choice === "" ? null : choice.startsWith("n:") ? Number(choice.slice(2))
    : choice.slice(2);
  return {mode: "write", text, bias: Number($("bias").value), seed: numberOf("seed"), style,
          drafts: Number($("drafts").value), strength: Number($("strength").value),
          width: lineWidth()};
}

$("write-button").addEventListener("click", () => stream(writeRequest($("text").value)));
$("text").addEventListener("keydown", (event) => {  // Ctrl+Enter (Cmd+Enter) writes
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("write-button").click();
});

$("sample-button").addEventListener("click", () => {
  stream({mode: "sample", lines: numberOf("lines"), bias: Number($("sample-bias").value),
          seed: numberOf("sample-seed"), width: lineWidth()});
});

document.querySelectorAll(".stop").forEach((b) => b.addEventListener("click", () => {
  if (running && !running.finished) running.abort();
}));

// ------------------------------------------------------------------ downloads

async function download(kind, lines, name) {
  lines = lines.filter((l) => l.strokes.length);  // a stopped page's unwritten lines have none
  if (!lines.length) { say("There is no ink to download yet.", true); return; }
  try {
    const blob = await (await postJSON(`/api/export/${kind}`, {lines, paper: $("paper").value})).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${name}.${kind}`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (e) {
    say(e.message, true);
  }
}

function fileName(lines) {  // the first words of the text: downloads don't pile up as copies
  const words = (lines[0]?.text || "").toLowerCase().match(/[a-z0-9]+/g) || [];
  return ["handwriter", ...words.slice(0, 4)].join("-");
}

document.querySelectorAll("[data-export]").forEach((b) => b.addEventListener("click", () => {
  download(b.dataset.export, page, fileName(page));
}));

// ------------------------------------------------------------------ the drawing pad

const pad = $("pad"), context = pad.getContext("2d");
const padSize = {width: pad.width, height: pad.height};  // in pad pixels: CSS px, at most 900
let drawn = [];      // strokes, each a list of [x, y] in pad pixels, y down
let stroke = null;
let padSaved = true;  // no ink on the pad that a reload would lose
let adapting = false;

window.addEventListener("beforeunload", (event) => {  // the browser asks "leave the page?"
  if (adapting || (drawn.length && !padSaved)) event.preventDefault();
});

// Pad px = screen px on a narrow screen, so the rows stay big enough; the canvas holds
// devicePixelRatio device pixels to each, so ink is sharp on a phone. It widens with the
// screen (a phone turned sideways) but never narrows under drawn ink.
function fitPad() {
  const width = Math.min(900, Math.round(pad.clientWidth));
  if (!width || (drawn.length && width < padSize.width)) return;  // hidden, or ink would go
  const scale = window.devicePixelRatio || 1;
  padSize.width = width;
  pad.width = Math.round(width * scale);
  pad.height = Math.round(padSize.height * scale);
  context.setTransform(scale, 0, 0, scale, 0, 0);
  paintPad();
}

function paintPad() {
  context.clearRect(0, 0, padSize.width, padSize.height);
  context.strokeStyle = "#d9e2f0";
  context.lineWidth = 1;
  context.fillStyle = "#9aa7bd";
  context.font = "13px sans-serif";
  for (let row = 0; (row + 0.7) * PAD_ROW < padSize.height; row++) {
    const y = (row + 0.7) * PAD_ROW;
    context.beginPath(); context.moveTo(0, y); context.lineTo(padSize.width, y); context.stroke();
    // under its ruled line, where only descenders reach: the writing above it stays clear
    if (PROMPTS[row]) context.fillText(`${row + 1}. ${PROMPTS[row]}`, 8, y + 18);
  }
  context.strokeStyle = "#1b2a4a";
  context.lineWidth = 2.5;
  context.lineCap = context.lineJoin = "round";
  for (const s of drawn) {
    context.beginPath();
    context.moveTo(...s[0]);
    for (const p of s.length > 1 ? s.slice(1) : s) context.lineTo(...p);
    context.stroke();
  }
}

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * padSize.width / box.width,
          (event.clientY - box.top) * padSize.height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  pad.setPointerCapture(event.pointerId);
  padSaved = false;
  stroke = [padPoint(event)];
  drawn.push(stroke);
  paintPad();
});
pad.addEventListener("pointermove", (event) => {
  if (!stroke) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) {
    const p = padPoint(e), last = stroke[stroke.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 1) stroke.push(p);
  }
  paintPad();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => { stroke = null; });
}

function drawnRows() {  // the drawn strokes by ruled line: row number -> strokes
  const rows = new Map();
  for (const s of drawn) {
    const row = Math.floor(s.reduce((sum, p) => sum + p[1], 0) / s.length / PAD_ROW);
    if (!rows.has(row)) rows.set(row, []);
    rows.get(row).push(s);
  }
  return rows;
}

function rowTexts() {  // the text box, one line of text per ruled line
  return $("drawn-text").value.split("\n").map((t) => t.trim());
}

// The drawn lines, top to bottom, as offsets in pad pixels with y up: one per ruled line used,
// each with the text box's line for its ruled line.
function drawnLines() {
  const rows = drawnRows(), texts = rowTexts();
  return [...rows.keys()].sort((a, b) => a - b).map((row) => {
    const strokes = [];
    let x = 0, y = (row + 0.7) * PAD_ROW;   // start from the ruled line's left end
    for (const s of rows.get(row)) {
      s.forEach((p, j) => {
        strokes.push([p[0] - x, y - p[1], j === s.length - 1 ? 1 : 0]);
        [x, y] = p;
      });
    }
    return {strokes, text: texts[row] || ""};
  });
}

$("undo").addEventListener("click", () => { drawn.pop(); paintPad(); });
$("clear").addEventListener("click", () => { drawn = []; paintPad(); });
$("drawn-inkml").addEventListener("click", () => download("inkml", drawnLines(), "my-hand"));

$("read").addEventListener("click", async () => {
  const lines = drawnLines();
  if (!lines.length) { say("Write something on the pad first.", true); return; }
  say("Reading…");
  try {
    const {texts} = await (await postJSON("/api/read", {lines})).json();
    const rows = [...drawnRows().keys()].sort((a, b) => a - b), all = rowTexts();
    const kept = [];  // a line's text already typed (or prompted) stays: the reader errs
    rows.forEach((row, i) => {
      if (all[row]) kept.push(`line ${row + 1} as “${texts[i]}”`);
      else all[row] = texts[i];
    });
    $("drawn-text").value = Array.from(all, (t) => t ?? "").join("\n");
    $("drawn-text").scrollIntoView({block: "nearest"});
    say(kept.length < rows.length
      ? "The recogniser's reading is below: correct it if need be." +
        (kept.length ? ` It reads ${kept.join(", ")}; their text is left as it was.` : "")
      : `It reads ${kept.join(", ")}. The text below is left as it was: change it if you ` +
        "wrote other words.");
  } catch (e) {
    say(e.message, true);
  }
});

$("save-style").addEventListener("click", async () => {
  const lines = drawnLines(), name = styleName();
  if (!lines.length) { say("Write something on the pad first.", true); return; }
  const missing = lines.findIndex((l) => !l.text);
  if (missing >= 0) {
    say(`Say what line ${missing + 1} of your writing reads (one line of text per ruled ` +
        "line).", true);
    return;
  }
  const replace = savedStyles.includes(name);
  if (replace && !confirm(`Replace your style “${name}” with these lines?`)) {
    say(`Not saved: a style named “${name}” exists. Type another name to keep both.`, true);
    return;
  }
  if (adaptFrom && lines.length >= adaptFrom) { adaptTo(name, lines, replace); return; }
  try {
    const {warnings} = await (await postJSON("/api/styles", {name, lines, replace})).json();
    padSaved = true;
    await loadStyles(`s:${name}`);
    say(`Saved style “${name}”. Pick it under Write to write anything in your hand.` +
        (adaptFrom ? ` It is read from ${lines.length} line${lines.length > 1 ? "s" : ""}: ` +
         `write ${adaptFrom} or more and the studio adapts to them, which gives more of ` +
         "your hand." : "") + checkText(warnings));
  } catch (e) {
    say(e.message, true);
  }
});

function checkText(warnings) {
  return warnings.length ? ` Check the text: ${warnings.join(" ")}` : "";
}

// Adapt the network to the lines on the server (a progress bar meanwhile), save them as the
// style `name`, then write a line in it on the page unless the page is busy writing.
async function adaptTo(name, lines, replace) {
  const bar = $("adapt-progress"), status = $("adapt-status");
  $("save-style").disabled = true;
  $("adapting").hidden = false;
  $("adapting").scrollIntoView({block: "nearest"});
  bar.value = 0;
  status.textContent = `Adapting to your ${lines.length} lines (at most ${adaptMinutes} min)…`;
  say("");
  let saved = null;
  adapting = true;
  try {
    await readEvents(await postJSON("/api/adapt", {name, lines, replace}), async (event) => {
      if (event.type === "queued") {
        status.textContent = `Waiting to adapt: place ${event.position} in the queue…`;
      } else if (event.type === "progress") {
        bar.value = event.share;
        if (event.share > 0) status.textContent = `Adapting: ${Math.round(100 * event.share)}%`;
      } else if (event.type === "saved") {
        saved = event;
      } else if (event.type === "error") {
        throw new Error(event.error);
      }
    });
    if (!saved) throw new Error("the studio stopped adapting before it finished");
    padSaved = true;
    bar.value = 1;
    const busy = running && !running.finished;  // a page being written is not overwritten
    status.textContent = `Saved style “${name}”: ${saved.summary}. ` + (busy ? "" :
      "Below, a line in your hand; ") + `pick “${name}” under Write to write anything in it.` +
      checkText(saved.warnings);
    await loadStyles(`s:${name}`);
    if (!busy) stream(writeRequest(SAMPLE));
  } catch (e) {
    status.textContent = "";
    $("adapting").hidden = true;
    say(e.message, true);
  } finally {
    adapting = false;
    $("save-style").disabled = false;
  }
}

function styleName() {  // the box's placeholder is the name when none is typed
  return $("style-name").value.trim() || $("style-name").placeholder;
}

// The style to remove: the name typed, else the saved style picked under Write.
$("remove-style").addEventListener("click", async () => {
  const picked = $("style").value.startsWith("s:") ? $("style").value.slice(2) : "";
  const name = $("style-name").value.trim() || picked;
  if (!name) {
    say("Type the name of the style to remove, or pick it under Write.", true);
    return;
  }
  if (!savedStyles.includes(name)) {  // said before asking to confirm a removal of nothing
    say(`There is no saved style “${name}”` + (savedStyles.length
      ? `; yours: ${savedStyles.map((s) => `“${s}”`).join(", ")}.` : "."), true);
    return;
  }
  if (!confirm(`Remove your style “${name}”? This cannot be undone.`)) return;
  try {
    const response = await fetch(`/api/styles/${encodeURIComponent(name)}`, {method: "DELETE"});
    if (!response.ok) throw new Error((await response.json()).error);
    await loadStyles("");
    say(`Removed style “${name}”.`);
  } catch (e) {
    say(e.message, true);
  }
});

// ------------------------------------------------------------------ styles, tabs, inputs

let maxText = 600, maxLines = 12;
let adaptFrom = null, adaptMinutes = 1;  // lines from which saving adapts (null: never)
let savedStyles = [];                     // names of the styles saved on the server
let adaptedStyles = new Set();            // of those, the ones adapted to (no strength)

async function loadStyles(selected) {
  const info = await (await fetch("/api/styles")).json();
  maxText = info.max_text;
  maxLines = info.max_lines;
  adaptFrom = info.adapt_from;
  adaptMinutes = info.adapt_minutes;
  savedStyles = info.saved;
  adaptedStyles = new Set(info.adapted);
  $("style-drafts").textContent = String(info.style_drafts);
  if (selected === undefined) $("drafts").value = String(info.drafts);  // the page's first load
  const options = [new Option("the model's own", "")];
  for (let n = 0; n < info.numbered; n++) options.push(new Option(`style ${n}`, `n:${n}`));
  for (const name of info.saved) options.push(new Option(`${name} (yours)`, `s:${name}`));
  $("style").replaceChildren(...options);
  $("style").value = selected ?? "";
  showStrength();
  countText();
}

function showStrength() {  // a saved style read from its lines (a real hand) has a strength;
  const choice = $("style").value;  // one adapted to them is written as fitted
  const adapted = choice.startsWith("s:") && adaptedStyles.has(choice.slice(2));
  $("strength").disabled = !choice.startsWith("s:") || adapted;
  $("strength").closest("label").title = adapted
    ? "an adapted style is written as it was fitted to your lines"
    : "how much of a style read from your lines: 0 none, 1 as read, more is more of your "
      + "hand and less legible";
}

$("style").addEventListener("change", showStrength);

function lineWidth() {  // characters per written line: fewer on a narrow screen, larger ink
  return Math.max(15, Math.min(45, Math.floor(svg.clientWidth / 17)));
}

function countLines(text, width) {  // as the server wraps (layout.wrap_text), greedy by words
  let lines = 0;
  for (const paragraph of text.split("\n")) {
    let used = -1;
    for (let word of paragraph.split(/\s+/).filter((w) => w)) {
      for (; word.length > width; word = word.slice(width)) { lines += used >= 0; used = width; }
      if (used >= 0 && used + 1 + word.length <= width) used += 1 + word.length;
      else { lines += used >= 0; used = word.length; }
    }
    lines += used >= 0;
  }
  return lines;
}

function countText() {
  const n = $("text").value.length, lines = countLines($("text").value, lineWidth());
  $("count").textContent = `${n} / ${maxText} characters, ${lines} / ${maxLines} lines`;
  $("count").classList.toggle("over", n > maxText || lines > maxLines);
}

$("text").addEventListener("input", countText);
for (const [range, shown] of [["bias", "bias-value"], ["sample-bias", "sample-bias-value"],
                              ["strength", "strength-value"]]) {
  $(range).addEventListener("input", () => { $(shown).value = $(range).value; });
}

const tabs = [...document.querySelectorAll("[role=tab]")];

function selectTab(tab) {
  for (const t of tabs) {
    t.setAttribute("aria-selected", String(t === tab));
    t.tabIndex = t === tab ? 0 : -1;
    $(t.dataset.panel).hidden = t !== tab;
  }
  fitPad();  // the pad has a size only once its panel shows
  if ($("message").classList.contains("error")) say("");  // it was about the other tab
  tab.focus();
}

tabs.forEach((tab, i) => {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {  // the ARIA tabs pattern: arrows, Home, End
    const next = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1}[event.key];
    if (next === undefined) return;
    event.preventDefault();
    selectTab(tabs[(next + tabs.length) % tabs.length]);
  });
});

window.addEventListener("resize", () => { countText(); fitPad(); });
$("drawn-text").value = PROMPTS.join("\n");
paintPad();
resetPage([]);
// what Drafts and Your hand do: said in full on a wide screen, a tap away on a phone's
$("drafts-help").open = !window.matchMedia("(max-width: 600px)").matches;
loadStyles().catch((e) => say(e.message, true));
