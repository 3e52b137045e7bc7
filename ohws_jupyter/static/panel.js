// Front end of WebSocketPanel (anywidget ESM).
//
// Safety rule of this file: text that came from the network or the kernel is
// only ever put in the page with text nodes (textContent, createTextNode,
// input.value). Nothing here parses HTML.

const FILTERS = {
  all: () => true,
  in: (e) => e.kind === "message" && e.dir === "<",
  out: (e) => e.kind === "message" && e.dir === ">",
  events: (e) => e.kind !== "message" && e.kind !== "error",
  errors: (e) => e.kind === "error",
};
const FILTER_LABELS = [
  ["all", "All"],
  ["in", "Received"],
  ["out", "Sent"],
  ["events", "Events"],
  ["errors", "Errors"],
];
const DIR_TITLE = { "<": "received", ">": "sent", "=": "state" };
const MODES = [
  ["text", "Text"],
  ["json", "JSON"],
  ["hex", "Binary (hex)"],
  ["base64", "Binary (base64)"],
];

// Build an element; string children become text nodes, never markup.
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el) el[key] = value;
    else el.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function formatTime(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (x, w = 2) => String(x).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (x) => String(x).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
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
  if (e.kind === "close" || e.kind === "closing") {
    return `${e.code ?? ""} ${e.reason ?? ""}`.trim();
  }
  return e.text ?? "";
}

function matches(e, filter, needle) {
  if (!(FILTERS[filter] ?? FILTERS.all)(e)) return false;
  if (!needle) return true;
  const hay = `${e.kind} ${entryText(e)} ${e.explain ?? ""}`.toLowerCase();
  return hay.includes(needle);
}

