// Front end of WebSocketPanel and WebSocketServerPanel (anywidget ESM).
//
// Safety rule of this file: text that came from the network or the kernel is
// only ever put in the page with text nodes (textContent, createTextNode,
// input.value, SVG <text>/<title> text nodes). Nothing here parses HTML.
//
// What is drawn is computed in the kernel (ohws_jupyter/panel_model.py): each
// log entry carries its one-line fields and its timeline arrows ("flow"), so
// this file only lays them out.

const SVG_NS = "http://www.w3.org/2000/svg";

const FILTERS = {
  all: () => true,
  in: (e) => e.kind === "message" && e.dir === "<",
  out: (e) => e.kind === "message" && e.dir === ">",
  text: (e) => e.type === "text",
  json: (e) => e.type === "json",
  binary: (e) => e.type === "binary",
  events: (e) => e.type === "event",
  errors: (e) => e.type === "error",
};
const FILTER_LABELS = [
  ["all", "All"],
  ["in", "Received"],
  ["out", "Sent"],
  ["text", "Text"],
  ["json", "JSON"],
  ["binary", "Binary"],
  ["events", "Events"],
  ["errors", "Errors"],
];
const MODES = [
  ["text", "Text"],
  ["json", "JSON"],
  ["hex", "Binary (hex)"],
  ["base64", "Binary (base64)"],
];
const CLIENT_VIEWS = [
  ["messages", "Messages"],
  ["handshake", "Handshake"],
  ["timeline", "Timeline"],
  ["rates", "Rates"],
];
const SERVER_VIEWS = [
  ["messages", "Messages"],
  ["timeline", "Timeline"],
];
const TYPE_LABEL = { text: "text", json: "JSON", binary: "binary", event: "event", error: "error" };
const TOOLS = [
  ["export", "Export"],
  ["transcript", "Save transcript"],
  ["replay", "Replay"],
  ["expect", "Expect"],
];
const EXPORT_FORMATS = [
  ["js", "JavaScript"],
  ["python", "Python"],
  ["wscat", "wscat"],
  ["websocat", "websocat"],
  ["arkts", "ArkTS"],
];
const TRANSCRIPT_FORMATS = [
  ["jsonl", "JSON lines (.jsonl)"],
  ["har", "HAR (.har)"],
];
const REPLAY_TIMINGS = [
  ["fast", "fast"],
  ["recorded", "recorded timing"],
];
const EXPECT_KINDS = [
  ["regex", "regex"],
  ["json", "JSON contains"],
];
const EXPORT_SHOWN = 1024 * 1024; // characters of exported code drawn (Copy copies all)

// ---------------------------------------------------------------------------
// Small helpers

// Build an element; string children become text nodes, never markup.
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  appendAll(el, children);
  return el;
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  appendAll(el, children);
  return el;
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el) el[key] = value;
    else el.setAttribute(key, value);
  }
}

