// mockrouter inspector: the journal live, a request's detail, scenarios and cursors, the
// resilience report. Plain ES2020, no dependencies. Everything put into the page goes in as
// text (textContent, attributes), never as HTML.

const API = "/__mockrouter";
const ROW_H = 30; // px, must match --row-h in app.css
const OVERSCAN = 10; // rows rendered above and below the visible window
const PAGE = 200; // entries per listing request
const KEEP = 10000; // entries kept in memory (the journal's default size)
const TREE_OPEN_DEPTH = 3; // JSON tree levels open at first
const TREE_MAX_CHILDREN = 500; // children shown per JSON node before "… n more"

// -- small helpers -------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

/** An element; `props` sets attributes (`class`, `data-*`, `aria-*`...), `text` its text,
 *  `on` its listeners; children are nodes or strings (added as text). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, props, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, props = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), props, children);
}

function fill(node, props, children) {
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (name === "open" || name === "hidden" || name === "disabled") node[name] = Boolean(value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms === 0) return "0 ms";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

function fmtTime(entry) {
  const d = entry.ts ? new Date(entry.ts * 1000) : new Date(entry.time);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

const fmtInt = (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString("en-US"));
const pretty = (value) => (typeof value === "string" ? value : JSON.stringify(value, null, 2));
const statusClass = (status) => `status s${status ? Math.floor(status / 100) : 0}`;
const keyLabel = (hint) => (hint ? `…${hint}` : "—");
const given = (v) => v !== null && v !== undefined;
/** `text` with `value` put in, or "" when the value is missing. */
const maybe = (value, text) => (given(value) && value !== "" ? text(value) : "");

