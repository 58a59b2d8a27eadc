// The docs site's two widgets, computed in the reader's browser: no server, no account, nothing from another host.
//   <div data-fill-mask-widget>   course-base and the adapted model fill in a <mask> side by side (lesson 07's page);
//                                 PAGE.html?mask=<sentence> fills the box and runs it.
//   <div data-masking-widget>     the masking collator's draw (15% of the tokens; 80% <mask>, 10% random, 10% kept)
//                                 on a sentence, again and again (lesson 03's page).
// tools/build-docs puts next to this file: runtime/ (transformers.js and its WebAssembly build, pinned by
// docs_src/browser/package-lock.json) and models/ (both models as lesson 21 exports them, and manifest.json).
// A page without these elements loads nothing.

const HERE = new URL("./", import.meta.url);
const MODELS = { "course-base": "course-base", "adapted": "adapted to Python's documentation" };
const OUTCOMES = [  // as lesson 03's figure colours them (mlm_course.masking.plot_masked_batch)
  { name: "not selected", colour: "#eeeeee" }, { name: "masked", colour: "#4c72b0" },
  { name: "replaced", colour: "#dd8452" }, { name: "kept", colour: "#55a868" }];

let transformers;  // the runtime, loaded once per page
async function runtime() {
  if (!transformers) {
    transformers = await import(new URL("runtime/transformers.min.js", HERE).href);
    const env = transformers.env;
    env.allowRemoteModels = false;  // never the hub: the models are files of this site
    env.allowLocalModels = true;
    env.localModelPath = new URL("models/", HERE).pathname;
    env.useBrowserCache = false;
    env.backends.onnx.wasm.wasmPaths = new URL("runtime/", HERE).href;
    env.backends.onnx.wasm.numThreads = 1;  // threads need cross-origin isolation, which static hosts rarely give
  }
  return transformers;
}

const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) k === "text" ? (e.textContent = v) : e.setAttribute(k, v);
  e.append(...children);
  return e;
};

async function manifest() {
  const r = await fetch(new URL("models/manifest.json", HERE));
  if (!r.ok) throw new Error("the models are not on this site: build it with tools/build-docs");
  return r.json();
}

// ---- fill-mask ----------------------------------------------------------------------------------------------------

function asMaskSentence(text) {
  const t = text.trim().replaceAll("[MASK]", "<mask>");
  const n = t.split("<mask>").length - 1;
  if (n !== 1) return { error: `write exactly one <mask> (found ${n}), e.g. "Open the file and return a file <mask>."` };
  return { text: t };
}

async function fillMaskWidget(root) {
  const first = new URLSearchParams(location.search).get("mask");
  const input = el("input", { type: "text", "aria-label": "a sentence with one <mask>", class: "fm-input",
                              value: first || root.dataset.example || "Return True if x is an <mask> of the class." });
  const button = el("button", { type: "submit", disabled: "", text: "Fill in the blank" });
  const status = el("p", { class: "fm-status", role: "status", text: "Loading the two models…" });
  const about = el("p", { class: "fm-about" });
  const columns = Object.entries(MODELS).map(([name, label]) =>
    el("div", { class: "fm-column" }, el("p", { class: "fm-model", text: label }), el("ol", { "data-fill-mask": name })));
  const form = el("form", { class: "fm-form" }, input, button);
  root.replaceChildren(form, status, el("div", { class: "fm-columns" }, ...columns), about);

  let pipes;
  try {
    const [{ pipeline }, info] = await Promise.all([runtime(), manifest()]);
    const names = Object.keys(MODELS);
    pipes = Object.fromEntries(await Promise.all(names.map(async n => [n, await pipeline("fill-mask", n, { dtype: "q8", device: "wasm" })])));
    const mb = names.reduce((s, n) => s + info.models[n].bytes, 0) / 1e6;
    about.textContent = `Both models run in your browser: ${mb.toFixed(1)} MB downloaded once (made small in lesson 21).`;
  } catch (e) { status.textContent = `The models could not load: ${e.message}`; throw e; }
  button.removeAttribute("disabled");

  async function run() {
    const { text, error } = asMaskSentence(input.value);
    if (error) { status.textContent = error; return; }
    const t0 = performance.now();
    for (const [name, fill] of Object.entries(pipes)) {
      const answers = await fill(text, { top_k: 5 });
      root.querySelector(`[data-fill-mask="${name}"]`).replaceChildren(...answers.map(a =>
        el("li", { "data-token": String(a.token), "data-score": String(a.score), "data-token-str": a.token_str },
           el("span", { class: "fm-word", text: a.token_str.trim() || JSON.stringify(a.token_str) }),
           el("span", { class: "fm-bar", style: `width:${(a.score * 100).toFixed(1)}%` }),
           el("span", { class: "fm-score", text: a.score.toFixed(3) }))));
    }
    root.dataset.answered = String(Number(root.dataset.answered || 0) + 1);  // tests wait for this
    status.textContent = `Answered in ${Math.round(performance.now() - t0)} ms, in your browser.`;
  }
  form.addEventListener("submit", e => { e.preventDefault(); run(); });
  if (first) { root.scrollIntoView(); }
  await run();
}