function appendAll(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function formatCount(n) {
  return Math.round(n).toLocaleString("en-US");
}

// "1 msg", "2 msgs": a count and its word, as panel_model.plural in the kernel.
function plural(n, one, many = `${one}s`) {
  return `${formatCount(n)} ${Math.round(n) === 1 ? one : many}`;
}

function formatTime(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (x, w = 2) => String(x).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function formatDelta(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return `+${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `+${seconds.toFixed(1)} s`;
  return `+${(seconds / 60).toFixed(1)} min`;
}

function formatDuration(seconds) {
  const v = Math.max(0, Math.floor(seconds));
  const pad = (x) => String(x).padStart(2, "0");
  return `${pad(Math.floor(v / 3600))}:${pad(Math.floor((v % 3600) / 60))}:${pad(v % 60)}`;
}

// The same checks the kernel makes, so mistakes show while typing.
function checkInput(text, mode) {
  if (mode === "json") {
    try {
      JSON.parse(text);
    } catch (err) {
      return `not valid JSON: ${err.message}`;
    }
  } else if (mode === "hex") {
    const digits = text.replace(/\s+/g, "").replace(/^0x/i, "");
    if (!/^([0-9a-fA-F]{2})*$/.test(digits)) return "not valid hex: use pairs of 0-9/a-f digits";
  } else if (mode === "base64") {
    const compact = text.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      return "not valid base64";
    }
  }
  return "";
}

function entryText(e) {
  if (e.kind === "close" || e.kind === "closing") return `${e.code ?? ""} ${e.reason ?? ""}`.trim();
  return e.text ?? "";
}

// The kind filter and the regex search (plain text if it does not compile),
// as panel.matcher() in the kernel.
function matcher(filter, search) {
  const keep = FILTERS[filter] ?? FILTERS.all;
  if (!search) return keep;
  let test;
  try {
    const re = new RegExp(search, "i");
    test = (hay) => re.test(hay);
  } catch (err) {
    const needle = search.toLowerCase();
    test = (hay) => hay.toLowerCase().includes(needle);
  }
  return (e) => keep(e) && test(`${e.kind} ${entryText(e)} ${e.explain ?? ""}`);
}

function dirName(e) {
  if (e.kind !== "message") return "state";
  return e.dir === ">" ? "sent" : "received";
}

function dirMark(e) {
  if (e.kind === "message" || e.kind === "ping" || e.kind === "pong") return e.dir === ">" ? "↑" : "↓";
  if (e.type === "error") return "✕";
  return "•";
}

// One line of preview: whitespace collapsed, at most ~200 characters.
function preview(e) {
  if (e.kind === "message") {
    if (e.binary) {
      const hex = (e.text ?? "").slice(0, 24 * 3);
      return e.size > 24 ? `${hex} …` : hex;
    }
    if (!e.size) return "(empty)";
    const text = (e.text ?? "").slice(0, 240).replace(/\s+/g, " ");
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  }
  if (e.kind === "close" || e.kind === "closing") {
    const what = e.kind === "closing" ? (e.dir === "<" ? "close frame received" : "close frame sent") : "closed";
    return `${what} ${entryText(e)}`.trim();
  }
  if (e.kind === "open") return e.text ? `open · ${e.text}` : "open";
  if (e.kind === "connect") return `connect ${e.text ?? ""}`.trim();
  if (e.kind === "error") return e.text ?? "error";
  return `${e.kind} ${e.text ?? ""}`.trim();
}

function b64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function hexToBytes(hex) {
  const digits = hex.replace(/\s+/g, "");
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.substr(i * 2, 2), 16);
  return out;
}

function bytesToB64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

// `hexdump -C` layout, as panel_model.hexdump in the kernel.
function hexdump(bytes, limit) {
  const n = Math.min(bytes.length, limit ?? bytes.length);
  const hex = (b) => b.toString(16).padStart(2, "0");
  const lines = [];
  for (let start = 0; start < n; start += 16) {
    const row = bytes.subarray(start, Math.min(start + 16, n));
    const left = Array.from(row.subarray(0, 8), hex).join(" ").padEnd(23);
    const right = Array.from(row.subarray(8), hex).join(" ").padEnd(23);
    let text = "";
    for (const b of row) text += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
    lines.push(`${start.toString(16).padStart(8, "0")}  ${left}  ${right}  |${text}|`);
  }
  return lines.join("\n");
}

// A collapsible JSON tree; the first two levels open. Bounded in nodes.
function jsonTree(value) {
  let budget = 5000;
  const leaf = (v) => {
    if (v === null) return h("span", { class: "ohws-json-null" }, "null");
    if (typeof v === "string") return h("span", { class: "ohws-json-string" }, JSON.stringify(v));
    if (typeof v === "number") return h("span", { class: "ohws-json-number" }, String(v));
    return h("span", { class: "ohws-json-bool" }, String(v));
  };
  const node = (key, v, depth) => {
    budget -= 1;
    const label = key === null ? [] : [h("span", { class: "ohws-json-key" }, `${key}: `)];
    if (v === null || typeof v !== "object") return h("div", { class: "ohws-json-leaf" }, ...label, leaf(v));
    const isArray = Array.isArray(v);
    const keys = isArray ? v.map((_, i) => i) : Object.keys(v);
    const summary = isArray ? `[…] ${plural(keys.length, "item")}` : `{…} ${plural(keys.length, "key")}`;
    const box = h("details", { class: "ohws-json-node", open: depth < 2 }, h("summary", {}, ...label, summary));
    for (const k of keys) {
      if (budget <= 0) {
        box.append(h("div", { class: "ohws-note" }, "… (more not shown)"));
        break;
      }
      box.append(node(isArray ? k : k, v[k], depth + 1));
    }
    return box;
  };
  return h("div", { class: "ohws-json" }, node(null, value, 0));
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (err) {
    // Without clipboard permission (e.g. plain http): the old way.
    const area = h("textarea", { value: text });
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err2) {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

function viewId() {
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

// Watch model events; returns a function that stops them all.
function listen(model, pairs) {
  for (const [name, fn] of pairs) model.on(name, fn);
  return () => {
    for (const [name, fn] of pairs) model.off(name, fn);
  };
}

// ---------------------------------------------------------------------------
// The log: message list + detail pane, and the timeline. Shared by both panels.

function createLog(model, { server, onResend, laneNames }) {
  const max = () => model.get("max_entries");
  const st = {
    entries: [],
    syncedSeq: -1, // -1 until this view got its snapshot
    latestSeq: 0,
    dropped: 0,
    detail: null, // the kernel's detail message of the selected entry
  };

  // -- message list
  const list = h("div", { class: "ohws-list", tabIndex: 0, title: "↑/↓ move the selection" });
  const listInfo = h("span", { class: "ohws-loginfo" });
  const rowsBySeq = new Map();
  let visible = [];

  const rowOf = (e) => {
    const row = h(
      "div",
      { class: `ohws-row ohws-kind-${e.kind} ohws-type-${e.type} ohws-dir-${dirName(e)}` },
      h("span", { class: "ohws-dir", title: dirName(e) }, dirMark(e)),
      h("span", { class: "ohws-time" }, formatTime(e.time)),
      h("span", { class: "ohws-delta" }, formatDelta(e.delta)),
      h("span", { class: "ohws-size" }, e.kind === "message" ? formatBytes(e.size) : ""),
      h("span", { class: `ohws-type ohws-typ-${e.type}` }, TYPE_LABEL[e.type] ?? e.type),
      h("span", { class: "ohws-text" }, preview(e)),
    );
    row.dataset.seq = String(e.seq);
    if (e.seq === model.get("selected")) row.classList.add("ohws-selected");
    return row;
  };

  const showInfo = () => {
    let text = `${visible.length} shown of ${st.entries.length}`;
    if (st.dropped) text += ` · ${st.dropped} dropped`;
    if (model.get("paused")) text += ` · paused, ${Math.max(0, st.latestSeq - st.syncedSeq)} new`;
    listInfo.textContent = text;
  };

  const atBottom = (box) => box.scrollHeight - box.scrollTop - box.clientHeight < 24;

  // Only the rows in sight are in the page: a full window of 1,000 entries
  // costs what 30 rows cost, whatever the filter.
  const ROW_H = 19;
  const spacer = h("div", { class: "ohws-spacer" });
  list.append(spacer);
  let drawnRows = [-1, -1];
  let listTop = null; // scroll position kept while the list is hidden (null: at the bottom)
  const drawRows = (force) => {
    const height = list.clientHeight || 340;
    const first = Math.max(0, Math.floor(list.scrollTop / ROW_H) - 5);
    const last = Math.min(visible.length, first + Math.ceil(height / ROW_H) + 10);
    if (!force && first === drawnRows[0] && last === drawnRows[1]) return;
    drawnRows = [first, last];
    rowsBySeq.clear();
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const row = rowOf(visible[i]);
      row.style.top = `${i * ROW_H}px`;
      rowsBySeq.set(visible[i].seq, row);
      frag.append(row);
    }
    spacer.replaceChildren(frag);
  };
  let scrollPending = false;
  list.addEventListener("scroll", () => {
    if (scrollPending) return;
    scrollPending = true;
    requestAnimationFrame(() => {
      scrollPending = false;
      drawRows(false);
    });
  });
  const toBottom = () => {
    spacer.style.height = `${visible.length * ROW_H}px`;
    list.scrollTop = list.scrollHeight;
  };
  const revealSelected = () => {
    const index = visible.findIndex((e) => e.seq === model.get("selected"));
    if (index < 0) return;
    const height = list.clientHeight || 340;
    if (index * ROW_H < list.scrollTop) list.scrollTop = index * ROW_H;
    else if ((index + 1) * ROW_H > list.scrollTop + height) list.scrollTop = (index + 1) * ROW_H - height;
  };

  const renderList = () => {
    const keep = matcher(model.get("kind_filter"), model.get("search"));
    visible = st.entries.filter(keep);
    toBottom();
    revealSelected();
    drawRows(true);
    showInfo();
  };

  // Whether the selected row is (at least partly) in sight: then new entries
  // do not scroll the list, so what the user is reading stays where it is.
  const selectedInSight = () => {
    const index = visible.findIndex((e) => e.seq === model.get("selected"));
    if (index < 0) return false;
    const height = list.clientHeight || 340;
    return (index + 1) * ROW_H > list.scrollTop && index * ROW_H < list.scrollTop + height;
  };

  const appendList = (fresh) => {
    const stick = atBottom(list) && !selectedInSight();
    const keep = matcher(model.get("kind_filter"), model.get("search"));
    for (const e of fresh) if (keep(e)) visible.push(e);
    // Entries that left the window leave the list too.
    const first = st.entries.length ? st.entries[0].seq : Infinity;
    let cut = 0;
    while (cut < visible.length && visible[cut].seq < first) cut += 1;
    if (cut) {
      visible = visible.slice(cut);
      if (!stick) list.scrollTop = Math.max(0, list.scrollTop - cut * ROW_H);
    }
    spacer.style.height = `${visible.length * ROW_H}px`;
    if (stick) list.scrollTop = list.scrollHeight;
    drawRows(true);
    showInfo();
  };

  // The list leaves the page while another view shows; it comes back where it was.
  const hideList = () => {
    listTop = atBottom(list) ? null : list.scrollTop;
  };
  const showList = () => {
    spacer.style.height = `${visible.length * ROW_H}px`;
    list.scrollTop = listTop === null ? list.scrollHeight : listTop;
    drawRows(true);
  };

  const select = (seq) => {
    model.set("selected", seq);
    model.save_changes();
  };
  list.addEventListener("click", (ev) => {
    const row = ev.target.closest(".ohws-row");
    if (row) select(Number(row.dataset.seq));
    list.focus({ preventScroll: true });
  });
  list.addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowUp" && ev.key !== "ArrowDown") return;
    ev.preventDefault();
    ev.stopPropagation(); // JupyterLab would move between cells
    if (!visible.length) return;
    const current = visible.findIndex((e) => e.seq === model.get("selected"));
    let next;
    if (current < 0) next = ev.key === "ArrowUp" ? visible.length - 1 : 0;
    else next = Math.max(0, Math.min(visible.length - 1, current + (ev.key === "ArrowUp" ? -1 : 1)));
    select(visible[next].seq);
  });

  // -- detail pane
  const detailBox = h("div", { class: "ohws-detail" });
  const saveName = h("input", { class: "ohws-save-name", type: "text", placeholder: "name", spellcheck: false });
  const saveForm = h(
    "span",
    { class: "ohws-save-form", hidden: true },
    saveName,
    h("button", { class: "ohws-save-ok" }, "Save"),
  );
  const copied = h("span", { class: "ohws-note ohws-copied" });
  let copiedSeq = null; // the entry "copied" is about: a redraw of it keeps the note

  // The whole message, as far as this view has it: from the kernel's detail
  // message, or the entry's preview until that arrives.
  const wholeOf = (e) => {
    const d = st.detail && st.detail.seq === e.seq && st.detail.entry ? st.detail : null;
    if (e.kind !== "message") return { kind: "event" };
    if (e.binary) {
      if (d && d.b64 !== undefined) return { bytes: b64ToBytes(d.b64), shown: d.shown, length: d.length, complete: d.entry.complete, loaded: true };
      return { bytes: hexToBytes(e.text ?? ""), shown: Math.min(e.size, 1024), length: e.size, complete: !e.truncated, loaded: !e.truncated };
    }
    if (d && d.text !== undefined) return { text: d.text, shown: d.shown, length: d.length, complete: d.entry.complete, loaded: true };
    return { text: e.text ?? "", shown: (e.text ?? "").length, length: null, complete: !e.truncated, loaded: !e.truncated };
  };

  const fieldLine = (label, value) =>
    h("div", { class: "ohws-field" }, h("span", { class: "ohws-field-name" }, label), h("span", { class: "ohws-field-value" }, value));

  // `mine`: the names of the headers the user gave, marked ✎ among the rest.
  const headersTable = (headers, mine = null) => {
    const rows = Object.entries(headers ?? {});
    if (!rows.length) return h("div", { class: "ohws-note" }, "(none)");
    const own = new Set((mine ?? []).map((k) => k.toLowerCase()));
    return h(
      "table",
      { class: "ohws-headers" },
      h(
        "tbody",
        {},
        ...rows.map(([k, v]) => {
          const yours = own.has(k.toLowerCase());
          return h("tr", { class: yours ? "ohws-header-yours" : "" }, h("th", {}, k), h("td", {}, String(v)), mine ? h("td", { class: "ohws-header-mark", title: yours ? "a header you gave" : "added by the library" }, yours ? "✎" : "") : null);
        }),
      ),
    );
  };

  const renderDetail = () => {
    const seq = model.get("selected");
    const e = st.entries.find((x) => x.seq === seq) ?? (st.detail && st.detail.seq === seq ? st.detail.entry : null);
    saveForm.hidden = true;
    if (copiedSeq !== seq) {
      copied.textContent = "";
      copiedSeq = null;
    }
    if (!e) {
      detailBox.replaceChildren(
        h("div", { class: "ohws-note ohws-detail-empty" }, seq >= 0 ? "This entry left the log window." : "Select an entry to see it whole (↑/↓ move)."),
      );
      return;
    }
    const whole = wholeOf(e);
    const head = h(
      "div",
      { class: "ohws-detail-head" },
      h("span", { class: `ohws-dir ohws-dir-${dirName(e)}` }, dirMark(e)),
      h("span", {}, `${dirName(e)} · ${TYPE_LABEL[e.type] ?? e.type}`),
      e.kind === "message" ? h("span", {}, formatBytes(e.size)) : null,
      e.kind === "message" && !server ? h("span", { class: "ohws-pieces" }, `${e.pieces} ${e.pieces === 1 ? "piece" : "pieces"} of 4K`) : null,
      h("span", { class: "ohws-time" }, formatTime(e.time)),
      e.delta !== null && e.delta !== undefined ? h("span", { class: "ohws-delta" }, formatDelta(e.delta)) : null,
    );
    const tools = h("div", { class: "ohws-detail-tools" });
    const body = h("div", { class: "ohws-detail-body" });
    if (e.kind === "message") {
      const copyBtn = h("button", { class: "ohws-copy" }, "Copy");
      const resendBtn = h("button", { class: "ohws-resend", title: "put it in the composer" }, "Resend");
      const saveBtn = h("button", { class: "ohws-save" }, "Save…");
      copyBtn.addEventListener("click", async () => {
        const w = wholeOf(e);
        const ok = await copyText(w.bytes ? hexdump(w.bytes) : w.text);
        copiedSeq = e.seq;
        copied.textContent = ok ? "copied" : "copy failed: select the text instead";
      });
      resendBtn.addEventListener("click", () => {
        const w = wholeOf(e);
        if (w.bytes) onResend(bytesToB64(w.bytes), "base64");
        else onResend(w.text, e.type === "json" ? "json" : "text");
      });
      saveBtn.addEventListener("click", () => {
        saveForm.hidden = false;
        saveName.value = saveName.value || `${e.type} ${e.seq}`;
        saveName.focus();
        saveName.select();
      });
      tools.append(copyBtn, resendBtn, saveBtn, saveForm, copied);
      if (whole.bytes) {
        body.append(h("pre", { class: "ohws-hexdump" }, hexdump(whole.bytes, 65536)));
        if (whole.bytes.length > 65536) body.append(h("div", { class: "ohws-note" }, `hex dump of the first 65,536 of ${formatCount(whole.length)} bytes`));
      } else if (e.type === "json" && whole.complete) {
        let tree = null;
        try {
          tree = jsonTree(JSON.parse(whole.text));
        } catch (err) {
          tree = null;
        }
        const raw = h("pre", { class: "ohws-detail-text", hidden: tree !== null }, whole.text);
        if (tree) {
          const toggle = h("button", { class: "ohws-raw" }, "Raw");
          toggle.addEventListener("click", () => {
            raw.hidden = !raw.hidden;
            tree.hidden = !raw.hidden;
            toggle.textContent = raw.hidden ? "Raw" : "Tree";
          });
          tools.insertBefore(toggle, copyBtn);
          body.append(tree);
        }
        body.append(raw);
      } else {
        body.append(h("pre", { class: "ohws-detail-text" }, whole.text));
      }
      if (!whole.loaded) body.append(h("div", { class: "ohws-note" }, "loading the whole message…"));
      else if (!whole.complete) body.append(h("div", { class: "ohws-note" }, "only the start of this message was kept (the panel keeps the last 32 MiB of messages whole)"));
      else if (whole.length !== null && whole.shown < whole.length) body.append(h("div", { class: "ohws-note" }, `the first ${formatCount(whole.shown)} of ${formatCount(whole.length)} shown`));
    } else {
      body.append(fieldLine("event", e.kind));
      if (e.kind === "close" || e.kind === "closing") {
        body.append(fieldLine("code", String(e.code ?? "")), fieldLine("reason", e.reason ?? ""));
        if (e.explain) body.append(h("div", { class: "ohws-explain" }, e.explain));
      } else if (e.text) {
        body.append(h("pre", { class: "ohws-detail-text" }, e.text));
      }
      if (e.code !== undefined && e.kind === "error") body.append(fieldLine("code", String(e.code)));
      if (e.headers) body.append(h("div", { class: "ohws-field-name" }, "headers"), headersTable(e.headers));
    }
    detailBox.replaceChildren(head, tools, body);
  };
  saveForm.querySelector(".ohws-save-ok").addEventListener("click", () => {
    const seq = model.get("selected");
    if (saveName.value.trim()) model.send({ type: "save", name: saveName.value.trim(), seq });
    saveForm.hidden = true;
  });
  saveName.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") saveForm.querySelector(".ohws-save-ok").click();
    ev.stopPropagation();
  });

  const onSelected = () => {
    revealSelected();
    drawRows(true);
    renderDetail();
    timeline.mark();
  };

  // -- timeline (SVG sequence diagram; only the rows in sight are drawn)
  // A row: the label above its arrow, the arrow's 4K-piece ticks on it, clear
  // of the label's descenders, and "dataEnd" under the arrow's end.
  const ROW = 28;
  const TOP = 8;
  const timeline = (() => {
    const box = h("div", { class: "ohws-timeline" });
    const hover = h("div", { class: "ohws-hover" }, "Hover an arrow to see its entry; click to select it.");
    let width = 720;
    let steps = [];
    let drawn = [-1, -1];
    // The lane names stay in sight above the scrolling diagram.
    const header = s("svg", { class: "ohws-svg ohws-lanes-head", width, height: 20 });
    const root = s("svg", { class: "ohws-svg", width, height: TOP });
    const lanes = s("g", { class: "ohws-lanes" });
    const rows = s("g", { class: "ohws-steps" });
    root.append(lanes, rows);
    box.append(root);
    const x = (lane) => (lane === "c" ? 150 : width - 90);

    // The filter bar's kind and search apply here as in the message list.
    const build = () => {
      const keep = matcher(model.get("kind_filter"), model.get("search"));
      steps = [];
      for (const e of st.entries) if (keep(e)) for (const f of e.flow ?? []) steps.push([e, f]);
    };
    const stepAt = (top) => Math.max(0, Math.floor((top - TOP) / ROW));
    const selectedInSight = () => {
      const selected = model.get("selected");
      const first = stepAt(box.scrollTop);
      const last = stepAt(box.scrollTop + box.clientHeight);
      for (let i = first; i <= last && i < steps.length; i++) if (steps[i][0].seq === selected) return true;
      return false;
    };
    const drawLanes = () => {
      const height = TOP + steps.length * ROW + 10;
      root.setAttribute("height", String(height));
      root.setAttribute("width", String(width));
      header.setAttribute("width", String(width));
      header.replaceChildren(
        s("text", { x: x("c"), y: 14, class: "ohws-lane-name", "text-anchor": "middle" }, laneNames[0]()),
        s("text", { x: x("s"), y: 14, class: "ohws-lane-name", "text-anchor": "middle" }, laneNames[1]()),
      );
      lanes.replaceChildren(
        s("line", { x1: x("c"), x2: x("c"), y1: 0, y2: height, class: "ohws-lifeline" }),
        s("line", { x1: x("s"), x2: x("s"), y1: 0, y2: height, class: "ohws-lifeline" }),
      );
    };
    const stepOf = (i) => {
      const [e, [from, to, label, style, pieces]] = steps[i];
      const y = TOP + i * ROW + 18;
      const side = style === "msg" ? ` ohws-step-${dirName(e)}` : "";
      const g = s("g", { class: `ohws-step ohws-step-${style}${side}` });
      g.dataset.seq = String(e.seq);
      if (e.seq === model.get("selected")) g.classList.add("ohws-selected");
      // The whole row answers hover and click, not only the thin arrow.
      g.append(s("rect", { x: 0, y: y - 17, width, height: ROW, class: "ohws-hit" }));
      g.append(s("text", { x: 4, y, class: "ohws-step-time" }, formatTime(e.time)));
      if (from === "x") {
        g.append(
          s("line", { x1: x("c") - 20, x2: x("s") + 20, y1: y - 4, y2: y - 4, class: "ohws-band" }),
          s("text", { x: (x("c") + x("s")) / 2, y: y - 8, "text-anchor": "middle", class: "ohws-step-label" }, (style === "lost" ? "✕ " : "") + label.slice(0, 90)),
        );
      } else {
        const x1 = x(from);
        const x2 = x(to);
        const dirn = x2 > x1 ? 1 : -1;
        g.append(
          s("line", { x1, x2: x2 - dirn * 7, y1: y, y2: y, class: "ohws-arrow" }),
          s("path", { d: `M${x2},${y} l${-dirn * 8},-4 l0,8 z`, class: "ohws-head" }),
          s("text", { x: (x1 + x2) / 2, y: y - 7, "text-anchor": "middle", class: "ohws-step-label" }, label.slice(0, 80)),
        );
        if (pieces > 1) {
          const n = Math.min(pieces, 24);
          for (let k = 1; k < n; k++) {
            const px = x1 + ((x2 - x1) * k) / n;
            g.append(s("line", { x1: px, x2: px, y1: y - 2.5, y2: y + 2.5, class: "ohws-piece" }));
          }
        }
        if (style === "msg" && !server && e.dir === "<") {
          // dataEnd: the client has the whole message (a server gets whole messages only).
          g.append(s("circle", { cx: x2, cy: y, r: 3.5, class: "ohws-dataend" }));
          if (pieces > 1) g.append(s("text", { x: x2 + (dirn > 0 ? 6 : -6), y: y + 11, "text-anchor": dirn > 0 ? "start" : "end", class: "ohws-dataend-label" }, "dataEnd"));
        }
      }
      g.append(s("title", {}, `${formatTime(e.time)} ${dirName(e)} ${e.kind}: ${label}`));
      return g;
    };
    const draw = () => {
      if (box.hidden) return;
      const first = Math.max(0, Math.floor((box.scrollTop - TOP) / ROW) - 10);
      const last = Math.min(steps.length, first + Math.ceil(box.clientHeight / ROW) + 20);
      if (drawn[0] === first && drawn[1] === last) return;
      drawn = [first, last];
      const frag = document.createDocumentFragment();
      for (let i = first; i < last; i++) frag.append(stepOf(i));
      rows.replaceChildren(frag);
    };
    // Bring the selected entry's first arrow into sight (the middle), if it is not.
    const reveal = () => {
      const selected = model.get("selected");
      const i = steps.findIndex(([e]) => e.seq === selected);
      if (i < 0 || selectedInSight()) return;
      box.scrollTop = Math.max(0, TOP + i * ROW - box.clientHeight / 2);
    };
    const full = () => {
      if (box.hidden) return;
      width = Math.max(520, box.clientWidth - 8 || 720);
      build();
      drawLanes();
      drawn = [-1, -1];
      box.scrollTop = box.scrollHeight;
      reveal();
      draw();
    };
    const add = (fresh) => {
      if (box.hidden) return;
      // Follow new arrows unless the user scrolled up or reads a selected one;
      // then the arrow at the top stays there, though older ones leave the window.
      const stick = atBottom(box) && !selectedInSight();
      const anchor = steps[stepAt(box.scrollTop)];
      const anchorAt = stepAt(box.scrollTop);
      build();
      drawLanes();
      drawn = [-1, -1];
      if (stick) box.scrollTop = box.scrollHeight;
      else if (anchor) {
        const now = steps.findIndex(([e, f]) => e === anchor[0] && f === anchor[1]);
        if (now >= 0 && now !== anchorAt) box.scrollTop += (now - anchorAt) * ROW;
      }
      draw();
    };
    let pending = false;
    box.addEventListener("scroll", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        draw();
      });
    });
    rows.addEventListener("mouseover", (ev) => {
      const g = ev.target.closest(".ohws-step");
      if (!g) return;
      const e = st.entries.find((x) => x.seq === Number(g.dataset.seq));
      if (e) hover.textContent = `${formatTime(e.time)} ${formatDelta(e.delta)} · ${dirName(e)} ${e.kind} · ${preview(e)}`;
    });
    rows.addEventListener("click", (ev) => {
      const g = ev.target.closest(".ohws-step");
      if (g) select(Number(g.dataset.seq));
    });
    const mark = () => {
      if (!box.hidden) {
        reveal();
        draw();
      }
      for (const g of rows.querySelectorAll(".ohws-selected")) g.classList.remove("ohws-selected");
      for (const g of rows.querySelectorAll(`.ohws-step[data-seq="${model.get("selected")}"]`)) g.classList.add("ohws-selected");
    };
    return { box, hover, full, add, mark, view: h("div", { class: "ohws-timeline-view" }, hover, header, box) };
  })();

  // -- filter bar
  const filterSelect = h("select", { class: "ohws-filter", title: "show only" }, ...FILTER_LABELS.map(([v, label]) => h("option", { value: v }, label)));
  const searchInput = h("input", { class: "ohws-search", type: "search", placeholder: "search (regex)", spellcheck: false });
  const pauseBtn = h("button", { class: "ohws-pause" }, "Pause");
  const clearBtn = h("button", { class: "ohws-clear" }, "Clear");
  filterSelect.addEventListener("change", () => {
    model.set("kind_filter", filterSelect.value);
    model.save_changes();
  });
  searchInput.addEventListener("input", () => {
    model.set("search", searchInput.value);
    model.save_changes();
  });
  searchInput.addEventListener("keydown", (ev) => ev.stopPropagation());
  pauseBtn.addEventListener("click", () => {
    model.set("paused", !model.get("paused"));
    model.save_changes();
  });
  clearBtn.addEventListener("click", () => model.send({ type: "clear" }));
  const filterBar = h("span", { class: "ohws-filterbar" }, filterSelect, searchInput, pauseBtn, clearBtn, listInfo);
  // Shown only with the views it acts on (the message list and the timeline).
  const showFilterBar = (shown) => {
    filterBar.hidden = !shown;
  };

  const messagesView = h("div", { class: "ohws-messages" }, list, detailBox);

  // -- updates from the kernel
  const status = (msg) => {
    st.latestSeq = msg.seq;
    st.dropped = msg.dropped;
  };
  const setEntries = (entries, seq) => {
    st.entries = entries;
    st.syncedSeq = seq;
    renderList();
    timeline.full();
    renderDetail();
  };
  const addEntries = (msg) => {
    status(msg);
    if (st.syncedSeq < 0) return;
    const fresh = msg.entries.filter((e) => e.seq > st.syncedSeq);
    if (!fresh.length) {
      showInfo();
      return;
    }
    st.syncedSeq = fresh[fresh.length - 1].seq;
    st.entries = st.entries.concat(fresh);
    if (st.entries.length > max()) st.entries = st.entries.slice(st.entries.length - max());
    appendList(fresh);
    timeline.add(fresh);
    // The selected entry may just have arrived (selected from code before it was flushed).
    if (fresh.some((e) => e.seq === model.get("selected"))) onSelected();
  };
  const onDetail = (msg) => {
    st.detail = msg;
    if (msg.seq === model.get("selected")) renderDetail();
  };
  const onFilter = () => {
    filterSelect.value = model.get("kind_filter");
    if (searchInput.value !== model.get("search")) searchInput.value = model.get("search");
    renderList();
    timeline.full();
  };
  const onPaused = () => {
    pauseBtn.textContent = model.get("paused") ? "Resume" : "Pause";
    showInfo();
  };
  filterSelect.value = model.get("kind_filter");
  searchInput.value = model.get("search");
  onPaused();
  renderDetail();

  return {
    st,
    filterBar,
    showFilterBar,
    messagesView,
    timeline,
    status,
    setEntries,
    addEntries,
    onDetail,
    onFilter,
    onPaused,
    onSelected,
    renderList,
    hideList,
    showList,
    showInfo,
    list,
    headersTable,
    fieldLine,
  };
}

// ---------------------------------------------------------------------------
// Tabs, composer and saved messages: also shared.

function createTabs(model, views, onShow) {
  const buttons = new Map();
  const bar = h("div", { class: "ohws-tabs", role: "tablist" });
  for (const [name, label] of views) {
    const btn = h("button", { class: "ohws-tab", role: "tab", dataset: { view: name } }, label);
    btn.addEventListener("click", () => {
      if (model.get("view") === name) return;
      model.set("view", name); // change:view redraws this view at once
      model.save_changes();
    });
    buttons.set(name, btn);
    bar.append(btn);
  }
  const show = () => {
    const view = model.get("view");
    for (const [name, btn] of buttons) btn.classList.toggle("ohws-tab-active", name === view);
    onShow(view);
  };
  return { bar, show };
}

function createComposer(model, { sendLabel, onSend, extraButtons = [], recall = true }) {
  const modeSelect = h("select", { class: "ohws-mode" }, ...MODES.map(([v, label]) => h("option", { value: v }, label)));
  const input = h("textarea", { class: "ohws-input", rows: 3, placeholder: "message (Ctrl+Enter sends)", spellcheck: false });
  const prettyBtn = h("button", { class: "ohws-pretty-btn", hidden: true }, "Pretty");
  const sendBtn = h("button", { class: "ohws-send" }, sendLabel);
  const saveBtn = h("button", { class: "ohws-save-input", title: "keep this message, named" }, "Save…");
  const saveName = h("input", { class: "ohws-save-input-name", type: "text", placeholder: "name", spellcheck: false, hidden: true });
  const recent = h("select", { class: "ohws-recent", title: "recall a sent message", hidden: !recall });
  const problem = h("span", { class: "ohws-problem" });
  let history = [];
  let canSend = () => true;

  const validate = () => {
    const msg = checkInput(input.value, modeSelect.value);
    problem.textContent = msg;
    sendBtn.disabled = msg !== "" || !canSend();
    for (const b of extraButtons) b.disabled = msg !== "" || !canSend();
    prettyBtn.hidden = modeSelect.value !== "json";
    return msg === "";
  };
  const send = (how) => {
    if (!validate()) return;
    onSend(input.value, modeSelect.value, how);
  };
  input.addEventListener("input", validate);
  modeSelect.addEventListener("change", validate);
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      ev.stopPropagation();
      send("button");
    }
  });
  sendBtn.addEventListener("click", () => send("button"));
  prettyBtn.addEventListener("click", () => {
    try {
      input.value = JSON.stringify(JSON.parse(input.value), null, 2);
    } catch (err) {
      // validate() shows why
    }
    validate();
  });
  saveBtn.addEventListener("click", () => {
    if (saveName.hidden) {
      saveName.hidden = false;
      saveName.focus();
      return;
    }
    if (saveName.value.trim() && validate()) {
      model.send({ type: "save", name: saveName.value.trim(), text: input.value, mode: modeSelect.value });
    }
    saveName.hidden = true;
  });
  saveName.addEventListener("keydown", (ev) => {
    ev.stopPropagation();
    if (ev.key === "Enter") saveBtn.click();
  });
  recent.addEventListener("change", () => {
    const item = history[Number(recent.value)];
    if (item) {
      modeSelect.value = item.mode;
      input.value = item.text;
    }
    recent.value = "";
    validate();
  });
  const setHistory = (items) => {
    history = items ?? [];
    recent.replaceChildren(h("option", { value: "" }, "Recent…"));
    // Newest first: the one you just sent is the one you most likely want again.
    for (let i = history.length - 1; i >= 0; i--) {
      const item = history[i];
      const label = item.text.length > 60 ? `${item.text.slice(0, 60)}…` : item.text;
      recent.append(h("option", { value: String(i) }, `[${item.mode}] ${label || "(empty)"}`));
    }
    recent.value = "";
  };
  const load = (text, mode) => {
    modeSelect.value = mode;
    input.value = text;
    validate();
    input.focus();
  };
  setHistory([]);
  const el = h(
    "div",
    { class: "ohws-composer" },
    input,
    h("div", { class: "ohws-composer-side" }, modeSelect, h("div", { class: "ohws-row-buttons" }, sendBtn, ...extraButtons), h("div", { class: "ohws-row-buttons" }, prettyBtn, saveBtn), saveName, recent),
  );
  return {
    el,
    problem,
    validate,
    setHistory,
    load,
    input,
    modeSelect,
    setCanSend: (fn) => {
      canSend = fn;
    },
  };
}

function createSaved(model, { onSend, onEdit }) {
  const box = h("div", { class: "ohws-saved" });
  const show = () => {
    const items = model.get("saved") ?? [];
    const chips = items.map((item) => {
      const name = String(item.name ?? "");
      const send = h("button", { class: "ohws-saved-send", title: `send ${name} (${item.mode})` }, `▶ ${name}`);
      send.addEventListener("click", () => onSend(name));
      const edit = h("button", { class: "ohws-saved-edit", title: "put it in the composer" }, "✎");
      edit.addEventListener("click", () => onEdit(String(item.text ?? ""), String(item.mode ?? "text")));
      const del = h("button", { class: "ohws-saved-delete", title: `forget ${name}` }, "×");
      del.addEventListener("click", () => model.send({ type: "delete_saved", name }));
      return h("span", { class: "ohws-saved-item" }, send, edit, del);
    });
    box.replaceChildren(h("span", { class: "ohws-saved-title" }, items.length ? "Saved:" : "Saved: none yet (Save… keeps a message)"), ...chips);
  };
  show();
  return { el: box, show };
}

// ---------------------------------------------------------------------------
// The client panel's tools: the reconnect countdown and the tool bar (Export,
// Save transcript, Replay, Expect). The kernel does the work through the
// public API (ohws_jupyter/panel_tools.py): settings and states come as synced
// traits, what carries message data (the code, the replay's rows, the
// matching message) as "tool" messages and in the snapshot. This only lays
// them out, as text.

// The line shown while reconnecting, as panel_reconnect.reconnect_line in the kernel.
function reconnectLine(st, now) {
  const attempt = st.attempt ?? 0;
  if (st.state === "waiting") {
    const left = (st.at ?? 0) - now;
    // Rounded up: the line reads 0.1 s until the attempt starts, never 0.0.
    if (left > 0) return `reconnecting: attempt ${attempt} in ${(Math.ceil(Math.round(left * 1000) / 100) / 10).toFixed(1)} s`;
    return `reconnecting: attempt ${attempt} now`;
  }
  if (st.state === "connecting") return `reconnecting: attempt ${attempt}, connecting…`;
  if (st.state === "gave up") return `reconnecting gave up after ${plural(attempt, "attempt")}`;
  if (st.state === "cancelled") return "reconnecting cancelled";
  return "";
}

function createTools(model, { id, clock }) {
  const results = { export: {}, replay: {}, expect: {} };
  const stopKeys = (el) => el.addEventListener("keydown", (ev) => ev.stopPropagation()); // not JupyterLab's shortcuts
  const select = (cls, options, title) => h("select", { class: cls, title }, ...options.map(([v, label]) => h("option", { value: v }, label)));

  // -- reconnect countdown, in the counters line
  const reconnectText = h("span", { class: "ohws-reconnect-text" });
  const cancelBtn = h("button", { class: "ohws-reconnect-cancel", title: "stop reconnecting: closes the WebSocket" }, "Cancel");
  cancelBtn.addEventListener("click", () => model.send({ type: "cancel_reconnect" }));
  const reconnectBox = h("span", { class: "ohws-reconnect", hidden: true }, reconnectText, cancelBtn);
  let ticking = null;
  const showReconnect = () => {
    const st = model.get("reconnect_status") ?? {};
    const line = reconnectLine(st, Date.now() / 1000 + clock());
    reconnectBox.hidden = !line;
    reconnectBox.dataset.state = st.state ?? "";
    reconnectText.textContent = line;
    reconnectText.title = st.attempts ? `at most ${plural(st.attempts, "attempt")}` : "";
    cancelBtn.hidden = st.state !== "waiting" && st.state !== "connecting";
    if (st.state === "waiting" && ticking === null) ticking = setInterval(showReconnect, 100);
    else if (st.state !== "waiting" && ticking !== null) {
      clearInterval(ticking);
      ticking = null;
    }
  };

  // -- the tool bar
  const toolButtons = new Map();
  const bar = h("div", { class: "ohws-toolbar" });
  for (const [name, label] of TOOLS) {
    const btn = h("button", { class: `ohws-tool-btn ohws-tool-${name}`, dataset: { tool: name } }, label);
    btn.addEventListener("click", () => {
      const open = model.get("tool") === name ? "" : name;
      model.set("tool", open);
      model.save_changes();
      if (open === "export") model.send({ type: "export", format: model.get("export_format") }); // fresh code
    });
    toolButtons.set(name, btn);
    bar.append(btn);
  }
  const pane = h("div", { class: "ohws-tool-pane" });

  // -- Export
  const formatSelect = select("ohws-export-format", EXPORT_FORMATS, "export as");
  formatSelect.addEventListener("change", () => model.send({ type: "export", format: formatSelect.value }));
  const refreshBtn = h("button", { class: "ohws-export-refresh", title: "make the code again, with what was sent since" }, "Refresh");
  refreshBtn.addEventListener("click", () => model.send({ type: "export", format: formatSelect.value }));
  const copyBtn = h("button", { class: "ohws-export-copy" }, "Copy");
  const copied = h("span", { class: "ohws-note ohws-export-copied" });
  copyBtn.addEventListener("click", async () => {
    const ok = await copyText(results.export.text ?? "");
    copied.textContent = ok ? "copied" : "copy failed: select the text instead";
  });
  const code = h("pre", { class: "ohws-export-code" });
  const exportNote = h("div", { class: "ohws-note ohws-export-note" });
  const exportPane = h(
    "div",
    { class: "ohws-tool-export" },
    h("div", { class: "ohws-tool-row" }, formatSelect, refreshBtn, copyBtn, copied),
    exportNote,
    code,
  );
  const showExport = () => {
    formatSelect.value = model.get("export_format");
    const text = results.export.text ?? "";
    code.textContent = text.length > EXPORT_SHOWN ? text.slice(0, EXPORT_SHOWN) : text;
    copyBtn.disabled = !text;
    copied.textContent = "";
    exportNote.classList.toggle("ohws-tool-error", Boolean(results.export.error));
    if (results.export.error) exportNote.textContent = `not exported: ${results.export.error}`;
    else if (!text) exportNote.textContent = "The connection and the messages it sent, as code for another tool; credentials stay *** and are flagged.";
    else if (text.length > EXPORT_SHOWN) exportNote.textContent = `the first ${formatCount(EXPORT_SHOWN)} of ${formatCount(text.length)} characters shown; Copy copies all of it`;
    else exportNote.textContent = "";
  };

  // -- Save transcript
  const transcriptSelect = select("ohws-transcript-format", TRANSCRIPT_FORMATS, "file format");
  transcriptSelect.addEventListener("change", () => {
    model.set("transcript_format", transcriptSelect.value);
    model.save_changes();
  });
  const saveBtn = h("button", { class: "ohws-transcript-save" }, "Download");
  saveBtn.addEventListener("click", () => model.send({ type: "save_transcript", format: transcriptSelect.value, view: id }));
  const transcriptInfo = h("div", { class: "ohws-transcript-info" });
  const transcriptPane = h(
    "div",
    { class: "ohws-tool-transcript" },
    h("div", { class: "ohws-tool-row" }, transcriptSelect, saveBtn),
    transcriptInfo,
    h("div", { class: "ohws-note" }, "Every message and change of state the WebSocket kept, credentials masked. A .har file opens in Chrome DevTools and HAR viewers; %ws replay and Transcript.load read both."),
  );
  const showTranscript = () => {
    transcriptSelect.value = model.get("transcript_format");
    const f = model.get("transcript_file") ?? {};
    transcriptInfo.classList.toggle("ohws-tool-error", Boolean(f.error));
    if (f.error) transcriptInfo.textContent = `not saved: ${f.error}`;
    else if (f.name) transcriptInfo.textContent = `${f.name} · ${formatBytes(f.size)} · ${formatCount(f.records)} records, ${formatCount(f.messages)} of them messages`;
    else transcriptInfo.textContent = "";
  };
  // The kernel answers the button with the file's text: the browser saves it.
  const onDownload = (msg) => {
    if (msg.view !== id) return; // another view of this panel asked
    const url = URL.createObjectURL(new Blob([msg.text], { type: msg.mime }));
    const link = h("a", { href: url, download: msg.name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };

  // -- Replay
  const replayUrl = h("input", { class: "ohws-replay-url", type: "text", spellcheck: false, placeholder: "ws://host:port/path" });
  stopKeys(replayUrl);
  const timingSelect = select("ohws-replay-timing", REPLAY_TIMINGS, "pace of the sends");
  const runBtn = h("button", { class: "ohws-replay-run" }, "Run replay");
  const sendReplay = () => model.send({ type: "replay", url: replayUrl.value, timing: timingSelect.value });
  runBtn.addEventListener("click", sendReplay);
  replayUrl.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") sendReplay();
  });
  const replaySummary = h("div", { class: "ohws-replay-summary" });
  const replayTable = h("table", { class: "ohws-replay-table" });
  const replayPane = h(
    "div",
    { class: "ohws-tool-replay" },
    h("div", { class: "ohws-tool-row" }, replayUrl, timingSelect, runBtn),
    replaySummary,
    replayTable,
  );
  const DIRS = { ">": "↑ sent", "<": "↓ received", "=": "• state" };
  const showReplay = () => {
    if (document.activeElement !== replayUrl) replayUrl.value = model.get("replay_url") || model.get("url");
    timingSelect.value = model.get("replay_timing");
    const r = results.replay;
    runBtn.disabled = r.state === "running";
    replaySummary.className = `ohws-replay-summary ohws-replay-${r.state ?? "idle"}${r.state === "done" ? (r.ok ? " ohws-replay-good" : " ohws-replay-bad") : ""}`;
    if (r.state === "running") replaySummary.textContent = `replaying this connection's sent messages against ${r.url} …`;
    else if (r.state === "error") replaySummary.textContent = `not replayed: ${r.message}`;
    else if (r.state === "done") replaySummary.textContent = `${r.ok ? "✓" : "✗"} ${r.summary}`;
    else replaySummary.textContent = "Sends this connection's sent messages again, to the URL above, and compares what comes back with what was recorded.";
    const rows = r.state === "done" ? r.rows ?? [] : [];
    if (!rows.length) {
      replayTable.replaceChildren();
      return;
    }
    const head = h("thead", {}, h("tr", {}, ...["#", "", "recorded", "replayed", ""].map((t) => h("th", {}, t))));
    const body = h(
      "tbody",
      {},
      ...rows.map((row) =>
        h(
          "tr",
          { class: row.ok ? "ohws-replay-row-ok" : "ohws-replay-row-bad" },
          h("td", { class: "ohws-replay-step" }, String(row.step)),
          h("td", { class: "ohws-replay-dir" }, DIRS[row.dir] ?? row.dir),
          h("td", { class: "ohws-replay-recorded" }, row.recorded),
          h("td", { class: "ohws-replay-replayed" }, row.replayed),
          h("td", { class: "ohws-replay-mark" }, row.ok ? "✓" : `✗ ${row.note ?? ""}`.trim()),
        ),
      ),
    );
    const notes = [...(r.notes ?? [])];
    if (r.leftOut) notes.push(`${formatCount(r.leftOut)} agreeing rows not shown`);
    const foot = notes.length ? h("tfoot", {}, ...notes.map((n) => h("tr", {}, h("td", { colSpan: 5, class: "ohws-note" }, n)))) : null;
    replayTable.replaceChildren(...[head, body, foot].filter(Boolean));
  };

  // -- Expect
  const kindSelect = select("ohws-expect-kind", EXPECT_KINDS, "how the field is read");
  const expectText = h("input", { class: "ohws-expect-text", type: "text", spellcheck: false });
  stopKeys(expectText);
  const timeoutInput = h("input", { class: "ohws-expect-timeout", type: "number", min: "0.1", step: "0.5", title: "seconds to wait" });
  stopKeys(timeoutInput);
  const expectBtn = h("button", { class: "ohws-expect-run" }, "Expect");
  const sendExpect = () => model.send({ type: "expect", text: expectText.value, kind: kindSelect.value, timeout: timeoutInput.value });
  expectBtn.addEventListener("click", sendExpect);
  expectText.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") sendExpect();
  });
  const placeholder = () => {
    expectText.placeholder = kindSelect.value === "json" ? '{"type": "joined"}  (the message contains it)' : "^hello  (a regular expression)";
  };
  kindSelect.addEventListener("change", placeholder);
  const expectMark = h("span", { class: "ohws-expect-mark" });
  const expectLine = h("span", { class: "ohws-expect-line" });
  const expectMessage = h("pre", { class: "ohws-expect-message" });
  const expectPane = h(
    "div",
    { class: "ohws-tool-expect" },
    h("div", { class: "ohws-tool-row" }, kindSelect, expectText, timeoutInput, h("span", { class: "ohws-note" }, "s"), expectBtn),
    h("div", { class: "ohws-expect-result" }, expectMark, expectLine),
    expectMessage,
  );
  const showExpect = () => {
    if (document.activeElement !== expectText) expectText.value = model.get("expect_text");
    if (document.activeElement !== timeoutInput) timeoutInput.value = String(model.get("expect_timeout"));
    kindSelect.value = model.get("expect_kind");
    placeholder();
    const r = results.expect;
    expectMark.textContent = { ok: "✓", failed: "✗", error: "✗", waiting: "…" }[r.state] ?? "";
    expectMark.dataset.state = r.state ?? "";
    expectMessage.textContent = "";
    expectMessage.hidden = true;
    if (r.state === "waiting") expectLine.textContent = `waiting up to ${r.timeout} s for ${r.what}`;
    else if (r.state === "ok") {
      expectLine.textContent = `${r.what}: received after ${r.took.toFixed(2)} s`;
      expectMessage.textContent = r.message;
      expectMessage.hidden = false;
    } else if (r.state === "failed") expectLine.textContent = r.message;
    else if (r.state === "error") expectLine.textContent = `not started: ${r.message}`;
    else expectLine.textContent = "Waits for the next received message that matches; send what should cause it after pressing Expect.";
  };

  const PANES = { export: [exportPane, showExport], transcript: [transcriptPane, showTranscript], replay: [replayPane, showReplay], expect: [expectPane, showExpect] };
  const showTool = () => {
    const tool = model.get("tool");
    for (const [name, btn] of toolButtons) {
      btn.classList.toggle("ohws-tool-active", name === tool);
      btn.setAttribute("aria-pressed", String(name === tool));
    }
    pane.hidden = !PANES[tool];
    if (PANES[tool]) {
      PANES[tool][1]();
      pane.replaceChildren(PANES[tool][0]);
    }
  };
  // Redraw a pane only while it shows; opening it draws it from the model.
  const when = (name, fn) => () => {
    if (model.get("tool") === name) fn();
  };
  const stop = listen(model, [
    ["change:tool", showTool],
    ["change:reconnect_status", showReconnect],
    ["change:export_format", when("export", showExport)],
    ["change:transcript_file", when("transcript", showTranscript)],
    ["change:transcript_format", when("transcript", showTranscript)],
    ["change:replay_url", when("replay", showReplay)],
    ["change:replay_timing", when("replay", showReplay)],
    ["change:url", when("replay", showReplay)],
    ["change:expect_text", when("expect", showExpect)],
    ["change:expect_kind", when("expect", showExpect)],
    ["change:expect_timeout", when("expect", showExpect)],
  ]);
  const redraw = () => {
    if (PANES[model.get("tool")]) PANES[model.get("tool")][1]();
  };
  // A pane's new content ("tool" message), or all of it (the view's snapshot).
  const onResult = (msg) => {
    results[msg.name] = msg.value ?? {};
    if (model.get("tool") === msg.name) redraw();
  };
  const onSnapshot = (all) => {
    Object.assign(results, all ?? {});
    redraw();
  };
  showTool();
  showReconnect();
  return {
    bar,
    pane,
    reconnectBox,
    showReconnect,
    onDownload,
    onResult,
    onSnapshot,
    stop: () => {
      if (ticking !== null) clearInterval(ticking);
      stop();
    },
  };
}