function toast(message) {
  const box = $("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 1800);
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// -- the admin API ---------------------------------------------------------------------------

async function api(path, { method = "GET", params = {} } = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") query.set(k, v);
  const url = API + path + (query.toString() ? `?${query}` : "");
  const response = await fetch(url, { method, headers: { accept: "application/json" } });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && data.error ? data.error.message || JSON.stringify(data.error) : response.statusText;
    throw new Error(`${response.status}: ${message}`);
  }
  return data;
}

// -- state -------------------------------------------------------------------------------------

const state = {
  loaded: [], // entries consistent with the server-side filters, oldest first
  ids: new Set(), // ids in `loaded`
  view: [], // `loaded` through every filter, oldest first (shown newest first)
  previous: null, // cursor for older entries (pass as `before`)
  filter: emptyFilter(), // what the form says
  fetched: emptyFilter(), // the server-side part of the filter `loaded` was fetched with
  loading: false,
  generation: 0, // bumps on every refetch; stale answers are dropped
  pending: [], // live entries not yet added (flushed once per animation frame)
  frameQueued: false,
  newest: null, // newest journal id seen (to resume the event stream)
  selected: null, // id of the selected row
  open: null, // id whose detail is shown
  rows: new Map(), // id -> rendered row element
  fresh: new Set(), // ids that arrived live and have not been drawn yet
};

function emptyFilter() {
  return { key: "", test: "", scenario: "", status: "", surface: "" };
}

// -- filters -----------------------------------------------------------------------------------

const FILTERS = ["key", "test", "scenario", "status", "surface"];
const STATUS_RE = /^([1-5])(?:xx|\d\d)$/i;

function readFilter() {
  const f = emptyFilter();
  for (const name of FILTERS) f[name] = $(`filter-${name}`).value.trim();
  f.key = f.key.replace(/^(…|\.\.\.)/, "");
  return f;
}

/** The part of a filter the server applies: the key only when it is a whole key (longer than
 *  the 4-character hint), the status only when it is a code or a class. */
function serverPart(f) {
  return {
    ...f,
    key: f.key.length > 4 ? f.key : "",
    status: STATUS_RE.test(f.status) ? f.status.toLowerCase() : "",
  };
}

const sameFilter = (a, b) => FILTERS.every((n) => a[n] === b[n]);

function keyMatches(hint, wanted) {
  if (!wanted) return true;
  if (!hint) return false;
  return wanted.length > 4 ? wanted.endsWith(hint) : hint.includes(wanted);
}

function statusMatches(status, wanted) {
  if (!wanted) return true;
  const m = STATUS_RE.exec(wanted);
  if (!m || status === null || status === undefined) return false;
  return /xx$/i.test(wanted) ? Math.floor(status / 100) === Number(m[1]) : status === Number(wanted);
}

function matches(e, f) {
  return (
    keyMatches(e.key_hint, f.key) &&
    (!f.test || e.test === f.test) &&
    (!f.scenario || e.scenario === f.scenario) &&
    (!f.surface || e.surface === f.surface) &&
    (!f.status || statusMatches(e.status, f.status))
  );
}

function onFilterInput() {
  state.filter = readFilter();
  const status = $("filter-status");
  status.setAttribute("aria-invalid", String(Boolean(state.filter.status) && !STATUS_RE.test(state.filter.status)));
  refilter();
  if (!sameFilter(serverPart(state.filter), state.fetched)) refetchSoon();
}

const refetchSoon = debounce(() => loadNewest(), 250);

function refilter() {
  state.view = state.loaded.filter((e) => matches(e, state.filter));
  renderJournal();
}

// -- loading the journal -------------------------------------------------------------------

function listParams(extra) {
  const f = serverPart(state.filter);
  return { limit: PAGE, ...f, ...extra };
}

async function loadNewest() {
  const generation = ++state.generation;
  state.loading = true;
  const wanted = serverPart(state.filter);
  try {
    const page = await api("/requests", { params: listParams() });
    if (generation !== state.generation) return;
    state.fetched = wanted;
    state.loaded = page.data;
    state.ids = new Set(page.data.map((e) => e.id));
    state.previous = page.previous;
    noteNewest(page.data);
    $("journal-note").textContent = "";
  } catch (err) {
    if (generation === state.generation) $("journal-note").textContent = `Could not load the journal (${err.message}).`;
  } finally {
    if (generation === state.generation) {
      state.loading = false;
      refilter();
      queueFlush();
    }
  }
}

async function loadOlder() {
  if (!state.previous || state.loading) return;
  const generation = state.generation;
  const button = $("older");
  button.disabled = true;
  try {
    const page = await api("/requests", { params: listParams({ before: state.previous }) });
    if (generation !== state.generation) return;
    const older = page.data.filter((e) => !state.ids.has(e.id));
    for (const e of older) state.ids.add(e.id);
    state.loaded = older.concat(state.loaded);
    state.previous = page.previous;
    refilter();
  } catch (err) {
    $("journal-note").textContent = `Could not load older entries (${err.message}).`;
  } finally {
    button.disabled = false;
  }
}

function noteNewest(list) {
  if (list.length) state.newest = newerId(state.newest, list[list.length - 1].id);
}

const idNumber = (id) => Number(String(id).replace(/^req_/, "")) || 0;
const newerId = (a, b) => (a === null || idNumber(b) > idNumber(a) ? b : a);

/** Drop the oldest entries beyond KEEP (they stay reachable with "Load older"). */
function trim() {
  const excess = state.loaded.length - KEEP;
  if (excess <= 0) return;
  for (const e of state.loaded.splice(0, excess)) state.ids.delete(e.id);
  state.previous = state.loaded[0].id;
  state.view = state.loaded.filter((e) => matches(e, state.filter));
}

// -- the live stream -----------------------------------------------------------------------

const live = { source: null, retry: 1000, timer: null };

function setLive(status, text = status) {
  const badge = $("live-status");
  badge.dataset.state = status;
  badge.textContent = text;
}

/** Open the event stream (resolves once open, or after 2 s whatever happened). */
function connect(since) {
  clearTimeout(live.timer);
  if (live.source) live.source.close();
  const url = `${API}/events${since ? `?since=${encodeURIComponent(since)}` : ""}`;
  const source = new EventSource(url);
  live.source = source;
  setLive("connecting");
  return new Promise((resolve) => {
    const done = setTimeout(resolve, 2000);
    source.addEventListener("open", () => {
      live.retry = 1000;
      setLive("live");
      clearTimeout(done);
      resolve();
    });
    source.addEventListener("request", (ev) => {
      try {
        state.pending.push(JSON.parse(ev.data));
      } catch {
        return;
      }
      queueFlush();
    });
    source.addEventListener("reset", () => onReset());
    source.addEventListener("error", () => {
      // Reconnect ourselves, from the newest entry seen, with a growing pause.
      source.close();
      if (live.source !== source) return;
      setLive("offline", "offline — reconnecting");
      live.timer = setTimeout(() => connect(state.newest), live.retry);
      live.retry = Math.min(live.retry * 2, 15000);
    });
  });
}

function queueFlush() {
  if (state.frameQueued) return;
  state.frameQueued = true;
  requestAnimationFrame(flush);
}

/** Add the live entries received since the last frame, in one DOM update. */
function flush() {
  state.frameQueued = false;
  if (state.loading || !state.pending.length) return;
  const batch = state.pending;
  state.pending = [];
  let shown = 0;
  for (const e of batch) {
    state.newest = newerId(state.newest, e.id);
    if (state.ids.has(e.id) || !matches(e, state.fetched)) continue;
    state.ids.add(e.id);
    state.loaded.push(e);
    if (matches(e, state.filter)) {
      state.view.push(e);
      state.fresh.add(e.id);
      shown++;
    }
  }
  trim();
  const journal = $("journal");
  if (shown && journal.scrollTop > 0) journal.scrollTop += shown * ROW_H; // keep the rows in view still
  renderJournal();
  refreshSidesSoon();
}

function onReset() {
  state.pending = [];
  state.loaded = [];
  state.view = [];
  state.ids.clear();
  state.previous = null;
  state.selected = null;
  closeDetail();
  renderJournal();
  refreshSides();
}

// -- the journal list (windowed) -------------------------------------------------------------

/** The entry shown at display row `i` (0 = newest). */
const atRow = (i) => state.view[state.view.length - 1 - i];
const rowOf = (id) => {
  for (let i = state.view.length - 1; i >= 0; i--) if (state.view[i].id === id) return state.view.length - 1 - i;
  return -1;
};

function renderJournal() {
  const journal = $("journal");
  const n = state.view.length;
  $("journal-spacer").style.height = `${n * ROW_H}px`;
  const top = journal.scrollTop;
  const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
  const last = Math.min(n, Math.ceil((top + journal.clientHeight) / ROW_H) + OVERSCAN);
  const wanted = new Map();
  for (let i = first; i < last; i++) wanted.set(atRow(i).id, i);
  for (const [id, node] of state.rows) {
    if (!wanted.has(id)) {
      node.remove();
      state.rows.delete(id);
    }
  }
  for (const [id, i] of wanted) {
    let node = state.rows.get(id);
    if (!node) {
      node = journalRow(atRow(i));
      state.rows.set(id, node);
      journal.append(node);
    }
    node.style.top = `${i * ROW_H}px`;
    node.setAttribute("aria-selected", String(id === state.selected));
    node.setAttribute("aria-posinset", String(i + 1));
    node.setAttribute("aria-setsize", String(n));
    node.classList.toggle("open", id === state.open);
  }
  state.fresh.clear();
  journal.setAttribute("aria-activedescendant", state.rows.has(state.selected) ? `row-${state.selected}` : "");
  renderCounts();
}

function renderCounts() {
  const n = state.view.length;
  const loaded = state.loaded.length;
  $("journal-count").textContent =
    n === loaded ? `${fmtInt(n)} shown` : `${fmtInt(n)} of ${fmtInt(loaded)} loaded shown`;
  $("journal-empty").hidden = n > 0 || state.loading;
  $("older").hidden = !state.previous;
}

function journalRow(e) {
  const scenario = e.unmatched
    ? el("span", { title: `unmatched — answered by ${e.scenario || "nothing"}` },
      el("span", { class: "unmatched", text: "unmatched " }), e.scenario || "")
    : el("span", { title: e.scenario || "" }, e.scenario || "—",
      e.step !== null && e.step !== undefined ? el("span", { class: "step", text: ` / ${e.step}` }) : null);
  const node = el(
    "div",
    {
      class: state.fresh.has(e.id) ? "row fresh" : "row",
      id: `row-${e.id}`,
      role: "option",
      "data-testid": "journal-row",
      "data-id": e.id,
      title: `${e.method} ${e.path}`,
    },
    el("span", { class: "mono", text: fmtTime(e), title: e.time }),
    el("span", { class: "mono", text: keyLabel(e.key_hint) }),
    el("span", { text: e.surface || e.path }),
    el("span", { text: e.model || "", title: e.model || "" }),
    scenario,
    el("span", { class: `num ${statusClass(e.status)}`, text: e.status ?? "—" }),
    el("span", null, faultPill(e)),
    el("span", { class: "num", text: fmtMs(e.ttft_ms) }),
    el("span", { class: "num", text: fmtMs(e.duration_ms) }),
  );
  return node;
}

function faultPill(e) {
  if (e.fault) return el("span", { class: "pill bad", text: e.fault });
  if (e.client_disconnected) return el("span", { class: "pill warn", text: "client left" });
  return "";
}

function select(id, { scroll = true } = {}) {
  state.selected = id;
  if (scroll && id) {
    const i = rowOf(id);
    const journal = $("journal");
    if (i >= 0) {
      const y = i * ROW_H;
      if (y < journal.scrollTop) journal.scrollTop = y;
      else if (y + ROW_H > journal.scrollTop + journal.clientHeight) journal.scrollTop = y + ROW_H - journal.clientHeight;
    }
  }
  renderJournal();
}

function moveSelection(delta) {
  const n = state.view.length;
  if (!n) return;
  const at = state.selected ? rowOf(state.selected) : -1;
  const next = at < 0 ? (delta > 0 ? 0 : n - 1) : Math.max(0, Math.min(n - 1, at + delta));
  select(atRow(next).id);
  if (state.open) openSoon(atRow(next).id);
}

const openSoon = debounce((id) => openDetail(id), 120);

// -- the detail ----------------------------------------------------------------------------------

async function openDetail(id) {
  state.open = id;
  const panel = $("detail");
  panel.hidden = false;
  $("layout").classList.add("with-detail");
  panel.replaceChildren(el("p", { class: "muted", text: `Loading ${id}…` }));
  renderJournal();
  let entry;
  try {
    entry = await api(`/requests/${encodeURIComponent(id)}`);
  } catch (err) {
    if (state.open === id) panel.replaceChildren(detailHead({ id }), el("p", { class: "error", text: err.message }));
    return;
  }
  if (state.open !== id) return;
  panel.replaceChildren(...detailView(entry));
}

function closeDetail() {
  if (!state.open) return;
  state.open = null;
  const panel = $("detail");
  panel.hidden = true;
  panel.replaceChildren();
  $("layout").classList.remove("with-detail");
  renderJournal();
  $("journal").focus();
}

function detailHead(e) {
  return el(
    "div",
    { class: "detail-head" },
    el("h2", { id: "detail-title", text: e.method ? `${e.method} ${e.path}` : e.id }),
    e.status !== undefined ? el("span", { class: statusClass(e.status), text: e.status ?? "no status" }) : null,
    e.method ? el("button", { type: "button", "data-testid": "copy-curl", on: { click: () => copyCurl(e) }, text: "Copy as curl" }) : null,
    el("button", { type: "button", class: "quiet", "aria-label": "Close the detail (Escape)", on: { click: closeDetail }, text: "✕" }),
  );
}

function detailView(e) {
  const parts = [detailHead(e), facts(e)];
  if (e.near_misses && e.near_misses.length) parts.push(nearMisses(e.near_misses));
  parts.push(
    section("Timeline", timelineView(e)),
    section("Answer", answerView(e)),
    section("Request body", requestBody(e)),
    section("Headers", headersTable(e.headers)),
    section("Replay", el("pre", { class: "box", "data-testid": "curl-text", text: curlCommand(e) })),
  );
  return parts;
}

function section(title, ...content) {
  return el("section", null, el("h3", { text: title }), ...content);
}

function facts(e) {
  const rows = [
    ["id", e.id],
    ["time", e.time],
    ["key", keyLabel(e.key_hint)],
    ["test", e.test],
    ["surface", e.surface && `${e.surface} (${e.dialect})`],
    ["model", [e.model, e.provider && `via ${e.provider}`].filter(Boolean).join(" ")],
    ["scenario", maybe(e.scenario, (s) => s + maybe(e.step, (n) => ` / step ${n}`) + maybe(e.selected_by, (b) => ` — chosen by ${b}`))],
    ["unmatched", e.unmatched ? "yes: no scenario's match block held" : null],
    ["stream", e.stream ? "yes" : "no"],
    ["fault", maybe(e.fault, (f) => f + maybe(e.fault_after_chunks, (n) => ` after ${n} chunks`) + maybe(e.fault_at_ms, (ms) => ` at ${fmtMs(ms)}`))],
    ["error", e.error],
    ["retry after", maybe(e.retry_after_s, (s) => `${s} s`)],
    ["TTFT", fmtMs(e.ttft_ms)],
    ["duration", fmtMs(e.duration_ms)],
    ["sent", `${fmtInt(e.bytes_sent)} bytes in ${fmtInt(e.chunks_sent)} chunks`],
    ["client left", e.client_disconnected ? `yes${maybe(e.disconnected_after_ms, (ms) => ` after ${fmtMs(ms)}`)}` : null],
    ["finish", e.finish_reason],
    ["usage", usageText(e.usage)],
    ["generation", e.generation_id],
    ["conversation", e.conversation],
  ];
  return el("dl", { class: "facts" }, rows.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

function usageText(usage) {
  if (!usage || typeof usage !== "object") return null;
  return Object.entries(usage)
    .filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k.replace(/_tokens$/, "")} ${v}`)
    .join(" · ");
}

function headersTable(headers) {
  if (!headers || !Object.keys(headers).length) return el("p", { class: "note", text: "No headers kept." });
  return el("table", null, el("tbody", null, Object.entries(headers).map(([k, v]) =>
    el("tr", null, el("th", { class: "mono", text: k }), el("td", { class: "mono", text: v })))));
}

// -- near misses ---------------------------------------------------------------------------------

function nearMisses(misses) {
  return el(
    "section",
    { "data-testid": "near-misses" },
    el("h3", { text: "Near misses" }),
    el("p", { class: "note", text: "The scenarios this request came closest to, and each condition that did not hold." }),
    misses.map((m) => el(
      "div",
      { class: "miss", "data-testid": "near-miss", "data-scenario": m.scenario },
      el("div", { class: "miss-head" }, el("strong", { text: m.scenario }),
        el("span", { class: "muted", text: `distance ${typeof m.distance === "number" ? +m.distance.toFixed(3) : m.distance}` })),
      el("table", null,
        el("thead", null, el("tr", null, el("th", { text: "condition" }), el("th", { text: "scenario expects" }), el("th", { text: "request had" }))),
        el("tbody", null, (m.mismatches || []).map((x) => el(
          "tr",
          { "data-testid": "mismatch", "data-condition": x.condition },
          el("td", { class: "mono", text: x.condition }),
          el("td", { class: "want" }, el("pre", { text: pretty(x.expected) })),
          el("td", { class: "had" }, el("pre", { text: pretty(x.actual) })),
        )))),
    )),
  );
}

// -- the answer ------------------------------------------------------------------------------------

/** The body as sent; a whole JSON body (not a stream) pretty-printed. */
function rawAnswer(e) {
  const raw = e.answer === null || e.answer === undefined ? "" : String(e.answer);
  if (e.stream || e.answer_cut || !/^\s*[{[]/.test(raw)) return { text: raw, pretty: false };
  try {
    return { text: JSON.stringify(JSON.parse(raw), null, 2), pretty: true };
  } catch {
    return { text: raw, pretty: false };
  }
}

function answerView(e) {
  const { text: raw, pretty: prettied } = rawAnswer(e);
  return el(
    "div",
    null,
    el("div", { class: "sub" }, el("h4", { text: "Assembled message" }),
      e.fault && e.expected ? el("span", { class: "note", text: "the whole reply; the fault cut what the client got" }) : null),
    el("div", { class: "message", "data-testid": "answer-message" }, messageParts(e.expected)),
    el("div", { class: "sub" }, el("h4", { text: e.stream ? "Raw events, as sent" : "Raw body, as sent" }),
      e.answer_cut ? el("span", { class: "note", text: "first 16 KiB shown" }) : null,
      prettied ? el("span", { class: "note", text: "pretty-printed" }) : null),
    el("pre", { class: "box raw", "data-testid": "answer-raw", tabindex: "0", text: raw || "(no body sent)" }),
  );
}

/** The message a client assembles, whatever the surface: chat's `{role, content, ...}` (a list
 *  of them for several choices), Messages' content blocks, or Responses' output items. */
function messageParts(expected) {
  if (expected === null || expected === undefined) return el("p", { class: "note", text: "No message: the answer was an error or not from the scenario engine." });
  if (Array.isArray(expected)) return expected.map((m, i) => el("div", null, el("div", { class: "note", text: `choice ${i}` }), messageParts(m)));
  if (Array.isArray(expected.content) && expected.type === "message") return anthropicParts(expected);
  if (Array.isArray(expected.output)) return responsesParts(expected);
  const parts = [];
  if (expected.reasoning) parts.push(part("reasoning", "reasoning", expected.reasoning));
  if (expected.content !== null && expected.content !== undefined) parts.push(part("", expected.role || "assistant", expected.content));
  if (expected.refusal) parts.push(part("refusal", "refusal", expected.refusal));
  for (const call of expected.tool_calls || []) parts.push(part("tool", `tool call ${call.name} (${call.id})`, argumentsText(call.arguments)));
  if (!parts.length) parts.push(el("p", { class: "note", text: "An empty message (no content, no tool calls)." }));
  return parts;
}

function anthropicParts(m) {
  const parts = m.content.map((block) => {
    switch (block.type) {
      case "text": return part("", "text", block.text);
      case "thinking": return part("reasoning", "thinking", block.thinking);
      case "redacted_thinking": return part("reasoning", "redacted thinking", block.data);
      case "tool_use": return part("tool", `tool use ${block.name} (${block.id})`, pretty(block.input));
      default: return part("", block.type || "block", pretty(block));
    }
  });
  parts.push(el("p", { class: "note", text: `stop_reason: ${m.stop_reason ?? "—"}${usageText(m.usage) ? ` · ${usageText(m.usage)}` : ""}` }));
  return parts;
}

function responsesParts(r) {
  const parts = [];
  for (const item of r.output) {
    if (item.type === "reasoning") parts.push(part("reasoning", "reasoning", (item.summary || []).map((s) => s.text).join("\n")));
    else if (item.type === "function_call") parts.push(part("tool", `function call ${item.name} (${item.call_id})`, argumentsText(item.arguments)));
    else if (item.type === "message") {
      for (const c of item.content || []) {
        parts.push(c.type === "refusal" ? part("refusal", "refusal", c.refusal) : part("", c.type || "text", c.text));
      }
    } else parts.push(part("", item.type || "item", pretty(item)));
  }
  parts.push(el("p", { class: "note", text: `status: ${r.status ?? "—"}${r.incomplete_details ? ` (${pretty(r.incomplete_details)})` : ""}` }));
  return parts;
}

function part(kind, label, text) {
  return el("div", { class: `part ${kind}` }, el("div", { class: "label", text: label }), el("pre", { text: text ?? "" }));
}

function argumentsText(args) {
  if (typeof args !== "string") return pretty(args);
  try {
    return JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    return args;
  }
}

// -- the request body: a collapsible JSON tree -----------------------------------------------

function requestBody(e) {
  const box = el("div", { class: "box tree", "data-testid": "request-body" });
  const body = e.body;
  if (body === null || body === undefined) box.append(el("p", { class: "note", text: "No body." }));
  else if (typeof body === "string") box.append(el("pre", { text: body }));
  else box.append(jsonNode(null, body, 0));
  const setAll = (open) => () => {
    if (open) {
      // Fill the nodes never opened first (filling is what opening does, but synchronously).
      for (let d = box.querySelector("details:not([data-filled])"); d; d = box.querySelector("details:not([data-filled])")) d.fillTree();
    }
    for (const d of box.querySelectorAll("details")) d.open = open;
  };
  return el("div", null,
    el("div", { class: "sub" },
      e.body_cut ? el("span", { class: "note", text: `cut: ${fmtInt(e.body_cut.shown)} of ${fmtInt(e.body_cut.bytes)} bytes` }) : null,
      el("button", { type: "button", class: "quiet", on: { click: setAll(true) }, text: "Expand all" }),
      el("button", { type: "button", class: "quiet", on: { click: setAll(false) }, text: "Collapse all" })),
    box);
}

function jsonNode(key, value, depth) {
  const label = key === null ? null : el("span", { class: "k", text: typeof key === "number" ? `${key}: ` : `${JSON.stringify(key)}: ` });
  if (value === null || typeof value !== "object") return el("div", { class: "leaf" }, label, scalar(value));
  const isArray = Array.isArray(value);
  const size = isArray ? value.length : Object.keys(value).length;
  const node = el("details", { open: depth < TREE_OPEN_DEPTH },
    el("summary", null, label, el("span", { class: "count", text: isArray ? `[${size}]` : `{${size}}` })));
  const build = () => {
    if (node.dataset.filled) return;
    node.dataset.filled = "1";
    const items = isArray ? value.map((v, i) => [i, v]) : Object.entries(value);
    for (const [k, v] of items.slice(0, TREE_MAX_CHILDREN)) node.append(jsonNode(k, v, depth + 1));
    if (items.length > TREE_MAX_CHILDREN) node.append(el("div", { class: "leaf count", text: `… ${items.length - TREE_MAX_CHILDREN} more` }));
  };
  node.fillTree = build;
  if (node.open) build();
  else node.addEventListener("toggle", build);
  return node;
}

function scalar(value) {
  if (typeof value === "string") return el("span", { class: "str", text: JSON.stringify(value) });
  if (typeof value === "number") return el("span", { class: "numv", text: String(value) });
  return el("span", { class: "lit", text: String(value) });
}

// -- the timeline: an SVG of the body's writes --------------------------------------------------

const TL = { w: 720, h: 170, left: 44, right: 18, top: 30, bottom: 30 };

function timelineView(e) {
  const writes = Array.isArray(e.timeline) ? e.timeline : [];
  const box = el("div", { "data-testid": "timeline" });
  const faultAt = e.fault_at_ms ?? null;
  if (!writes.length && faultAt === null) {
    box.append(el("p", { class: "note", text: e.status ? "No body writes were recorded for this answer." : "Nothing was sent." }));
    return box;
  }
  const last = Math.max(e.duration_ms || 0, faultAt || 0, e.ttft_ms || 0, ...writes.map((w) => w[0])) || 1;
  const end = last * 1.03; // a little room right of the last mark
  const scale = (ms) => TL.left + (ms / end) * (TL.w - TL.left - TL.right);
  const base = TL.h - TL.bottom;
  const picture = svg("svg", {
    class: "timeline-svg", viewBox: `0 0 ${TL.w} ${TL.h}`, role: "img",
    "aria-label": timelineSummary(e, writes),
  });
  const silentUntil = e.client_disconnected ? e.disconnected_after_ms : e.duration_ms;
  picture.append(axis(end, scale, base), gaps(writes, silentUntil, scale, base, end));
  const maxBytes = Math.max(1, ...writes.map((w) => w[1]));
  writes.forEach((w, i) => picture.append(writeMark(w, i, scale, base, maxBytes)));
  if (e.duration_ms) picture.append(marker("end", scale(e.duration_ms), base, `the answer ended at ${fmtMs(e.duration_ms)}`, null, ""));
  if (e.ttft_ms !== null && e.ttft_ms !== undefined) {
    picture.append(marker("ttft", scale(e.ttft_ms), base, `TTFT ${fmtMs(e.ttft_ms)}`, "timeline-ttft", "TTFT"));
  }
  if (e.client_disconnected && e.disconnected_after_ms !== null && e.disconnected_after_ms !== undefined) {
    picture.append(marker("end", scale(e.disconnected_after_ms), base, `the client left at ${fmtMs(e.disconnected_after_ms)}`, null, "client left"));
  }
  if (faultAt !== null) picture.append(faultMark(e, scale(faultAt), base));
  box.append(picture, legend(), el("p", { class: "note", text: timelineSummary(e, writes) }));
  return box;
}

/** Tick spacing of 1, 2 or 5 × 10^n giving about six ticks over `end`. */
function tickStep(end) {
  const raw = end / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
}

function axis(end, scale, base) {
  const g = svg("g", { "aria-hidden": "true" });
  g.append(svg("line", { class: "axis", x1: TL.left, x2: TL.w - TL.right, y1: base, y2: base }));
  const step = tickStep(end);
  for (let t = 0; t <= end + step * 1e-9; t += step) {
    const x = scale(t);
    g.append(
      svg("line", { class: "grid", x1: x, x2: x, y1: TL.top, y2: base }),
      svg("line", { class: "axis", x1: x, x2: x, y1: base, y2: base + 4 }),
      svg("text", { x, y: base + 16, "text-anchor": "middle", text: fmtMs(t) }),
    );
  }
  return g;
}

/** Shade the pauses that stand out (longer than 3× the median gap and 8 % of the axis):
 *  between writes, and the silence after the last write until the answer ended or the client left. */
function gaps(writes, silentUntil, scale, base, end) {
  const g = svg("g", { "aria-hidden": "true" });
  if (!writes.length) return g;
  const spans = writes.slice(1).map((w, i) => [writes[i][0], w[0]]);
  const lastWrite = writes[writes.length - 1][0];
  if (given(silentUntil) && silentUntil > lastWrite) spans.push([lastWrite, silentUntil]);
  if (!spans.length) return g;
  const sorted = spans.map(([a, b]) => b - a).sort((a, b) => a - b);
  const median = sorted.length > 2 ? sorted[Math.floor(sorted.length / 2)] : 0;
  const big = spans
    .filter(([a, b]) => b - a > Math.max(3 * median, end * 0.08))
    .sort((x, y) => (y[1] - y[0]) - (x[1] - x[0]))
    .slice(0, 6);
  for (const [a, b] of big) {
    const x1 = scale(a), x2 = scale(b);
    g.append(svg("rect", { class: "gap", x: x1, y: TL.top, width: x2 - x1, height: base - TL.top }));
    if (x2 - x1 > 44) g.append(svg("text", { class: "gap-label", x: (x1 + x2) / 2, y: base - 6, "text-anchor": "middle", text: `gap ${fmtMs(b - a)}` }));
  }
  return g;
}

function writeMark([ms, bytes, chunks], i, scale, base, maxBytes) {
  const x = scale(ms);
  const height = Math.max(3, Math.sqrt(bytes / maxBytes) * (base - TL.top - 14)); // √: small writes stay visible
  return svg("g", { "data-testid": "timeline-write", "data-ms": ms, "data-bytes": bytes },
    svg("title", { text: `write ${i + 1}: at ${fmtMs(ms)}, ${fmtInt(bytes)} bytes, ${fmtInt(chunks)} chunks sent after it` }),
    svg("rect", { class: "hit", x: x - 4, y: TL.top, width: 8, height: base - TL.top }),
    svg("rect", { class: "write", x: x - 1.5, y: base - height, width: 3, height }));
}

/** A label beside a vertical mark at `x`, turned to the left near the right edge. */
function label(x, y, text, kind) {
  const right = x > TL.w - TL.right - 90;
  return svg("text", { class: `${kind}-label`, x: right ? x - 6 : x + 6, y, "text-anchor": right ? "end" : "start", text });
}

function marker(kind, x, base, title, testid, text) {
  return svg("g", { "data-testid": testid },
    svg("title", { text: title }),
    svg("line", { class: kind, x1: x, x2: x, y1: TL.top - 6, y2: base }),
    text ? label(x, TL.top - 8, text, kind) : null);
}

function faultMark(e, x, base) {
  const where = e.fault_after_chunks !== null && e.fault_after_chunks !== undefined ? `, after ${e.fault_after_chunks} chunks` : "";
  return svg("g", { "data-testid": "timeline-fault" },
    svg("title", { text: `fault ${e.fault || ""} fired at ${fmtMs(e.fault_at_ms)}${where}` }),
    svg("line", { class: "fault", x1: x, x2: x, y1: TL.top - 4, y2: base }),
    svg("path", { class: "fault-head", d: `M ${x - 6} ${TL.top - 10} L ${x + 6} ${TL.top - 10} L ${x} ${TL.top - 1} Z` }),
    label(x, TL.top + 10, `${e.fault || "fault"} at ${fmtMs(e.fault_at_ms)}`, "fault"));
}

function legend() {
  const item = (color, text) => el("span", null, (() => { const i = el("i"); i.style.background = color; return i; })(), text);
  return el("div", { class: "legend", "aria-hidden": "true" },
    item("var(--bar)", "a write (taller: more bytes)"), item("var(--ttft)", "time to first token"),
    item("#d32f2f", "fault"), item("var(--warn-soft)", "a long gap"));
}

function timelineSummary(e, writes) {
  const bytes = writes.reduce((sum, w) => sum + w[1], 0);
  let longest = null;
  for (let i = 1; i < writes.length; i++) {
    const gap = writes[i][0] - writes[i - 1][0];
    if (!longest || gap > longest.gap) longest = { gap, after: i };
  }
  const bits = [`${writes.length} write${writes.length === 1 ? "" : "s"}, ${fmtInt(bytes)} bytes`];
  if (writes.length) bits.push(`last at ${fmtMs(writes[writes.length - 1][0])}`);
  if (e.ttft_ms !== null && e.ttft_ms !== undefined) bits.push(`TTFT ${fmtMs(e.ttft_ms)}`);
  if (longest) bits.push(`longest gap between writes ${fmtMs(longest.gap)} (after write ${longest.after})`);
  const until = e.client_disconnected ? e.disconnected_after_ms : e.duration_ms;
  if (writes.length && given(until) && until - writes[writes.length - 1][0] > 1) {
    bits.push(`then nothing for ${fmtMs(until - writes[writes.length - 1][0])} until ${e.client_disconnected ? "the client left" : "the end"}`);
  }
  if (e.fault_at_ms !== null && e.fault_at_ms !== undefined) bits.push(`fault ${e.fault || ""} at ${fmtMs(e.fault_at_ms)}`);
  return bits.join(" · ");
}

// -- copy as curl ------------------------------------------------------------------------------

/** Headers curl sets itself, or that would change the answer's encoding or framing. */
const SKIP_HEADERS = new Set(["host", "content-length", "connection", "accept-encoding", "transfer-encoding", "keep-alive", "te", "upgrade", "expect"]);
/** Headers that carry the API key: written with $MOCKROUTER_KEY. */
const KEY_HEADERS = { authorization: "Bearer $MOCKROUTER_KEY", "x-api-key": "$MOCKROUTER_KEY", "api-key": "$MOCKROUTER_KEY" };

const shellQuote = (text) => `'${String(text).replace(/'/g, `'\\''`)}'`;

function curlCommand(e) {
  if (!e.method) return "";
  const query = e.query ? (String(e.query).startsWith("?") ? e.query : `?${e.query}`) : "";
  const lines = [`curl${e.stream ? " -N" : ""} -X ${e.method} ${shellQuote(location.origin + e.path + query)}`];
  for (const [name, value] of Object.entries(e.headers || {})) {
    const lower = name.toLowerCase();
    if (SKIP_HEADERS.has(lower)) continue;
    if (lower in KEY_HEADERS) lines.push(`-H "${name}: ${KEY_HEADERS[lower]}"`);
    else if (value !== "[REDACTED]") lines.push(`-H ${shellQuote(`${name}: ${value}`)}`);
  }
  if (e.body !== null && e.body !== undefined) {
    lines.push(`--data-raw ${shellQuote(typeof e.body === "string" ? e.body : JSON.stringify(e.body))}`);
  }
  return lines.join(" \\\n  ");
}

async function copyCurl(e) {
  const text = curlCommand(e);
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied the curl command (set MOCKROUTER_KEY first)");
  } catch {
    const pre = document.querySelector('[data-testid="curl-text"]');
    if (pre) {
      const range = document.createRange();
      range.selectNodeContents(pre);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      pre.scrollIntoView({ block: "nearest" });
    }
    toast("Selected the curl command: press Ctrl+C to copy it");
  }
}