function renderEntry(e) {
  const body = h("span", { class: "ohws-text" }, entryText(e));
  const row = h(
    "div",
    { class: `ohws-row ohws-kind-${e.kind} ohws-dir-${DIR_TITLE[e.dir] ?? "state"}` },
    h("span", { class: "ohws-time" }, formatTime(e.time)),
    h("span", { class: "ohws-dir", title: DIR_TITLE[e.dir] ?? "" }, e.dir),
    h("span", { class: "ohws-kindname" }, e.kind),
  );
  row.dataset.seq = String(e.seq);
  if (e.kind === "message") {
    let size = formatBytes(e.size);
    if (e.binary) size += " bin";
    if (e.pieces > 1) size += ` · ${e.pieces} pieces`;
    row.append(h("span", { class: "ohws-size" }, size));
  }
  row.append(body);
  if (e.truncated) row.append(h("span", { class: "ohws-note" }, " … (truncated)"));
  if (e.explain) row.append(h("div", { class: "ohws-explain" }, e.explain));
  const raw = e.text ?? "";
  if (e.kind === "message" && !e.binary && !e.truncated && /^\s*[[{]/.test(raw)) {
    // Parsed only on demand: most entries are never expanded.
    const toggle = h("button", { class: "ohws-mini", title: "pretty-print JSON" }, "{ }");
    let pretty = false;
    toggle.addEventListener("click", () => {
      try {
        body.textContent = pretty ? raw : JSON.stringify(JSON.parse(raw), null, 2);
        pretty = !pretty;
        body.classList.toggle("ohws-pretty", pretty);
      } catch (err) {
        toggle.textContent = "not JSON";
        toggle.disabled = true;
      }
    });
    row.append(toggle);
  }
  if (e.headers) {
    const lines = Object.entries(e.headers).map(([k, v]) => `${k}: ${v}`);
    const box = h("div", { class: "ohws-headers", hidden: true }, lines.join("\n"));
    row.append(
      h("button", { class: "ohws-mini", onclick: () => (box.hidden = !box.hidden) }, "headers"),
      box,
    );
  }
  return row;
}

function render({ model, el }) {
  const viewId = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const max = () => model.get("max_entries");
  let entries = [];
  let syncedSeq = -1; // -1 until this view got its snapshot
  let latestSeq = 0;
  let dropped = 0;
  let counters = {};
  let clockOffset = 0; // kernel time minus browser time
  let history = [];

  // -- connection bar
  const urlInput = h("input", {
    class: "ohws-url",
    type: "text",
    placeholder: "ws://host:port/path",
    value: model.get("url"),
    spellcheck: false,
  });
  urlInput.addEventListener("change", () => {
    model.set("url", urlInput.value);
    model.save_changes();
  });
  const connectBtn = h("button", { class: "ohws-connect" }, "Connect");
  const closeBtn = h("button", { class: "ohws-close" }, "Close");
  const codeInput = h("input", {
    class: "ohws-code",
    type: "number",
    placeholder: "1000",
    title: "close code",
  });
  const reasonInput = h("input", {
    class: "ohws-reason",
    type: "text",
    placeholder: "reason",
    title: "close reason",
  });
  const badge = h("span", { class: "ohws-badge" });
  const protocol = h("span", { class: "ohws-protocol" });
  connectBtn.addEventListener("click", () => model.send({ type: "connect", url: urlInput.value }));
  closeBtn.addEventListener("click", () =>
    model.send({ type: "close", code: codeInput.value, reason: reasonInput.value }),
  );

  // -- counters
  const countIn = h("span", { class: "ohws-count-in" });
  const countOut = h("span", { class: "ohws-count-out" });
  const uptime = h("span", { class: "ohws-uptime" });
  const lastError = h("span", { class: "ohws-last-error" });

  // -- composer
  const modeSelect = h(
    "select",
    { class: "ohws-mode" },
    ...MODES.map(([v, label]) => h("option", { value: v }, label)),
  );
  const input = h("textarea", {
    class: "ohws-input",
    rows: 3,
    placeholder: "message (Ctrl+Enter sends)",
    spellcheck: false,
  });
  const prettyBtn = h("button", { class: "ohws-pretty-btn", hidden: true }, "Pretty");
  const sendBtn = h("button", { class: "ohws-send" }, "Send");
  const recent = h("select", { class: "ohws-recent", title: "recall a sent message" });
  const problem = h("span", { class: "ohws-problem" });

  const validate = () => {
    const msg = checkInput(input.value, modeSelect.value);
    problem.textContent = msg;
    sendBtn.disabled = msg !== "" || model.get("state") !== "OPEN";
    prettyBtn.hidden = modeSelect.value !== "json";
    return msg === "";
  };
  const send = () => {
    if (!validate()) return;
    model.send({ type: "send", mode: modeSelect.value, text: input.value });
  };
  input.addEventListener("input", validate);
  modeSelect.addEventListener("change", validate);
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      send();
    }
  });
  sendBtn.addEventListener("click", send);
  prettyBtn.addEventListener("click", () => {
    try {
      input.value = JSON.stringify(JSON.parse(input.value), null, 2);
    } catch (err) {
      // validate() shows why
    }
    validate();
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
  const showHistory = () => {
    recent.replaceChildren(h("option", { value: "" }, "Recent…"));
    history.forEach((item, i) => {
      const label = item.text.length > 60 ? `${item.text.slice(0, 60)}…` : item.text;
      recent.append(h("option", { value: String(i) }, `[${item.mode}] ${label}`));
    });
    recent.value = "";
  };

  // -- log
  const filterSelect = h(
    "select",
    { class: "ohws-filter" },
    ...FILTER_LABELS.map(([v, label]) => h("option", { value: v }, label)),
  );
  const searchInput = h("input", {
    class: "ohws-search",
    type: "search",
    placeholder: "search",
    spellcheck: false,
  });
  const pauseBtn = h("button", { class: "ohws-pause" }, "Pause");
  const clearBtn = h("button", { class: "ohws-clear" }, "Clear");
  const logInfo = h("span", { class: "ohws-loginfo" });
  const log = h("div", { class: "ohws-log" });
  filterSelect.addEventListener("change", () => {
    model.set("kind_filter", filterSelect.value);
    model.save_changes();
  });
  searchInput.addEventListener("input", () => {
    model.set("search", searchInput.value);
    model.save_changes();
  });
  pauseBtn.addEventListener("click", () => {
    model.set("paused", !model.get("paused"));
    model.save_changes();
  });
  clearBtn.addEventListener("click", () => model.send({ type: "clear" }));

  el.classList.add("ohws-panel");
  el.append(
    h("div", { class: "ohws-bar" }, urlInput, connectBtn, closeBtn, codeInput, reasonInput, badge, protocol),
    h("div", { class: "ohws-counters" }, countIn, countOut, uptime, lastError),
    h(
      "div",
      { class: "ohws-composer" },
      input,
      h("div", { class: "ohws-composer-side" }, modeSelect, prettyBtn, sendBtn, recent),
    ),
    problem,
    h("div", { class: "ohws-logbar" }, filterSelect, searchInput, pauseBtn, clearBtn, logInfo),
    log,
  );

  // -- updates
  const showInfo = () => {
    const shown = log.childElementCount;
    let text = `${shown} shown of ${entries.length}`;
    if (dropped) text += ` · ${dropped} dropped`;
    if (model.get("paused")) text += ` · paused, ${Math.max(0, latestSeq - syncedSeq)} new`;
    logInfo.textContent = text;
  };
  const showCounters = () => {
    const c = counters;
    countIn.textContent = `in ${c.messagesIn ?? 0} msgs · ${formatBytes(c.bytesIn ?? 0)}`;
    countOut.textContent = `out ${c.messagesOut ?? 0} msgs · ${formatBytes(c.bytesOut ?? 0)}`;
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
    closeBtn.disabled = state === "CLOSED";
    pauseBtn.textContent = model.get("paused") ? "Resume" : "Pause";
    validate();
    showCounters();
  };
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  const rerender = () => {
    const filter = model.get("kind_filter");
    const needle = model.get("search").toLowerCase();
    const frag = document.createDocumentFragment();
    for (const e of entries) if (matches(e, filter, needle)) frag.append(renderEntry(e));
    log.replaceChildren(frag);
    log.scrollTop = log.scrollHeight;
    showInfo();
  };
  const append = (fresh) => {
    const stick = atBottom();
    const filter = model.get("kind_filter");
    const needle = model.get("search").toLowerCase();
    const frag = document.createDocumentFragment();
    for (const e of fresh) if (matches(e, filter, needle)) frag.append(renderEntry(e));
    entries = entries.concat(fresh);
    if (entries.length > max()) entries = entries.slice(entries.length - max());
    log.append(frag);
    // Rows of entries that left the window leave the page too.
    const first = entries.length ? entries[0].seq : Infinity;
    while (log.firstChild && Number(log.firstChild.dataset.seq) < first) log.firstChild.remove();
    if (stick) log.scrollTop = log.scrollHeight;
    showInfo();
  };
  const status = (msg) => {
    latestSeq = msg.seq;
    dropped = msg.dropped;
    counters = msg.counters ?? counters;
    if (counters.now) clockOffset = counters.now - Date.now() / 1000;
    showCounters();
  };
  const onMessage = (msg) => {
    if (msg.type === "snapshot") {
      if (msg.view !== viewId) return; // another view's catch-up
      history = msg.history ?? [];
      showHistory();
    }
    if (msg.type === "history") {
      history = msg.history;
      showHistory();
      return;
    }
    if (msg.type === "snapshot" || msg.type === "reset") {
      if (msg.type === "reset" && syncedSeq < 0) return; // our snapshot will cover it
      status(msg);
      entries = msg.entries;
      syncedSeq = msg.seq;
      rerender();
    } else if (msg.type === "batch") {
      status(msg);
      if (syncedSeq < 0) return;
      const fresh = msg.entries.filter((e) => e.seq > syncedSeq);
      if (fresh.length) {
        syncedSeq = fresh[fresh.length - 1].seq;
        append(fresh);
      } else {
        showInfo();
      }
    }
  };
  const onUrl = () => {
    urlInput.value = model.get("url");
  };
  const onFilter = () => {
    filterSelect.value = model.get("kind_filter");
    if (searchInput.value !== model.get("search")) searchInput.value = model.get("search");
    rerender();
  };

  model.on("msg:custom", onMessage);
  model.on("change:state", showState);
  model.on("change:protocol", showState);
  model.on("change:paused", showState);
  model.on("change:url", onUrl);
  model.on("change:kind_filter", onFilter);
  model.on("change:search", onFilter);
  const ticker = setInterval(showCounters, 1000);

  filterSelect.value = model.get("kind_filter");
  searchInput.value = model.get("search");
  showHistory();
  showState();
  showInfo();
  model.send({ type: "hello", view: viewId });

  return () => {
    clearInterval(ticker);
    model.off("msg:custom", onMessage);
    model.off("change:state", showState);
    model.off("change:protocol", showState);
    model.off("change:paused", showState);
    model.off("change:url", onUrl);
    model.off("change:kind_filter", onFilter);
    model.off("change:search", onFilter);
  };
}

export default { render };