// ---------------------------------------------------------------------------
// The client panel

function renderClient(model, el) {
  const id = viewId();
  let counters = {};
  let clockOffset = 0; // kernel time minus browser time
  let handshake = {};
  const rates = new Map(); // second -> [msgsIn, bytesIn, msgsOut, bytesOut]
  let rtt = [];

  // -- connection bar
  const urlInput = h("input", { class: "ohws-url", type: "text", placeholder: "ws://host:port/path", value: model.get("url"), spellcheck: false });
  urlInput.addEventListener("change", () => {
    model.set("url", urlInput.value);
    model.save_changes();
  });
  urlInput.addEventListener("keydown", (ev) => ev.stopPropagation());
  const connectBtn = h("button", { class: "ohws-connect" }, "Connect");
  const closeBtn = h("button", { class: "ohws-close" }, "Close");
  const codeInput = h("input", { class: "ohws-code", type: "text", inputMode: "numeric", placeholder: "1000", title: "close code" });
  const reasonInput = h("input", { class: "ohws-reason", type: "text", placeholder: "reason", title: "close reason" });
  const badge = h("span", { class: "ohws-badge" });
  const protocol = h("span", { class: "ohws-protocol" });
  connectBtn.addEventListener("click", () => model.send({ type: "connect", url: urlInput.value }));
  closeBtn.addEventListener("click", () => model.send({ type: "close", code: codeInput.value, reason: reasonInput.value }));

  // -- counters
  const countIn = h("span", { class: "ohws-count-in" });
  const countOut = h("span", { class: "ohws-count-out" });
  const uptime = h("span", { class: "ohws-uptime" });
  const lastError = h("div", { class: "ohws-last-error" });
  const tools = createTools(model, { id, clock: () => clockOffset });

  const composer = createComposer(model, {
    sendLabel: "Send",
    onSend: (text, mode) => model.send({ type: "send", mode, text }),
  });
  composer.setCanSend(() => model.get("state") === "OPEN");
  const saved = createSaved(model, {
    onSend: (name) => model.send({ type: "send_saved", name }),
    onEdit: (text, mode) => composer.load(text, mode),
  });
  const log = createLog(model, {
    server: false,
    onResend: (text, mode) => composer.load(text, mode),
    laneNames: [() => "client (this notebook)", () => {
      try {
        return `server ${new URL(model.get("url")).host}`;
      } catch (err) {
        return "server";
      }
    }],
  });

  // -- handshake view
  const handshakeView = h("div", { class: "ohws-handshake" });
  const renderHandshake = () => {
    const hs = handshake ?? {};
    if (!hs.url && !hs.status && !hs.error) {
      handshakeView.replaceChildren(h("div", { class: "ohws-note" }, "No handshake yet: connect to see the request and the response."));
      return;
    }
    const time = hs.timeToOpen !== null && hs.timeToOpen !== undefined ? `${(hs.timeToOpen * 1000).toFixed(1)} ms` : "—";
    const request = h(
      "div",
      { class: "ohws-hs-col" },
      h("h4", {}, "Request"),
      log.fieldLine("GET", hs.url ?? ""),
      log.fieldLine("subprotocols offered", (hs.offered ?? []).join(", ") || "(none)"),
      h("div", { class: "ohws-field-name" }, hs.headersAsSent ? "headers as sent (credentials masked; ✎ yours)" : "your headers (credentials masked)"),
      log.headersTable(hs.requestHeaders, hs.headersAsSent ? hs.userHeaders : null),
      hs.headersAsSent ? null : h("div", { class: "ohws-note" }, "the headers the library adds (Host, Sec-WebSocket-Key, …) show once the handshake ends"),
    );
    const response = h(
      "div",
      { class: "ohws-hs-col" },
      h("h4", {}, "Response"),
      log.fieldLine("status", hs.status || (hs.error ? "failed" : "waiting…")),
      hs.error ? h("div", { class: "ohws-last-error ohws-hs-error" }, hs.error) : null,
      log.fieldLine("subprotocol", hs.protocol || "(none)"),
      log.fieldLine("extensions", hs.extensions || "(none)"),
      log.fieldLine("time to open", time),
      h("div", { class: "ohws-field-name" }, "headers (credentials masked)"),
      log.headersTable(hs.responseHeaders),
    );
    handshakeView.replaceChildren(h("div", { class: "ohws-hs-cols" }, request, response));
    if (hs.note) handshakeView.append(h("div", { class: "ohws-note" }, hs.note));
  };

  // -- rates view
  const ratesView = h("div", { class: "ohws-rates" });
  // The charts share the view's width and height: as many in a row as fit at
  // 320 px or more (a last row with fewer shares the whole width), as tall as
  // the rows leave room for. One size per chart, in order.
  const CHART_EXTRA = 62; // title, "last" line, legend, axis labels
  const chartSizes = (count) => {
    const width = ratesView.clientWidth || 760;
    const height = ratesView.parentElement?.clientHeight || 390;
    const perRow = Math.max(1, Math.min(count, Math.floor((width + 24) / (320 + 24))));
    const rows = Math.ceil(count / perRow);
    const H = Math.max(60, Math.min(300, Math.floor((height - 24 - 10 * (rows - 1)) / rows) - CHART_EXTRA - 8));
    return Array.from({ length: count }, (_, i) => {
      const inRow = Math.floor(i / perRow) === rows - 1 ? count - perRow * (rows - 1) : perRow;
      return { W: Math.floor((width - 24 * (inRow - 1)) / inRow) - 2, H };
    });
  };
  const legend = (series) =>
    h(
      "div",
      { class: "ohws-legend" },
      ...series.map(({ cls, label }) =>
        h("span", { class: "ohws-legend-item" }, s("svg", { width: 10, height: 10, class: "ohws-legend-swatch" }, s("rect", { width: 10, height: 10, class: cls })), label),
      ),
    );
  // `latest`: what the "last" line says, if not each series' last full second.
  const chart = (title, series, format, size, latest = null) => {
    const { W, H } = size;
    const peak = Math.max(1, ...series.flatMap((x) => x.values));
    const g = s("svg", { class: "ohws-chart", width: W, height: H + 14, viewBox: `0 0 ${W} ${H + 14}` });
    g.append(s("line", { x1: 0, x2: W, y1: H, y2: H, class: "ohws-axis" }));
    series.forEach(({ values, cls }, k) => {
      const bw = W / values.length;
      values.forEach((v, i) => {
        if (!v) return;
        const bh = Math.max(1, (v / peak) * (H - 4));
        g.append(s("rect", { x: i * bw + (k * bw) / series.length, y: H - bh, width: Math.max(1, bw / series.length - 0.5), height: bh, class: cls }));
      });
    });
    g.append(s("text", { x: 0, y: H + 12, class: "ohws-axis-label" }, "−60 s"), s("text", { x: W, y: H + 12, "text-anchor": "end", class: "ohws-axis-label" }, "now"));
    // The current second is still filling: "last" is the last full one.
    const now = latest ?? `last second: ${series.map(({ values, name }) => `${name} ${format(values[values.length - 2] ?? 0)}`).join(" · ")}`;
    const none = peak === 1 && !series.some((x) => x.values.some(Boolean));
    return h(
      "div",
      { class: "ohws-chart-box" },
      h("div", { class: "ohws-chart-title" }, title),
      h("div", { class: "ohws-chart-now" }, now, ` · peak ${format(none ? 0 : peak)}`),
      legend(series),
      g,
    );
  };
  const renderRates = () => {
    const end = Math.floor(Date.now() / 1000 + clockOffset);
    const seconds = Array.from({ length: 60 }, (_, i) => end - 59 + i);
    const col = (k) => seconds.map((sec) => (rates.get(sec) ?? [0, 0, 0, 0])[k]);
    const perS = (v) => `${formatCount(v)}/s`;
    const sizes = chartSizes(3);
    const recentRtt = rtt.filter(([t]) => t > end - 60);
    let rttBox;
    if (recentRtt.length) {
      const values = seconds.map((sec) => {
        const hit = recentRtt.filter(([t]) => Math.floor(t) === sec);
        return hit.length ? hit[hit.length - 1][1] * 1000 : 0;
      });
      const ms = (v) => `${v.toFixed(1)} ms`;
      const series = [{ values, cls: "ohws-bar-rtt", name: "latest", label: "round trip of a keepalive ping" }];
      rttBox = chart("keepalive round trip", series, ms, sizes[2], `latest ${ms(recentRtt[recentRtt.length - 1][1] * 1000)}`);
    } else {
      rttBox = h(
        "div",
        { class: "ohws-chart-box" },
        h("div", { class: "ohws-chart-title" }, "keepalive round trip"),
        h("div", { class: "ohws-note" }, "no keepalive round trip reported yet (pingInterval sets how often one is measured)"),
      );
    }
    const c = counters;
    ratesView.replaceChildren(
      h("div", { class: "ohws-note ohws-rates-total" }, `in all: ↓ ${plural(c.messagesIn ?? 0, "message")} (${formatBytes(c.bytesIn ?? 0)}) in, ↑ ${plural(c.messagesOut ?? 0, "message")} (${formatBytes(c.bytesOut ?? 0)}) out`),
      chart("messages per second", [
        { values: col(0), cls: "ohws-bar-in", name: "in", label: "↓ received" },
        { values: col(2), cls: "ohws-bar-out", name: "out", label: "↑ sent" },
      ], perS, sizes[0]),
      chart("bytes per second", [
        { values: col(1), cls: "ohws-bar-in", name: "in", label: "↓ received" },
        { values: col(3), cls: "ohws-bar-out", name: "out", label: "↑ sent" },
      ], (v) => `${formatBytes(v)}/s`, sizes[1]),
      rttBox,
    );
  };
  const addRates = (buckets) => {
    for (const [sec, ...counts] of buckets ?? []) rates.set(sec, counts);
    const oldest = Math.floor(Date.now() / 1000 + clockOffset) - 120;
    for (const sec of rates.keys()) if (sec < oldest) rates.delete(sec);
  };

  // -- views
  const viewBox = h("div", { class: "ohws-view" });
  let shown = null;
  const tabs = createTabs(model, CLIENT_VIEWS, (view) => {
    if (shown === "messages" && view !== "messages") log.hideList();
    shown = view;
    log.timeline.box.hidden = view !== "timeline";
    log.showFilterBar(view === "messages" || view === "timeline");
    if (view === "messages") {
      viewBox.replaceChildren(log.messagesView);
      log.showList();
    } else if (view === "handshake") {
      renderHandshake();
      viewBox.replaceChildren(handshakeView);
    } else if (view === "timeline") {
      viewBox.replaceChildren(log.timeline.view);
      log.timeline.full();
    } else if (view === "rates") {
      viewBox.replaceChildren(ratesView); // in the page first: the charts take its size
      renderRates();
    }
    el.dataset.view = view;
  });

  el.classList.add("ohws-panel", "ohws-client-panel");
  el.append(
    h("div", { class: "ohws-bar" }, urlInput, connectBtn, closeBtn, codeInput, reasonInput, badge, protocol),
    h("div", { class: "ohws-counters" }, countIn, countOut, uptime, tools.reconnectBox),
    lastError,
    h("div", { class: "ohws-viewbar" }, tabs.bar, log.filterBar),
    viewBox,
    tools.bar,
    tools.pane,
    composer.el,
    composer.problem,
    saved.el,
  );

  // -- updates
  const showCounters = () => {
    const c = counters;
    countIn.textContent = `↓ in ${plural(c.messagesIn ?? 0, "msg")} · ${formatBytes(c.bytesIn ?? 0)}`;
    countOut.textContent = `↑ out ${plural(c.messagesOut ?? 0, "msg")} · ${formatBytes(c.bytesOut ?? 0)}`;
    const state = model.get("state");
    if (c.openedAt && (state === "OPEN" || state === "CLOSING")) {
      uptime.textContent = `connected ${formatDuration(Date.now() / 1000 + clockOffset - c.openedAt)}`;
    } else if (c.openedAt && c.closedAt) {
      uptime.textContent = `was connected ${formatDuration(c.closedAt - c.openedAt)}`;
    } else {
      uptime.textContent = "not connected";
    }
    lastError.textContent = c.lastError ? `last error: ${c.lastError}` : "";
  };
  const showState = () => {
    const state = model.get("state");
    badge.textContent = state;
    badge.className = `ohws-badge ohws-state-${state.toLowerCase()}`;
    protocol.textContent = model.get("protocol") ? `protocol: ${model.get("protocol")}` : "";
    connectBtn.disabled = state !== "CLOSED";
    closeBtn.disabled = state === "CLOSED" || state === "GONE";
    composer.validate();
    showCounters();
  };
  const status = (msg) => {
    log.status(msg);
    counters = msg.counters ?? counters;
    if (counters.now) clockOffset = counters.now - Date.now() / 1000;
    if (msg.handshake) {
      handshake = msg.handshake;
      if (model.get("view") === "handshake") renderHandshake();
    }
    showCounters();
  };
  const onMessage = (msg) => {
    if (msg.type === "snapshot") {
      if (msg.view !== id) return; // another view's catch-up
      composer.setHistory(msg.history);
      rates.clear();
      addRates(msg.rates);
      rtt = msg.rtt ?? [];
      if (msg.detail) log.st.detail = msg.detail;
      tools.onSnapshot(msg.tools);
    }
    if (msg.type === "history") {
      composer.setHistory(msg.history);
      return;
    }
    if (msg.type === "detail") {
      log.onDetail(msg);
      return;
    }
    if (msg.type === "download") {
      tools.onDownload(msg);
      return;
    }
    if (msg.type === "tool") {
      tools.onResult(msg);
      return;
    }
    if (msg.type === "snapshot" || msg.type === "reset") {
      if (msg.type === "reset" && log.st.syncedSeq < 0) return; // our snapshot will cover it
      status(msg);
      log.setEntries(msg.entries, msg.seq);
      if (model.get("view") === "rates") renderRates();
    } else if (msg.type === "batch") {
      status(msg);
      addRates(msg.rates);
      if (msg.rtt) {
        // A view's snapshot may already hold the first of them.
        for (const point of msg.rtt) if (!rtt.length || point[0] > rtt[rtt.length - 1][0]) rtt.push(point);
        const oldest = Math.floor(Date.now() / 1000 + clockOffset) - 120;
        rtt = rtt.filter(([t]) => t >= oldest);
      }
      log.addEntries(msg);
      if (model.get("view") === "rates") renderRates();
    }
  };
  const onUrl = () => {
    urlInput.value = model.get("url");
  };
  const stop = listen(model, [
    ["msg:custom", onMessage],
    ["change:state", showState],
    ["change:protocol", showState],
    ["change:paused", log.onPaused],
    ["change:url", onUrl],
    ["change:kind_filter", log.onFilter],
    ["change:search", log.onFilter],
    ["change:selected", log.onSelected],
    ["change:view", tabs.show],
    ["change:saved", saved.show],
  ]);
  const ticker = setInterval(() => {
    showCounters();
    if (model.get("view") === "rates") renderRates();
  }, 1000);

  tabs.show();
  showState();
  log.showInfo();
  model.send({ type: "hello", view: id });

  return () => {
    clearInterval(ticker);
    tools.stop();
    stop();
  };
}