// -- scenarios and cursors ---------------------------------------------------------------------

async function loadScenarios() {
  const body = $("scenarios-body");
  try {
    const [scenarios, cursors] = await Promise.all([api("/scenarios"), api("/cursors").catch(() => ({ data: [] }))]);
    body.replaceChildren(scenarioList(scenarios.data, cursors.data));
    $("scenario-names").replaceChildren(...scenarios.data.map((s) => el("option", { value: s.name })));
  } catch (err) {
    body.replaceChildren(el("p", { class: "error", text: `Could not load the scenarios (${err.message}).` }));
  }
}

function scenarioList(scenarios, cursors) {
  const byScenario = new Map();
  for (const c of cursors) {
    if (!byScenario.has(c.scenario)) byScenario.set(c.scenario, []);
    byScenario.get(c.scenario).push(c);
  }
  const ordered = [...scenarios].sort((a, b) => Number(a.builtin) - Number(b.builtin));
  const items = ordered.map((s) => scenarioItem(s, byScenario.get(s.name) || []));
  const known = new Set(scenarios.map((s) => s.name));
  const others = cursors.filter((c) => !known.has(c.scenario));
  if (others.length) {
    items.push(el("div", { class: "item" }, el("div", { class: "item-head" }, el("strong", { text: "other cursors" })),
      el("div", { class: "cursors" }, others.map((c) => cursorChip(c, null)))));
  }
  if (!items.length) return el("p", { class: "note", text: "No scenarios loaded." });
  return el("div", { class: "list" }, items);
}