// ---- masking ------------------------------------------------------------------------------------------------------

function drawMasks(tokens, wordStarts, { share = 0.15, wholeWord = false, randomToken, random = Math.random }) {
  // tokens: [{id, text}], special tokens removed. Returns per token {outcome, shown}.
  const units = [];  // the units drawn: single tokens, or whole words
  tokens.forEach((t, i) => (wholeWord && i > 0 && !wordStarts[i] ? units[units.length - 1].push(i) : units.push([i])));
  let selected = units.filter(() => random() < share);
  if (!selected.length) selected = [units[Math.floor(random() * units.length)]];  // never a sentence with nothing to learn
  const out = tokens.map(t => ({ outcome: 0, shown: t.text }));
  for (const unit of selected) {
    const r = random();  // one draw per unit: a word's tokens share their fate
    for (const i of unit) {
      if (r < 0.8) out[i] = { outcome: 1, shown: "<mask>" };
      else if (r < 0.9) out[i] = { outcome: 2, shown: randomToken() };
      else out[i] = { outcome: 3, shown: tokens[i].text };
    }
  }
  return out;
}

async function maskingWidget(root) {
  const input = el("input", { type: "text", class: "mw-input", "aria-label": "a sentence to mask",
                              value: root.dataset.example || "The collator hides some tokens and the model learns to restore them from the rest of the sentence." });
  const whole = el("input", { type: "checkbox", class: "mw-whole" });
  const again = el("button", { type: "button", disabled: "", text: "Mask again" });
  const row = el("div", { class: "mw-tokens" });
  const legend = el("p", { class: "mw-legend" });
  root.replaceChildren(el("div", { class: "mw-controls" }, input, again, el("label", {}, whole, " whole words")), row, legend);
  const { AutoTokenizer } = await runtime();
  const tokenizer = await AutoTokenizer.from_pretrained("course-base");
  const vocabSize = (await manifest()).models["course-base"].vocab_size;
  const randomToken = () => tokenizer.decode([Math.floor(Math.random() * vocabSize)]);  // any token, as the collator draws

  function draw() {
    const ids = tokenizer.encode(input.value, { add_special_tokens: false });
    const tokens = ids.map(id => ({ id, text: tokenizer.decode([id]) }));
    if (!tokens.length) { row.replaceChildren(); legend.textContent = "Type a sentence to mask."; return; }
    const starts = tokens.map((t, i) => i === 0 || /^\s/.test(t.text));
    const out = drawMasks(tokens, starts, { wholeWord: whole.checked, randomToken });
    row.replaceChildren(...out.map((o, i) => el("span", { class: "mw-token", "data-outcome": OUTCOMES[o.outcome].name,
      style: `background:${OUTCOMES[o.outcome].colour};color:${o.outcome ? "white" : "black"}`,
      title: o.outcome ? `${OUTCOMES[o.outcome].name}; the label is "${tokens[i].text}"` : "not selected" },
      el("span", { text: o.shown }), ...(o.outcome ? [el("small", { text: tokens[i].text })] : []))));
    const counts = OUTCOMES.map((_, k) => out.filter(o => o.outcome === k).length);
    legend.replaceChildren(...OUTCOMES.map((o, k) => el("span", { class: "mw-key", style: `border-color:${o.colour}`,
      text: `${o.name} (${counts[k]})` })));
    root.dataset.draws = String(Number(root.dataset.draws || 0) + 1);
  }
  again.addEventListener("click", draw);
  input.addEventListener("change", draw);
  whole.addEventListener("change", draw);
  again.removeAttribute("disabled");
  draw();
}

for (const root of document.querySelectorAll("[data-fill-mask-widget]")) fillMaskWidget(root);
for (const root of document.querySelectorAll("[data-masking-widget]")) maskingWidget(root);