// ---------------------------------------------------------------------------
// The server panel

function renderServer(model, el) {
  const id = viewId();
  let counters = {};
  let clients = [];
  let clockOffset = 0;

  const urlText = h("span", { class: "ohws-server-url" });
  const badge = h("span", { class: "ohws-badge" });
  const summary = h("span", { class: "ohws-counters" });
  const stopBtn = h("button", { class: "ohws-stop" }, "Stop server");
  stopBtn.addEventListener("click", () => model.send({ type: "stop" }));
  const lastError = h("div", { class: "ohws-last-error" });

  const table = h("table", { class: "ohws-clients" });
  const renderClients = () => {
    const selected = model.get("client");
    const head = h("thead", {}, h("tr", {}, ...["client", "connected since", "in", "out", "round trip", "state"].map((t) => h("th", {}, t))));
    const now = Date.now() / 1000 + clockOffset;
    const rows = clients.map((c, i) => {
      let since = "—";
      // Bytes sent before the panel opened were not counted: "≥".
      const bytesMark = c.bytesFrom ? "≥ " : "";
      const bytesTitle = c.bytesFrom ? `bytes counted since ${formatTime(c.bytesFrom).slice(0, 8)}, when this panel opened` : "";
      if (c.since) {
        const until = c.closedAt ?? now;
        since = `${formatTime(c.since).slice(0, 8)} (${c.closedAt ? "for " : ""}${formatDuration(until - c.since)})`;
      }
      let state = c.state;
      if (c.state === "closed" && c.close && c.close.length) state = `closed ${c.close[0] ?? ""} ${c.close[1] ?? ""}`.trim();
      const tr = h(
        "tr",
        { class: `ohws-client ohws-client-${c.state}${c.address === selected ? " ohws-selected" : ""}`, dataset: { address: c.address, index: String(i) } },
        h("td", { class: "ohws-client-address" }, c.address),
        h("td", { class: "ohws-client-since" }, since),
        h("td", { class: "ohws-client-in", title: bytesTitle }, `${formatCount(c.messagesIn)} · ${bytesMark}${formatBytes(c.bytesIn)}`),
        h("td", { class: "ohws-client-out", title: bytesTitle }, `${formatCount(c.messagesOut)} · ${bytesMark}${formatBytes(c.bytesOut)}`),
        h("td", { class: "ohws-client-rtt", title: "the last keepalive round trip" }, c.pingRoundTrip === null || c.pingRoundTrip === undefined ? "—" : `${(c.pingRoundTrip * 1000).toFixed(1)} ms`),
        h("td", { class: "ohws-client-state" }, state),
      );
      tr.addEventListener("click", () => {
        model.set("client", c.address);
        model.save_changes();
      });
      return tr;
    });
    const body = rows.length ? h("tbody", {}, ...rows) : h("tbody", {}, h("tr", {}, h("td", { colSpan: 6, class: "ohws-note" }, "No client yet: connect one to the URL above.")));
    table.replaceChildren(head, body);
    const open = clients.filter((c) => c.state !== "closed").length;
    summary.textContent = `${open} connected · ↓ in ${formatCount(counters.messagesIn ?? 0)} · ↑ out ${formatCount(counters.messagesOut ?? 0)}`;
    composer.validate();
  };

  const toAll = h("button", { class: "ohws-send-all" }, "Send to all");
  const composer = createComposer(model, {
    sendLabel: "Send to client",
    onSend: (text, mode, how) => model.send({ type: "send", mode, text, target: how === "all" ? "all" : model.get("client") }),
    extraButtons: [toAll],
    recall: false,
  });
  toAll.addEventListener("click", () => {
    if (composer.validate()) model.send({ type: "send", mode: composer.modeSelect.value, text: composer.input.value, target: "all" });
  });
  composer.setCanSend(() => model.get("state") === "RUNNING" && clients.some((c) => c.state === "open"));
  const codeInput = h("input", { class: "ohws-code", type: "text", inputMode: "numeric", placeholder: "1000", title: "close code" });
  const reasonInput = h("input", { class: "ohws-reason", type: "text", placeholder: "reason", title: "close reason" });
  const closeBtn = h("button", { class: "ohws-close-client" }, "Close client");
  closeBtn.addEventListener("click", () => model.send({ type: "close_client", target: model.get("client"), code: codeInput.value, reason: reasonInput.value }));
  const saved = createSaved(model, {
    onSend: (name) => model.send({ type: "send_saved", name, target: model.get("client") }),
    onEdit: (text, mode) => composer.load(text, mode),
  });
  const log = createLog(model, {
    server: true,
    onResend: (text, mode) => composer.load(text, mode),
    laneNames: [() => (model.get("client") ? `client ${model.get("client")}` : "client"), () => "server (this notebook)"],
  });
  const clientTitle = h("span", { class: "ohws-client-title" });

  const viewBox = h("div", { class: "ohws-view" });
  let shown = null;
  const tabs = createTabs(model, SERVER_VIEWS, (view) => {
    if (shown === "messages" && view !== "messages") log.hideList();
    shown = view;
    log.timeline.box.hidden = view !== "timeline";
    if (view === "timeline") {
      viewBox.replaceChildren(log.timeline.view);
      log.timeline.full();
    } else {
      viewBox.replaceChildren(log.messagesView);
      log.showList();
    }
    el.dataset.view = view;
  });

  el.classList.add("ohws-panel", "ohws-server-panel");
  el.append(
    h("div", { class: "ohws-bar" }, h("span", { class: "ohws-title" }, "WebSocket server"), urlText, badge, summary, stopBtn),
    lastError,
    h("div", { class: "ohws-clients-box" }, table),
    h("div", { class: "ohws-viewbar" }, clientTitle, tabs.bar, log.filterBar),
    viewBox,
    composer.el,
    h("div", { class: "ohws-bar" }, codeInput, reasonInput, closeBtn),
    composer.problem,
    saved.el,
  );

  const showState = () => {
    const state = model.get("state");
    badge.textContent = state;
    badge.className = `ohws-badge ohws-state-${state.toLowerCase()}`;
    urlText.textContent = model.get("url") || "(not listening)";
    stopBtn.disabled = state !== "RUNNING" && state !== "STARTING";
    const client = clients.find((c) => c.address === model.get("client"));
    closeBtn.disabled = !client || client.state !== "open";
    clientTitle.textContent = model.get("client") ? `client ${model.get("client")}` : "no client selected";
    composer.validate();
  };
  const status = (msg) => {
    log.status(msg);
    counters = msg.counters ?? counters;
    if (counters.now) clockOffset = counters.now - Date.now() / 1000;
    lastError.textContent = counters.lastError ? `last error: ${counters.lastError}` : "";
    if (msg.clients) {
      clients = msg.clients;
      renderClients();
      showState();
    }
  };
  let shownClient = null; // whose entries the list holds
  const onMessage = (msg) => {
    if (msg.type === "snapshot" && msg.view !== id) return;
    if (msg.type === "history") return;
    if (msg.type === "detail") {
      log.onDetail(msg);
      return;
    }
    if (msg.type === "snapshot" || msg.type === "reset") {
      if (msg.type === "reset" && log.st.syncedSeq < 0) return;
      if (msg.detail) log.st.detail = msg.detail;
      status(msg);
      shownClient = msg.client;
      log.setEntries(msg.entries, msg.seq);
    } else if (msg.type === "batch") {
      status(msg);
      // Each client numbers its own entries: add only to the client the list
      // holds, and only while it is still the one selected (a reset follows a change).
      if (msg.client === shownClient && shownClient === model.get("client")) log.addEntries(msg);
    }
  };
  const stop = listen(model, [
    ["msg:custom", onMessage],
    ["change:state", showState],
    ["change:url", showState],
    ["change:client", () => {
      renderClients();
      showState();
    }],
    ["change:paused", log.onPaused],
    ["change:kind_filter", log.onFilter],
    ["change:search", log.onFilter],
    ["change:selected", log.onSelected],
    ["change:view", tabs.show],
    ["change:saved", saved.show],
  ]);
  const ticker = setInterval(renderClients, 1000);
  tabs.show();
  renderClients();
  showState();
  log.showInfo();
  model.send({ type: "hello", view: id });
  return () => {
    clearInterval(ticker);
    stop();
  };
}

function render({ model, el }) {
  return model.get("panel_kind") === "server" ? renderServer(model, el) : renderClient(model, el);
}

export default { render };
