/* The monitoring wall (应用系统监控管理平台): the client side of /ws/monitor.
 *
 * Data flow: the WebSocket (connect, hello with token and resume point,
 * back-off) -> `model`, a Map of entities keyed "kind:id" (snapshot replaces
 * it, deltas upsert or remove) -> the keys that changed are marked dirty ->
 * at most one render per animation frame updates the sections in place
 * (tiles are created once and then only have their text and data-state
 * changed). Nothing from the hub is ever parsed as HTML: text goes through
 * textContent, attributes through setAttribute.
 *
 * The protocol is docs/monitor-protocol.md; the page is index.html, the look
 * wall.css. A browser test reads document.body.dataset.connection and the
 * tiles' data-entity / data-state / .reason.
 *
 * Layout (one file: the hub serves exactly three): constants, the model,
 * coalesced rendering, DOM helpers, formatting, then one section per panel
 * (header, devices, lines, channels, branches, counters, alerts, diagram),
 * auto-scroll, the WebSocket, login, start.
 */
(function () {
  "use strict";

  // ---- constants ---------------------------------------------------------

  const PROTOCOL_VERSION = 1;
  /** Where the wall keeps its token (a screen token from #token=, or a login). */
  const TOKEN_KEY = "cardhub.wall.token";
  /** Reconnect back-off: 0.5 s doubling to 10 s, each delay +-20 % jitter so
   *  a room of screens does not reconnect in step after a hub restart. */
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const BACKOFF_JITTER = 0.2;
  /** Until `welcome` says otherwise (protocol default). */
  const DEFAULT_TIMEOUT_SECS = 30;
  /** A render is normally driven by requestAnimationFrame; this timer covers
   *  a page the browser does not paint (hidden, throttled). */
  const RENDER_FALLBACK_MS = 250;
  /** Above this many devices the tiles shrink to id, state and reason. */
  const COMPACT_TILES = 150;
  /** Cleared alerts listed under the raised ones (the newest). */
  const CLEARED_ALERTS_SHOWN = 12;
  /** A panel whose content overflows scrolls down this fast, waits at each
   *  end, and starts again from the top, so an untouched wall shows all. */
  const AUTOSCROLL_STEP_PX = 1;
  const AUTOSCROLL_STEP_MS = 40;
  const AUTOSCROLL_PAUSE_MS = 6000;
  /** Nodes per side of the interfaces diagram before "+N more". */
  const DIAGRAM_SIDE_MAX = 7;
  const DIAGRAM_PEERS_MAX = 6;

  const SVG_NS = "http://www.w3.org/2000/svg";
  const DEVICE_KINDS = new Set(["printer", "reader", "camera", "id_reader"]);
  /** Short, for the tile's corner; the English kind is in the tile's title. */
  const KIND_LABEL = { printer: "打印机", reader: "读卡器", camera: "摄像头", id_reader: "身份证" };
  const STATE_LABEL = {
    ok: "正常 OK",
    busy: "工作 BUSY",
    idle: "空闲 IDLE",
    warning: "注意 WARN",
    error: "故障 ERROR",
    offline: "离线 OFFLINE",
  };
  const STATE_ORDER = ["error", "offline", "warning", "busy", "ok", "idle"];
  /** How bad a state is, for the colour of an aggregate (a branch, a peer). */
  const STATE_RANK = { idle: 0, ok: 1, busy: 2, warning: 3, offline: 4, error: 5 };
  const LINE_STATE_LABEL = { running: "运行 running", paused: "暂停 paused", stopped: "停止 stopped" };
  const ACTIVITY_LABEL = {
    idle: "空闲 idle",
    working: "制卡 working",
    held: "保留 held",
    "waiting-printer": "等打印机 waiting printer",
    "waiting-operator": "等操作员 waiting operator",
    "encoder-fault": "写卡故障 encoder fault",
    stopped: "停止 stopped",
  };
  const PEER_LABEL = {
    bank: "银行 Bank",
    sms: "短信 SMS",
    logistics: "物流 Logistics",
    "cardholder-db": "持卡人库 Cardholder DB",
    government: "政务 Government",
    outbox: "发件箱 Outbox",
  };
  const PEER_ORDER = ["bank", "sms", "logistics", "cardholder-db", "government", "outbox"];

  const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });
  const $ = (id) => document.getElementById(id);

  // ---- the model -----------------------------------------------------------

  /** Every entity the hub told us about, keyed "kind:id". */
  const model = new Map();
  /** The link to the hub and the resume point. */
  const link = {
    ws: null,
    state: "connecting",
    epoch: null,
    seq: null,
    timeoutMs: DEFAULT_TIMEOUT_SECS * 1000,
    attempt: 0,
    watchdog: 0,
    retry: 0,
    downSince: null,
    everConnected: false,
    needLogin: false,
    caller: null,
  };

  const keyOf = (e) => e.kind + ":" + e.id;
  const detailOf = (e) => (e && e.detail) || {};
  const scopeOf = (e) => (e && e.scope) || {};

  // ---- coalesced rendering -------------------------------------------------

  const dirty = new Set();
  let dirtyAll = true;
  let frame = 0;
  let fallback = 0;

  function schedule() {
    if (frame || fallback) return;
    frame = requestAnimationFrame(flush);
    fallback = setTimeout(flush, RENDER_FALLBACK_MS);
  }

  function flush() {
    cancelAnimationFrame(frame);
    clearTimeout(fallback);
    frame = 0;
    fallback = 0;
    render();
  }

  function applySnapshot(msg) {
    model.clear();
    for (const e of msg.entities || []) {
      if (!e.removed) model.set(keyOf(e), e);
    }
    link.epoch = msg.epoch;
    link.seq = msg.seq;
    dirtyAll = true;
    schedule();
  }

  function applyDeltas(msg) {
    for (const e of msg.changes || []) {
      const key = keyOf(e);
      if (e.removed) model.delete(key);
      else model.set(key, e);
      dirty.add(key);
    }
    link.epoch = msg.epoch;
    if (typeof msg.seq === "number") link.seq = msg.seq;
    schedule();
  }

  function render() {
    const all = dirtyAll;
    const keys = Array.from(dirty);
    dirtyAll = false;
    dirty.clear();
    const touched = new Set();
    for (const k of keys) touched.add(k.slice(0, k.indexOf(":")));
    const hit = (kind) => all || touched.has(kind);
    const hitDevice = all || keys.some((k) => DEVICE_KINDS.has(k.slice(0, k.indexOf(":"))));

    if (hitDevice) renderDevices(all, keys);
    if (hit("line")) renderLines(all, keys);
    if (hit("channel")) renderChannels(all, keys);
    if (hit("terminal")) renderBranches();
    if (hit("counter")) renderCounters();
    if (hit("alert")) renderAlerts();
    if (hit("line") || hit("terminal") || hit("channel")) renderDiagram();
    renderHeader();
  }

  // ---- DOM helpers ---------------------------------------------------------

  function el(tag, className, parent, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const name in attrs) node.setAttribute(name, attrs[name]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function setText(node, text) {
    const t = text === null || text === undefined ? "" : String(text);
    if (node.textContent !== t) node.textContent = t;
  }

  function setAttr(node, name, value) {
    const v = String(value);
    if (node.getAttribute(name) !== v) node.setAttribute(name, v);
  }

  /** Puts `nodes` into `parent` in this order, moving only what is out of place. */
  function arrange(parent, nodes, before) {
    let cursor = before ? before.nextSibling : parent.firstChild;
    for (const node of nodes) {
      if (node !== cursor) parent.insertBefore(node, cursor);
      else cursor = cursor.nextSibling;
    }
  }

  /**
   * Brings a keyed view in line with the model for the entities `wanted`
   * picks: creates what is new, updates what changed, drops what is gone.
   * Returns whether an entry was created or removed (the order may change).
   */
  function syncView(view, all, keys, wanted, create, update, destroy) {
    let changed = false;
    const todo = all ? new Set([...view.keys(), ...[...model.keys()].filter(wanted)]) : keys.filter(wanted);
    for (const key of todo) {
      const entity = model.get(key);
      let rec = view.get(key);
      if (!entity) {
        if (rec) {
          destroy(rec);
          view.delete(key);
          changed = true;
        }
        continue;
      }
      if (!rec) {
        rec = create(key, entity);
        view.set(key, rec);
        changed = true;
      }
      if (update(rec, entity)) changed = true;
    }
    return changed;
  }

  const kindIs = (kinds) => (key) => kinds.has(key.slice(0, key.indexOf(":")));

  // ---- formatting ----------------------------------------------------------

  const pad = (n) => (n < 10 ? "0" : "") + n;

  function clockTime(ms) {
    if (typeof ms !== "number") return "—";
    const d = new Date(ms);
    const t = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    const today = new Date();
    if (d.toDateString() === today.toDateString()) return t;
    return pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + t;
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m " + pad(s % 60) + "s";
    const h = Math.floor(m / 60);
    if (h < 24) return h + "h " + pad(m % 60) + "m";
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }

  function count(n) {
    if (typeof n !== "number") return "—";
    return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function percent(rate, digits) {
    if (typeof rate !== "number") return "—";
    return (rate * 100).toFixed(digits) + "%";
  }

  /** Cuts `text` to `max` columns (a CJK character takes two), with "…". */
  function fit(text, max) {
    const s = String(text);
    let width = 0;
    for (let i = 0; i < s.length; i++) {
      width += s.charCodeAt(i) >= 0x2e80 ? 2 : 1;
      if (width > max) return s.slice(0, Math.max(0, i - 1)) + "…";
    }
    return s;
  }

  /** An id without the prefix its group already shows ("line-1/printer-2"). */
  function shortId(id, line) {
    return line && id.startsWith(line + "/") ? id.slice(line.length + 1) : id;
  }

  function worst(states) {
    let best = null;
    for (const s of states) {
      if (best === null || (STATE_RANK[s] || 0) > (STATE_RANK[best] || 0)) best = s;
    }
    return best || "idle";
  }

  // ---- header and connection ------------------------------------------------

  function setConnection(state) {
    link.state = state;
    document.body.dataset.connection = state;
    const text = {
      connecting: "连接中 Connecting…",
      connected: "已连接 Connected",
      disconnected: link.needLogin ? "需要登录 Sign-in required" : "已断开 Disconnected",
    }[state];
    setText($("conn-text"), text);
    renderBanner();
  }

  function renderBanner() {
    const banner = $("banner");
    const down = link.state === "disconnected";
    banner.hidden = !down;
    if (!down) return;
    const since = link.downSince ? clockTime(link.downSince) : "—";
    const what = link.needLogin ? "需要登录 sign in to continue" : "reconnecting…";
    setText($("banner-text"), "与中心断开连接 Disconnected since " + since + " — " + what);
  }

  function renderHeader() {
    const epoch = $("hub-epoch");
    setText(epoch, link.epoch ? fit(link.epoch, 14) : "—");
    setAttr(epoch, "title", link.epoch || "");
    setText($("hub-seq"), link.seq === null ? "—" : count(link.seq));
    setText($("hub-caller"), link.caller || "—");
  }

  function tick() {
    const now = new Date();
    setText($("clock-time"), pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" + pad(now.getSeconds()));
    setText($("clock-date"), now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate()));
    updateAlertDurations(now.getTime());
  }

  // ---- devices ---------------------------------------------------------------

  const deviceView = new Map();
  const deviceGroups = new Map();

  function deviceGroup(e) {
    const s = scopeOf(e);
    if (s.line) return { key: "1 " + s.line, label: "产线 Line " + s.line, line: s.line };
    if (s.workshop) return { key: "2 " + s.workshop, label: "车间 Workshop " + s.workshop };
    // Branch devices are few per branch: one group, the id names the branch.
    if (s.branch) return { key: "3", label: "网点设备 Branch devices" };
    return { key: "4", label: "其他 Other" };
  }

  function groupFor(g) {
    let group = deviceGroups.get(g.key);
    if (!group) {
      const node = el("section", "group");
      node.dataset.group = g.key;
      const head = el("h3", null, node);
      el("span", null, head, g.label);
      const counts = el("span", "count", head);
      group = { key: g.key, node, counts, tiles: el("div", "tiles", node), recs: new Set(), sorted: false };
      deviceGroups.set(g.key, group);
    }
    return group;
  }

  function createTile(key) {
    const node = el("div", "tile");
    node.dataset.entity = key;
    const head = el("div", "t-head", node);
    const rec = {
      key,
      node,
      kind: el("span", "t-kind", head),
      state: el("span", "t-state", head),
      id: el("div", "t-id", node),
      reason: el("div", "reason", node),
      since: el("div", "t-meta", node),
      meta: el("div", "t-meta", node),
      group: null,
      sortKey: "",
    };
    return rec;
  }

  function updateTile(rec, e) {
    const g = deviceGroup(e);
    let moved = false;
    if (!rec.group || rec.group.key !== g.key) {
      if (rec.group) {
        rec.group.recs.delete(rec);
        rec.group.sorted = false;
      }
      rec.group = groupFor(g);
      rec.group.recs.add(rec);
      rec.group.sorted = false;
      moved = true;
    }
    rec.sortKey = e.kind + " " + e.id;
    const d = detailOf(e);
    setAttr(rec.node, "data-state", e.state);
    setAttr(rec.node, "data-kind", e.kind);
    const hint = typeof d.hopper === "number" ? "\n料斗 hopper " + d.hopper + " · 色带 ribbon left " + d.ribbon_left : "";
    setAttr(rec.node, "title", e.kind + ":" + e.id + (e.reason ? " — " + e.reason : "") + hint);
    setText(rec.kind, KIND_LABEL[e.kind] || e.kind);
    setText(rec.state, STATE_LABEL[e.state] || e.state);
    setText(rec.id, shortId(e.id, g.line));
    setText(rec.reason, e.reason || (e.state === "busy" && d.job ? d.job : ""));
    let since = "";
    if (e.state === "error" || e.state === "offline") {
      since = "since " + clockTime(e.since_ms);
      if (e.state === "offline" && d.reconnect_attempts) since += " · retry " + d.reconnect_attempts;
    }
    setText(rec.since, since);
    const meta = [];
    // 料斗 hopper (blank cards left), 色带 ribbon (prints left).
    if (typeof d.hopper === "number") meta.push("料斗 " + d.hopper);
    if (typeof d.ribbon_left === "number") meta.push("色带 " + d.ribbon_left);
    if (d.card_present === true) meta.push("有卡 card in");
    setText(rec.meta, meta.join(" · "));
    return moved;
  }

  function destroyTile(rec) {
    rec.node.remove();
    if (rec.group) {
      rec.group.recs.delete(rec);
      rec.group.sorted = false;
    }
  }

  function renderDevices(all, keys) {
    const box = $("devices");
    const changed = syncView(deviceView, all, keys, kindIs(DEVICE_KINDS), createTile, updateTile, destroyTile);
    if (changed) {
      for (const [k, group] of deviceGroups) {
        if (group.recs.size === 0) {
          group.node.remove();
          deviceGroups.delete(k);
        } else if (!group.sorted) {
          const recs = [...group.recs].sort((a, b) => collator.compare(a.sortKey, b.sortKey));
          arrange(group.tiles, recs.map((r) => r.node));
          group.sorted = true;
        }
      }
      const groups = [...deviceGroups.values()].sort((a, b) => collator.compare(a.key, b.key));
      arrange(box, groups.map((g) => g.node), $("devices-empty"));
      $("devices-empty").hidden = deviceView.size > 0;
      box.classList.toggle("compact", deviceView.size > COMPACT_TILES);
    }
    // Per-group and overall counts (cheap: one pass over the tiles).
    const total = {};
    for (const group of deviceGroups.values()) {
      let bad = 0;
      for (const rec of group.recs) {
        const s = rec.node.dataset.state;
        total[s] = (total[s] || 0) + 1;
        if (s === "error" || s === "offline") bad++;
      }
      setText(group.counts, group.recs.size + " 台" + (bad ? " · " + bad + " 故障/离线 down" : ""));
      group.counts.classList.toggle("bad", bad > 0);
    }
    renderStateSummary($("device-summary"), total);
  }

  function renderStateSummary(box, counts) {
    if (!box.childElementCount) {
      for (const s of STATE_ORDER) {
        const span = el("span", "sd", box);
        span.dataset.state = s;
      }
    }
    for (const span of box.children) {
      const n = counts[span.dataset.state] || 0;
      span.hidden = n === 0;
      setText(span, (STATE_LABEL[span.dataset.state] || "").split(" ")[0] + " " + span.dataset.state + " " + n);
    }
  }

  // ---- production lines --------------------------------------------------------

  const lineView = new Map();
  const SPARK_W = 150;
  const SPARK_H = 40;

  function createLine(key) {
    const node = el("div", "line-card");
    node.dataset.entity = key;
    const head = el("div", "l-head", node);
    const rec = { key, node, name: el("span", "l-name", head), state: el("span", "l-state", head) };
    rec.program = el("span", "l-program", head);
    rec.reason = el("div", "reason", node);
    const body = el("div", "l-body", node);
    const stats = el("dl", "l-stats", body);
    el("dt", null, stats, "制成 made");
    rec.made = el("dd", null, stats);
    el("dt", null, stats, "废卡 wasted");
    rec.wasted = el("dd", null, stats);
    el("dt", null, stats, "废卡率 waste");
    rec.rate = el("dd", null, stats);
    const spark = el("div", "spark-box", body);
    rec.svg = svg("svg", { class: "spark", viewBox: "0 0 " + SPARK_W + " " + SPARK_H, preserveAspectRatio: "none" }, spark);
    svg("line", { x1: 0, y1: SPARK_H - 0.5, x2: SPARK_W, y2: SPARK_H - 0.5 }, rec.svg);
    rec.bars = [];
    const caption = el("div", "spark-caption", spark);
    const left = el("span", null, caption, "15分钟 ");
    left.title = "最近15分钟制卡 cards made in the last 15 minutes";
    rec.total = el("b", null, left);
    const right = el("span", null, caption, "上一分钟 ");
    right.title = "上一整分钟制卡 cards made in the last complete minute";
    rec.last = el("b", null, right);
    right.appendChild(document.createTextNode(" /min"));
    rec.lanes = el("div", "lanes", node);
    rec.lanesSig = null;
    return rec;
  }

  function updateLine(rec, e) {
    const d = detailOf(e);
    setAttr(rec.node, "data-state", e.state);
    setAttr(rec.node, "data-line-state", d.line_state || "");
    setText(rec.name, e.id);
    setText(rec.state, LINE_STATE_LABEL[d.line_state] || d.line_state || e.state);
    setText(rec.program, d.program ? "程序 " + d.program : "");
    setText(rec.reason, e.reason || "");
    setText(rec.made, count(d.cards_made));
    setText(rec.wasted, count(d.cards_wasted));
    setText(rec.rate, percent(d.waste_rate, 1));
    rec.rate.classList.toggle("bad", typeof d.waste_rate === "number" && d.waste_rate >= 0.05);
    drawSpark(rec, Array.isArray(d.per_minute) ? d.per_minute : []);
    drawLanes(rec, Array.isArray(d.lanes) ? d.lanes : [], e.id);
    return false;
  }

  function drawSpark(rec, values) {
    while (rec.bars.length < values.length) rec.bars.push(svg("rect", {}, rec.svg));
    while (rec.bars.length > values.length) rec.bars.pop().remove();
    const max = Math.max(1, ...values);
    const step = SPARK_W / Math.max(values.length, 15);
    values.forEach((v, i) => {
      const h = Math.max(v > 0 ? 1.5 : 0, (v / max) * (SPARK_H - 2));
      const bar = rec.bars[i];
      setAttr(bar, "x", (i * step + 0.8).toFixed(1));
      setAttr(bar, "width", Math.max(1, step - 1.6).toFixed(1));
      setAttr(bar, "y", (SPARK_H - h).toFixed(1));
      setAttr(bar, "height", h.toFixed(1));
      setAttr(bar, "class", i === values.length - 1 ? "current" : "");
    });
    setText(rec.total, count(values.reduce((a, b) => a + b, 0)));
    setText(rec.last, values.length >= 2 ? count(values[values.length - 2]) : "—");
  }

  function drawLanes(rec, lanes, line) {
    const sig = JSON.stringify(lanes);
    if (sig === rec.lanesSig) return;
    rec.lanesSig = sig;
    rec.lanes.replaceChildren();
    for (const lane of lanes) {
      const chip = el("span", "lane", rec.lanes);
      chip.dataset.activity = lane.activity;
      el("b", null, chip, shortId(String(lane.printer), line));
      el("span", "act", chip, ACTIVITY_LABEL[lane.activity] || lane.activity);
      chip.title = lane.printer + ": " + lane.activity + (lane.task === undefined || lane.task === null ? "" : ", task " + lane.task);
    }
  }

  function renderLines(all, keys) {
    const changed = syncView(lineView, all, keys, kindIs(new Set(["line"])), createLine, updateLine, (r) => r.node.remove());
    if (changed) {
      const recs = [...lineView.values()].sort((a, b) => collator.compare(a.key, b.key));
      arrange($("lines"), recs.map((r) => r.node), $("lines-empty"));
      $("lines-empty").hidden = lineView.size > 0;
    }
  }

  // ---- channels --------------------------------------------------------------------

  const channelView = new Map();

  function createChannel(key) {
    const node = el("tr");
    node.dataset.entity = key;
    const rec = { key, node, sortKey: key };
    rec.id = el("td", null, node);
    rec.peer = el("td", null, node);
    // The state and its reason share a column.
    const state = el("td", "state-cell", node);
    rec.state = el("span", "sd", state);
    state.appendChild(document.createTextNode(" "));
    rec.reason = el("span", "reason", state);
    rec.link = el("td", null, node);
    rec.queue = el("td", "num", node);
    rec.sent = el("td", "num", node);
    rec.failed = el("td", "num", node);
    rec.success = el("td", "num", node);
    return rec;
  }

  function updateChannel(rec, e) {
    const d = detailOf(e);
    setAttr(rec.node, "data-state", e.state);
    setAttr(rec.node, "title", e.reason || "");
    setText(rec.id, e.id);
    setText(rec.peer, PEER_LABEL[d.peer] || d.peer || "—");
    setAttr(rec.peer, "title", d.peer || "");
    setAttr(rec.id, "title", e.id);
    setAttr(rec.state, "data-state", e.state);
    setText(rec.state, STATE_LABEL[e.state] || e.state);
    setText(rec.reason, e.reason || "");
    setText(rec.link, d.connected === true ? "●" : d.connected === false ? "✖" : "—");
    setAttr(rec.link, "title", d.connected === true ? "已连接 connected" : d.connected === false ? "已断开 not connected" : "");
    setAttr(rec.link, "class", d.connected === false ? "link-down" : d.connected === true ? "link-up" : "");
    setText(rec.queue, count(d.queue_depth));
    setText(rec.sent, count(d.sent));
    setText(rec.failed, count(d.failed));
    rec.failed.classList.toggle("warn", d.failed > 0);
    setText(rec.success, d.success_rate === 1 ? "100%" : percent(d.success_rate, 1));
    rec.success.classList.toggle("bad", typeof d.success_rate === "number" && d.success_rate < 0.9);
    const sortKey = String(PEER_ORDER.indexOf(d.peer) + 10) + " " + (d.peer || "") + " " + e.id;
    const moved = sortKey !== rec.sortKey;
    rec.sortKey = sortKey;
    return moved;
  }

  function renderChannels(all, keys) {
    const changed = syncView(channelView, all, keys, kindIs(new Set(["channel"])), createChannel, updateChannel, (r) =>
      r.node.remove(),
    );
    if (changed) {
      const recs = [...channelView.values()].sort((a, b) => collator.compare(a.sortKey, b.sortKey));
      arrange($("channels"), recs.map((r) => r.node));
      $("channels-empty").hidden = channelView.size > 0;
    }
  }

  // ---- branch terminals --------------------------------------------------------------

  const branchView = new Map();

  function entitiesOf(kind) {
    const out = [];
    for (const e of model.values()) if (e.kind === kind) out.push(e);
    return out;
  }

  /** Terminals grouped by branch code: {code, name, terminals, online, offline, state}. */
  function branchesNow() {
    const map = new Map();
    for (const t of entitiesOf("terminal")) {
      const code = scopeOf(t).branch || "—";
      let b = map.get(code);
      if (!b) map.set(code, (b = { code, name: null, terminals: [], online: 0, offline: 0 }));
      b.terminals.push(t);
      if (!b.name && detailOf(t).branch_name) b.name = detailOf(t).branch_name;
      if (t.state === "offline") b.offline++;
      else b.online++;
    }
    for (const b of map.values()) {
      b.terminals.sort((x, y) => collator.compare(x.id, y.id));
      const live = b.terminals.filter((t) => t.state !== "offline").map((t) => t.state);
      if (b.online === 0) b.state = "offline";
      else b.state = b.offline > 0 ? worst(["warning", ...live]) : worst(live);
    }
    return [...map.values()].sort((x, y) => collator.compare(x.code, y.code));
  }

  function renderBranches() {
    const box = $("branches");
    const branches = branchesNow();
    const seen = new Set();
    let online = 0;
    let offline = 0;
    for (const b of branches) {
      seen.add(b.code);
      online += b.online;
      offline += b.offline;
      let rec = branchView.get(b.code);
      if (!rec) {
        const node = el("div", "branch");
        node.dataset.branch = b.code;
        const head = el("div", "branch-head", node);
        rec = { node, name: el("span", "b-name", head), code: el("span", "b-code", head), count: el("span", "b-count", head) };
        rec.terms = el("div", "terms", node);
        rec.sig = null;
        branchView.set(b.code, rec);
      }
      setAttr(rec.node, "data-state", b.state);
      setText(rec.name, b.name || b.code);
      setText(rec.code, b.name ? b.code : "");
      rec.count.replaceChildren();
      rec.count.appendChild(document.createTextNode("在线 online " + b.online + " / " + b.terminals.length));
      if (b.offline) el("span", "off", rec.count, " · 离线 offline " + b.offline);
      const sig = JSON.stringify(b.terminals.map((t) => [t.id, t.state, t.reason, detailOf(t).devices]));
      if (sig !== rec.sig) {
        rec.sig = sig;
        rec.terms.replaceChildren();
        for (const t of b.terminals) {
          const devices = detailOf(t).devices;
          const chip = el("span", "term", rec.terms, t.id + (typeof devices === "number" ? " · " + devices + " dev" : ""));
          chip.dataset.entity = keyOf(t);
          chip.dataset.state = t.state;
          chip.title = (STATE_LABEL[t.state] || t.state) + (t.reason ? " — " + t.reason : "");
        }
      }
    }
    for (const [code, rec] of branchView) {
      if (!seen.has(code)) {
        rec.node.remove();
        branchView.delete(code);
      }
    }
    arrange(box, branches.map((b) => branchView.get(b.code).node), $("branches-empty"));
    $("branches-empty").hidden = branches.length > 0;
    setText(
      $("branch-summary"),
      branches.length ? branches.length + " 网点 branches · " + online + " 在线 online · " + offline + " 离线 offline" : "",
    );
  }

  // ---- counters ---------------------------------------------------------------------

  const counterView = new Map();

  function renderCounters() {
    const box = $("counters");
    const sets = entitiesOf("counter").sort((a, b) => collator.compare(a.id, b.id));
    const seen = new Set();
    for (const c of sets) {
      const key = keyOf(c);
      seen.add(key);
      let rec = counterView.get(key);
      if (!rec) {
        const node = el("div", "counter-set");
        node.dataset.entity = key;
        rec = { node, title: el("h3", null, node), grid: el("div", "counter-grid", node), cells: new Map() };
        counterView.set(key, rec);
      }
      setAttr(rec.node, "data-state", c.state);
      setText(rec.title, sets.length > 1 ? c.id : "");
      rec.title.hidden = sets.length <= 1;
      const values = detailOf(c).values || {};
      const names = Object.keys(values).sort(collator.compare);
      for (const name of names) {
        let cell = rec.cells.get(name);
        if (!cell) {
          const node = el("div", "counter-cell");
          node.dataset.counter = name;
          cell = { node, name: el("div", "c-name", node, name.replace(/[_-]/g, " ")), value: el("div", "c-value", node) };
          cell.name.title = name;
          rec.cells.set(name, cell);
        }
        setText(cell.value, count(values[name]));
      }
      for (const [name, cell] of rec.cells) {
        if (!(name in values)) {
          cell.node.remove();
          rec.cells.delete(name);
        }
      }
      arrange(rec.grid, names.map((n) => rec.cells.get(n).node));
    }
    for (const [key, rec] of counterView) {
      if (!seen.has(key)) {
        rec.node.remove();
        counterView.delete(key);
      }
    }
    arrange(box, sets.map((c) => counterView.get(keyOf(c)).node), $("counters-empty"));
    $("counters-empty").hidden = sets.length > 0;
  }

  // ---- alerts --------------------------------------------------------------------------

  const alertView = new Map();
  let alertSeparator = null;

  const isRaised = (a) => a.state !== "ok" && !detailOf(a).cleared_ms;

  function createAlert(key) {
    const node = el("div", "alert-row");
    node.dataset.entity = key;
    return {
      key,
      node,
      sev: el("span", "a-sev", node),
      msg: el("span", "a-msg", node),
      time: el("span", "a-time", node),
      subject: el("span", "a-subject", node),
      dur: el("span", "a-dur", node),
      raisedMs: null,
      clearedMs: null,
    };
  }

  function updateAlert(rec, a) {
    const d = detailOf(a);
    const raised = isRaised(a);
    const severity = d.severity || (a.state === "error" ? "critical" : "warning");
    setAttr(rec.node, "data-state", a.state);
    setAttr(rec.node, "data-severity", severity);
    rec.node.classList.toggle("cleared", !raised);
    setText(rec.sev, raised ? (severity === "critical" ? "严重 CRIT" : "警告 WARN") : "已解除 CLEARED");
    setText(rec.msg, d.message || a.reason || d.rule || a.id);
    setText(rec.subject, [d.subject, d.rule].filter(Boolean).join(" · "));
    rec.raisedMs = typeof d.raised_ms === "number" ? d.raised_ms : a.since_ms;
    rec.clearedMs = raised ? null : d.cleared_ms || a.since_ms;
    setText(rec.time, raised ? clockTime(rec.raisedMs) : clockTime(rec.raisedMs) + " → " + clockTime(rec.clearedMs));
    rec.node.title = a.id;
  }

  function updateAlertDurations(now) {
    for (const rec of alertView.values()) {
      const end = rec.clearedMs || now;
      setText(rec.dur, typeof rec.raisedMs === "number" ? "持续 " + duration(end - rec.raisedMs) : "");
    }
  }

  function renderAlerts() {
    const alerts = entitiesOf("alert");
    const rank = (a) => (detailOf(a).severity === "critical" || (!detailOf(a).severity && a.state === "error") ? 0 : 1);
    const raised = alerts
      .filter(isRaised)
      .sort((a, b) => rank(a) - rank(b) || (detailOf(b).raised_ms || 0) - (detailOf(a).raised_ms || 0));
    const cleared = alerts
      .filter((a) => !isRaised(a))
      .sort((a, b) => (detailOf(b).cleared_ms || b.since_ms || 0) - (detailOf(a).cleared_ms || a.since_ms || 0))
      .slice(0, CLEARED_ALERTS_SHOWN);
    const shown = new Set([...raised, ...cleared].map(keyOf));
    for (const [key, rec] of alertView) {
      if (!shown.has(key)) {
        rec.node.remove();
        alertView.delete(key);
      }
    }
    const nodes = [];
    const place = (a) => {
      const key = keyOf(a);
      let rec = alertView.get(key);
      if (!rec) alertView.set(key, (rec = createAlert(key)));
      updateAlert(rec, a);
      nodes.push(rec.node);
    };
    raised.forEach(place);
    if (cleared.length) {
      if (!alertSeparator) alertSeparator = el("div", "alerts-sep", null, "最近解除 recently cleared");
      nodes.push(alertSeparator);
    } else if (alertSeparator) {
      alertSeparator.remove();
    }
    cleared.forEach(place);
    arrange($("alerts"), nodes, $("alerts-empty"));
    $("alerts-empty").hidden = nodes.length > 0;
    updateAlertDurations(Date.now());

    const badge = $("alert-badge");
    setAttr(badge, "data-count", raised.length);
    setText($("alert-count"), raised.length);
    const critical = raised.filter((a) => rank(a) === 0).length;
    setText(
      $("alert-summary"),
      raised.length ? raised.length + " 未解除 raised" + (critical ? " · " + critical + " 严重 critical" : "") : "",
    );
  }

  // ---- interfaces diagram ----------------------------------------------------------------

  /** The diagram's current node set; the SVG is rebuilt only when it changes. */
  let diagramSig = null;
  const diagramNodes = new Map();

  /** Keeps at most `max` items, folding the rest into one "+N more" node. */
  function capped(items, max, more) {
    if (items.length <= max) return items;
    const rest = items.slice(max - 1);
    return [...items.slice(0, max - 1), more(rest)];
  }

  function diagramModel() {
    const lines = entitiesOf("line")
      .sort((a, b) => collator.compare(a.id, b.id))
      .map((l) => {
        const d = detailOf(l);
        const pm = Array.isArray(d.per_minute) && d.per_minute.length >= 2 ? d.per_minute[d.per_minute.length - 2] : null;
        return {
          id: "line:" + l.id,
          state: l.state,
          title: l.id,
          sub: (LINE_STATE_LABEL[d.line_state] || d.line_state || l.state) + (pm === null ? "" : " · " + pm + "/min"),
        };
      });
    const branches = branchesNow().map((b) => ({
      id: "branch:" + b.code,
      state: b.state,
      title: b.name || b.code,
      sub: "在线 " + b.online + "/" + b.terminals.length + " online",
    }));
    const byPeer = new Map();
    for (const c of entitiesOf("channel")) {
      const peer = detailOf(c).peer || "other";
      if (!byPeer.has(peer)) byPeer.set(peer, []);
      byPeer.get(peer).push(c);
    }
    const peerRank = (p) => (PEER_ORDER.indexOf(p) < 0 ? 99 : PEER_ORDER.indexOf(p));
    const peers = [...byPeer.entries()]
      .sort((a, b) => peerRank(a[0]) - peerRank(b[0]) || collator.compare(a[0], b[0]))
      .map(([peer, chans]) => {
        const up = chans.filter((c) => detailOf(c).connected !== false).length;
        const queued = chans.reduce((n, c) => n + (detailOf(c).queue_depth || 0), 0);
        return {
          id: "peer:" + peer,
          state: worst(chans.map((c) => c.state)),
          title: PEER_LABEL[peer] || peer,
          sub: (chans.length === 1 ? chans[0].id : up + "/" + chans.length + " up") + (queued ? " · q " + count(queued) : ""),
        };
      });
    const more = (kind) => (rest) => ({
      id: kind + ":+more",
      state: worst(rest.map((n) => n.state)),
      title: "+" + rest.length + " more",
      sub: rest.filter((n) => n.state === "error" || n.state === "offline").length + " down",
    });
    return {
      lines: lines.length ? capped(lines, DIAGRAM_SIDE_MAX, more("line")) : [placeholder("line", "暂无产线", "no production lines")],
      branches: branches.length
        ? capped(branches, DIAGRAM_SIDE_MAX, more("branch"))
        : [placeholder("branch", "暂无网点终端", "no branch terminals connected")],
      peers: peers.length
        ? capped(peers, DIAGRAM_PEERS_MAX, more("peer"))
        : [placeholder("peer", "暂无外部通道", "no outside channels")],
    };
  }

  function placeholder(kind, title, sub) {
    return { id: kind + ":none", state: "none", title, sub: sub || "" };
  }

  // Geometry of the 820x540 viewBox (index.html): workshop lines on the
  // left, branches on the right, outside parties above and below the hub.
  const HUB = { x: 410, y: 270, w: 196, h: 84 };
  const SIDE = { w: 184, h: 46, left: 100, right: 720, top: 112, bottom: 462 };
  const PEER = { w: 164, h: 50, top: 40, bottom: 500, left: 244, right: 576 };

  function layout(m) {
    const spread = (n, a, b) => (n === 1 ? [(a + b) / 2] : Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1)));
    const sideTop = SIDE.top + SIDE.h / 2;
    const sideBottom = SIDE.bottom - SIDE.h / 2;
    const sideSpan = (n) => {
      const gap = Math.min(64, (sideBottom - sideTop) / Math.max(1, n - 1));
      const mid = (sideTop + sideBottom) / 2;
      return spread(n, mid - (gap * (n - 1)) / 2, mid + (gap * (n - 1)) / 2);
    };
    const placed = [];
    sideSpan(m.lines.length).forEach((y, i) => placed.push({ ...m.lines[i], x: SIDE.left, y, w: SIDE.w, h: SIDE.h, side: "left" }));
    sideSpan(m.branches.length).forEach((y, i) =>
      placed.push({ ...m.branches[i], x: SIDE.right, y, w: SIDE.w, h: SIDE.h, side: "right" }),
    );
    const topN = Math.ceil(m.peers.length / 2);
    const top = m.peers.slice(0, topN);
    const bottom = m.peers.slice(topN);
    spread(top.length, PEER.left, PEER.right).forEach((x, i) => placed.push({ ...top[i], x, y: PEER.top, w: PEER.w, h: PEER.h, side: "top" }));
    spread(bottom.length, PEER.left, PEER.right).forEach((x, i) =>
      placed.push({ ...bottom[i], x, y: PEER.bottom, w: PEER.w, h: PEER.h, side: "bottom" }),
    );
    return placed;
  }

  function edgePath(n) {
    const hx = HUB.x;
    const hy = HUB.y;
    if (n.side === "left" || n.side === "right") {
      const sx = n.side === "left" ? hx - HUB.w / 2 : hx + HUB.w / 2;
      const ex = n.side === "left" ? n.x + n.w / 2 : n.x - n.w / 2;
      const mx = (sx + ex) / 2;
      const sy = hy + Math.max(-HUB.h / 2 + 10, Math.min(HUB.h / 2 - 10, (n.y - hy) / 6));
      return `M${sx},${sy} C${mx},${sy} ${mx},${n.y} ${ex},${n.y}`;
    }
    const sy = n.side === "top" ? hy - HUB.h / 2 : hy + HUB.h / 2;
    const ey = n.side === "top" ? n.y + n.h / 2 : n.y - n.h / 2;
    const my = (sy + ey) / 2;
    const sx = hx + (n.x - hx) / 4;
    return `M${sx},${sy} C${sx},${my} ${n.x},${my} ${n.x},${ey}`;
  }

  function renderDiagram() {
    const root = $("diagram");
    const placed = layout(diagramModel());
    const sig = placed.map((n) => n.id).join("|");
    if (sig !== diagramSig) {
      diagramSig = sig;
      diagramNodes.clear();
      root.replaceChildren();
      const label = (x, y, text, anchor) => {
        const t = svg("text", { class: "area-label", x, y, "text-anchor": anchor || "middle" }, root);
        t.textContent = text;
      };
      label(SIDE.left, SIDE.top - 12, "制卡车间 Workshop");
      label(SIDE.right, SIDE.top - 12, "网点机构 Branches");
      label(PEER.left - PEER.w / 2 - 12, PEER.top - 2, "外部机构", "end");
      label(PEER.left - PEER.w / 2 - 12, PEER.top + 16, "Outside parties", "end");
      const edges = svg("g", {}, root);
      const nodes = svg("g", {}, root);
      for (const n of placed) {
        const edge = svg("path", { class: "edge", d: edgePath(n) }, edges);
        const g = svg("g", { class: "node", transform: `translate(${n.x - n.w / 2},${n.y - n.h / 2})` }, nodes);
        g.dataset.node = n.id;
        svg("rect", { width: n.w, height: n.h, rx: 8 }, g);
        const title = svg("text", { x: n.w / 2, y: n.h / 2 - 3, "text-anchor": "middle" }, g);
        const sub = svg("text", { class: "sub", x: n.w / 2, y: n.h / 2 + 15, "text-anchor": "middle" }, g);
        diagramNodes.set(n.id, { g, edge, title, sub });
      }
      const hub = svg("g", { class: "node hub", transform: `translate(${HUB.x - HUB.w / 2},${HUB.y - HUB.h / 2})` }, nodes);
      hub.dataset.node = "hub";
      svg("rect", { width: HUB.w, height: HUB.h, rx: 12 }, hub);
      svg("text", { x: HUB.w / 2, y: HUB.h / 2 - 6, "text-anchor": "middle" }, hub).textContent = "中心 cardhub";
      const hubSub = svg("text", { class: "sub", x: HUB.w / 2, y: HUB.h / 2 + 20, "text-anchor": "middle" }, hub);
      diagramNodes.set("hub", { g: hub, sub: hubSub });
    }
    for (const n of placed) {
      const v = diagramNodes.get(n.id);
      setAttr(v.g, "data-state", n.state);
      setAttr(v.edge, "data-state", n.state);
      setText(v.title, fit(n.title, n.w / 8.6));
      setText(v.sub, fit(n.sub, n.w / 6.2));
    }
    const hub = diagramNodes.get("hub");
    setText(hub.sub, link.state === "connected" ? "社保卡中心 card centre" : "— 未连接 not linked —");
  }

  // ---- auto-scroll ---------------------------------------------------------------

  /** Scrolls each overflowing `.scroll` panel slowly; a pointer over it stops it. */
  function startAutoScroll() {
    const boxes = [...document.querySelectorAll(".wall .scroll")].map((box) => ({
      box,
      hover: false,
      phase: "top",
      until: Date.now() + AUTOSCROLL_PAUSE_MS,
    }));
    for (const s of boxes) {
      s.box.addEventListener("mouseenter", () => (s.hover = true));
      s.box.addEventListener("mouseleave", () => {
        s.hover = false;
        s.until = Date.now() + AUTOSCROLL_PAUSE_MS;
      });
    }
    setInterval(() => {
      const now = Date.now();
      for (const s of boxes) {
        const room = s.box.scrollHeight - s.box.clientHeight;
        if (s.hover || room <= 4 || now < s.until) continue;
        if (s.phase === "top" || s.phase === "down") {
          s.phase = "down";
          s.box.scrollTop += AUTOSCROLL_STEP_PX;
          if (s.box.scrollTop >= room - 1) {
            s.phase = "bottom";
            s.until = now + AUTOSCROLL_PAUSE_MS;
          }
        } else {
          s.box.scrollTop = 0;
          s.phase = "top";
          s.until = now + AUTOSCROLL_PAUSE_MS;
        }
      }
    }, AUTOSCROLL_STEP_MS);
  }

  // ---- the WebSocket -------------------------------------------------------------

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (_) {
      return null;
    }
  }

  function storeToken(token) {
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) {
      /* storage disabled: the token lives as long as this page */
    }
    memoryToken = token;
  }
  let memoryToken = null;

  /** A token in the URL fragment (#token=...) is kept and wiped from the address bar. */
  function takeFragmentToken() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const token = params.get("token");
    if (!token) return;
    storeToken(token);
    history.replaceState(null, "", location.pathname + location.search);
  }

  function send(ws, msg) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(Object.assign({ v: PROTOCOL_VERSION }, msg)));
  }

  function armWatchdog(ws) {
    clearTimeout(link.watchdog);
    link.watchdog = setTimeout(() => {
      if (ws !== link.ws) return;
      console.warn("cardhub wall: nothing from the hub for " + link.timeoutMs + " ms; the link is dead");
      drop(ws);
    }, link.timeoutMs);
  }

  /** Forgets a socket without waiting for its close handshake. */
  function drop(ws) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch (_) {
      /* already closed */
    }
    if (ws === link.ws) {
      link.ws = null;
      lost();
    }
  }

  function connect() {
    clearTimeout(link.retry);
    link.retry = 0;
    if (link.ws) return;
    if (!link.everConnected) setConnection("connecting");
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/monitor";
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      console.warn("cardhub wall: cannot open " + url, e);
      lost();
      return;
    }
    link.ws = ws;
    ws.onopen = () => {
      const hello = { type: "hello" };
      const token = storedToken() || memoryToken;
      if (token) hello.token = token;
      if (link.epoch && link.seq !== null) {
        hello.epoch = link.epoch;
        hello.since = link.seq;
      }
      send(ws, hello);
      armWatchdog(ws);
    };
    ws.onmessage = (ev) => {
      if (ws !== link.ws) return;
      armWatchdog(ws);
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (_) {
        console.warn("cardhub wall: a frame that is not JSON", ev.data);
        return;
      }
      handle(ws, msg);
    };
    ws.onclose = () => {
      if (ws !== link.ws) return;
      link.ws = null;
      lost();
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  function handle(ws, msg) {
    switch (msg.type) {
      case "welcome":
        link.timeoutMs = (msg.timeout_secs > 0 ? msg.timeout_secs : DEFAULT_TIMEOUT_SECS) * 1000;
        link.attempt = 0;
        link.downSince = null;
        link.everConnected = true;
        link.caller = [msg.caller, msg.role].filter(Boolean).join(" · ") || null;
        armWatchdog(ws);
        setConnection("connected");
        dirtyAll = true; // the hub node's caption, the header
        schedule();
        break;
      case "snapshot":
        applySnapshot(msg);
        break;
      case "deltas":
        applyDeltas(msg);
        break;
      case "heartbeat":
        send(ws, { type: "pong" });
        break;
      case "pong":
        break;
      case "error":
        if (msg.code === "unauthenticated") {
          storeToken(null);
          link.needLogin = true;
          drop(ws);
        } else {
          console.warn("cardhub wall: hub error " + msg.code + ": " + msg.message);
          if (msg.fatal) drop(ws);
        }
        break;
      default:
        console.warn("cardhub wall: unknown message type", msg.type);
    }
  }

  function lost() {
    clearTimeout(link.watchdog);
    if (link.downSince === null) link.downSince = Date.now();
    setConnection("disconnected");
    renderDiagram();
    if (link.needLogin) {
      showLogin();
      return;
    }
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, link.attempt));
    link.attempt++;
    const delay = base * (1 - BACKOFF_JITTER + Math.random() * 2 * BACKOFF_JITTER);
    link.retry = setTimeout(connect, delay);
  }

  // ---- login -----------------------------------------------------------------------

  function showLogin() {
    $("login").hidden = false;
    $("login-username").focus();
  }

  function setupLogin() {
    const form = $("login-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const error = $("login-error");
      const button = $("login-submit");
      error.hidden = true;
      button.disabled = true;
      try {
        const res = await fetch("/api/v1/session", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          credentials: "same-origin",
          body: JSON.stringify({ username: $("login-username").value, password: $("login-password").value }),
        });
        const body = await res.json().catch(() => ({}));
        if (!res.ok || typeof body.token !== "string") {
          throw new Error(body.message || "HTTP " + res.status);
        }
        storeToken(body.token);
        $("login-password").value = "";
        $("login").hidden = true;
        link.needLogin = false;
        link.attempt = 0;
        connect();
      } catch (e) {
        error.textContent = "登录失败 Sign-in failed: " + e.message;
        error.hidden = false;
      } finally {
        button.disabled = false;
      }
    });
  }

  // ---- start ---------------------------------------------------------------------------

  takeFragmentToken();
  setupLogin();
  startAutoScroll();
  setConnection("connecting");
  render();
  tick();
  setInterval(() => {
    tick();
    renderBanner();
  }, 1000);
  connect();

  /** For people at the console and for tests: read-only looks at the state. */
  window.cardhubWall = {
    entities: () => model.size,
    entity: (key) => model.get(key),
    link: () => ({ state: link.state, epoch: link.epoch, seq: link.seq, attempt: link.attempt }),
  };
})();