function scenarioItem(s, cursors) {
  const where = s.builtin ? "built in" : s.file ? `${s.file}${s.line ? `:${s.line}` : ""}` : "";
  return el(
    "div",
    { class: "item", "data-scenario": s.name },
    el("div", { class: "item-head" },
      el("button", { type: "button", class: "link", title: "Show its requests in the journal", text: s.name,
        on: { click: () => setFilter("scenario", s.name) } }),
      el("span", { class: "pill", text: `priority ${s.priority}` }),
      el("span", { class: "pill", text: `${s.steps} step${s.steps === 1 ? "" : "s"}, then ${s.then}` }),
      s.builtin ? el("span", { class: "pill", text: "built in" }) : null,
      el("span", { class: "muted", text: where })),
    s.description ? el("p", { class: "muted", text: s.description }) : null,
    el("pre", { class: "match box", text: matchText(s.match) }),
    cursors.length ? el("div", { class: "cursors" }, cursors.map((c) => cursorChip(c, s))) : null,
  );
}

function matchText(match) {
  if (!match) return "match: none (chosen by the X-Mockrouter-Scenario header or the model name)";
  const lines = Object.entries(match).map(([k, v]) => `  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return ["match:", ...lines].join("\n");
}

/** A cursor: who moved it, how many requests it served, the step its next request gets. */
function cursorChip(c, scenario) {
  const chip = el("span", { class: "cursor", "data-testid": "cursor", "data-scenario": c.scenario },
    `${scenario ? "" : `${c.scenario} · `}${c.who} · served ${c.served}`);
  if (scenario && scenario.steps) {
    const next = nextStep(scenario, c.served);
    chip.append(` · next ${next === null ? "exhausted" : `step ${next}`}`);
    const dots = el("span", { class: "steps", "aria-hidden": "true" });
    for (let i = 0; i < Math.min(scenario.steps, 24); i++) {
      dots.append(el("i", { class: i === next ? "next" : i < Math.min(c.served, scenario.steps) ? "done" : "" }));
    }
    chip.append(dots);
  }
  return chip;
}

function nextStep(s, served) {
  if (served < s.steps) return served;
  if (s.then === "cycle") return served % s.steps;
  if (s.then === "exhausted") return null;
  return s.steps - 1;
}

function setFilter(name, value) {
  const input = $(`filter-${name}`);
  input.value = value;
  onFilterInput();
  $("journal").scrollIntoView({ block: "nearest" });
}

// -- the resilience report ---------------------------------------------------------------------

async function loadReport() {
  const body = $("report-body");
  try {
    const report = await api("/report");
    body.replaceChildren(reportList(report.data));
  } catch (err) {
    body.replaceChildren(el("p", { class: "error", text: `Could not load the report (${err.message}).` }));
  }
}

function reportList(keys) {
  if (!keys.length) return el("p", { class: "note", text: "No requests with an API key yet." });
  return el("div", { class: "list" }, keys.map((k) => el(
    "div",
    { class: "item", "data-key": k.key_hint },
    el("div", { class: "item-head" },
      el("button", { type: "button", class: "link", text: `key ${keyLabel(k.key_hint)}`, title: "Show this key's requests",
        on: { click: () => setFilter("key", k.key_hint || "") } }),
      el("span", { class: "muted", text: `${fmtInt(k.requests)} request${k.requests === 1 ? "" : "s"}` }),
      k.findings.length ? el("span", { class: "pill bad", text: `${k.findings.length} finding${k.findings.length === 1 ? "" : "s"}` })
        : el("span", { class: "pill ok", text: "no findings" })),
    k.findings.map(findingView),
  )));
}

function findingView(f) {
  return el("div", { class: "finding", "data-testid": "finding", "data-kind": f.kind },
    el("span", { class: "pill warn", text: f.kind }), " ", f.message,
    el("div", { class: "ids" }, f.request_ids.map((id) => el("button", {
      type: "button", class: "link", "data-request": id, text: id, title: "Open this request",
      on: { click: () => showRequest(id) },
    }))));
}

/** Open a request from a link elsewhere on the page (selected in the journal when loaded). */
function showRequest(id) {
  if (rowOf(id) >= 0) select(id);
  openDetail(id);
  $("detail").focus();
}

// -- health, and keeping the side panels fresh ---------------------------------------------------

async function loadHealth() {
  try {
    const h = await api("/health");
    const store = h.store && h.store.url ? h.store.url.replace(/\/\/[^@/]*@/, "//") : null; // no password
    $("health").textContent = [
      `v${h.version}`, `${h.dialect} dialect`, `${h.scenarios} scenarios`,
      `journal ${fmtInt(h.journal.entries)} entries${h.journal.dropped ? ` (${fmtInt(h.journal.dropped)} dropped)` : ""}`,
      store && `store ${store}`,
    ].filter(Boolean).join(" · ");
  } catch (err) {
    $("health").textContent = `health: ${err.message}`;
  }
}

function refreshSides() {
  if (document.hidden) return;
  loadHealth();
  loadScenarios();
  loadReport();
}

let sidesTimer = null;
/** At most one refresh of the side panels every 1.5 s while requests arrive. */
function refreshSidesSoon() {
  if (sidesTimer) return;
  sidesTimer = setTimeout(() => {
    sidesTimer = null;
    refreshSides();
  }, 1500);
}

// -- reset -------------------------------------------------------------------------------------

function openReset() {
  $("reset-error").textContent = "";
  $("reset-key").value = "";
  $("reset-dialog").showModal();
  $("reset-confirm").focus();
}

async function confirmReset(event) {
  event.preventDefault();
  const key = $("reset-key").value.trim();
  try {
    await api("/reset", { method: "POST", params: { key } });
  } catch (err) {
    $("reset-error").textContent = `Reset failed: ${err.message}`;
    return;
  }
  $("reset-dialog").close();
  if (key) loadNewest();
  else onReset();
  toast(key ? "Reset that key's state" : "Reset everything");
}

// -- the keyboard --------------------------------------------------------------------------------

const typing = (t) => t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName));

function onKey(event) {
  if ($("reset-dialog").open || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  const inJournal = target === $("journal");
  if (typing(target)) {
    if (event.key === "Escape") {
      target.blur();
      $("journal").focus();
    }
    return;
  }
  const moves = { j: 1, k: -1, ArrowDown: 1, ArrowUp: -1 };
  const pageRows = Math.max(1, Math.floor($("journal").clientHeight / ROW_H) - 1);
  if (event.key === "/") {
    event.preventDefault();
    $("filter-key").focus();
    $("filter-key").select();
  } else if (event.key in moves && (inJournal || event.key.length === 1 || target === document.body)) {
    event.preventDefault();
    moveSelection(moves[event.key]);
  } else if (inJournal && (event.key === "PageDown" || event.key === "PageUp")) {
    event.preventDefault();
    moveSelection(event.key === "PageDown" ? pageRows : -pageRows);
  } else if (inJournal && (event.key === "Home" || event.key === "End")) {
    event.preventDefault();
    moveSelection(event.key === "Home" ? -Infinity : Infinity);
  } else if (event.key === "Enter" && inJournal && state.selected) {
    event.preventDefault();
    openDetail(state.selected);
  } else if (event.key === "Escape" && state.open) {
    event.preventDefault();
    closeDetail();
  }
}

// -- start -------------------------------------------------------------------------------------

function wire() {
  const journal = $("journal");
  let scrollQueued = false;
  journal.addEventListener("scroll", () => {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      renderJournal();
    });
  }, { passive: true });
  journal.addEventListener("click", (event) => {
    const node = event.target.closest('[data-testid="journal-row"]');
    if (!node) return;
    select(node.dataset.id, { scroll: false });
    openDetail(node.dataset.id);
  });
  new ResizeObserver(() => renderJournal()).observe(journal);
  const form = $("filters");
  form.addEventListener("input", onFilterInput);
  form.addEventListener("change", onFilterInput);
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("reset", () => setTimeout(onFilterInput));
  $("older").addEventListener("click", loadOlder);
  $("reset").addEventListener("click", openReset);
  $("reset-confirm").addEventListener("click", confirmReset);
  $("reset-key").addEventListener("keydown", (event) => { if (event.key === "Enter") confirmReset(event); });
  $("scenarios-refresh").addEventListener("click", loadScenarios);
  $("report-refresh").addEventListener("click", loadReport);
  document.addEventListener("keydown", onKey);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshSides(); });
}

async function start() {
  wire();
  state.filter = readFilter();
  state.loading = true;
  renderJournal();
  refreshSides();
  await connect(null); // open the stream first so nothing journaled meanwhile is missed
  await loadNewest();
}

start();
