/* The branch console (网点服务平台): the client side of the counter's
 * endpoints.
 *
 * Data flow: login (POST /api/v1/session; the hub sets the httpOnly
 * `cardhub_session` cookie, which authenticates every later fetch) ->
 * GET /api/v1/branch/context (operator, branch, allowed operations) ->
 * the views. Each view's form runs one request through `act`, which
 * disables the form's buttons while it runs and shows a refusal as the
 * API's own `message` in the view's error box; nothing is swallowed. A 401
 * from any request brings the login back (the watermark stays).
 *
 * The watermark (operator, branch, Shanghai time to the minute) is drawn
 * over the whole viewport once someone is logged in: tiles of text in a
 * fixed layer that takes no clicks and no selection, redrawn every minute
 * and on resize, and drawn again when anything removes or alters it (a
 * MutationObserver on the document).
 *
 * Nothing from the hub is parsed as HTML: text goes through textContent.
 * Tests read document.body.dataset.state (logged-out, logged-in), the
 * #watermark layer, the views' ids and window.cardhubConsole.
 *
 * Layout (one file: the hub serves exactly three): constants, DOM helpers,
 * the API, time, the watermark, login and context, views and tabs, then
 * one section per view (read card, photo, application, card services,
 * card check and PIN, instant replacement, query), start.
 */
(function () {
  "use strict";

  // ---- constants ---------------------------------------------------------

  /** Where the counter's terminal id is remembered between sessions. */
  const TERMINAL_KEY = "cardhub.console.terminal";
  /** The watermark's tile pitch in CSS pixels: wide enough for one line of
   *  operator, branch and time at 15 px, close enough that a photo of any
   *  quarter of the screen carries a whole tile. */
  const WATERMARK_DX = 340;
  const WATERMARK_DY = 170;
  /** The centre's clock for every screen: Shanghai time. */
  const TIME_ZONE = "Asia/Shanghai";
  /** A running instant issue is asked about once a second. */
  const TASK_POLL_MS = 1000;

  const CARD_KIND_LABEL = {
    resident: "居民身份证 resident ID",
    "permanent-residence-2017": "外国人永久居留身份证 (2017) permanent residence",
    "permanent-residence-2023": "外国人永久居留身份证 (2023) permanent residence",
  };
  const SEX_LABEL = { male: "男 male", female: "女 female", unknown: "未知 unknown", unstated: "未说明 unstated" };
  const BRANCH_KIND_LABEL = { community: "社区事务受理中心 community", bank: "银行网点 bank", centre: "卡中心 centre" };
  const ROLE_LABEL = { "branch-operator": "网点操作员", "centre-staff": "中心人员", admin: "管理员" };
  /** ISO 3166-1 numeric codes the counter meets most, for display only
   *  (the hub checks the code against the number). */
  const NATIONALITY = {
    156: "中国 China", 840: "美国 United States", 124: "加拿大 Canada", 826: "英国 United Kingdom",
    250: "法国 France", 276: "德国 Germany", 392: "日本 Japan", 410: "韩国 Korea", 36: "澳大利亚 Australia",
    554: "新西兰 New Zealand", 702: "新加坡 Singapore", 458: "马来西亚 Malaysia", 643: "俄罗斯 Russia",
    380: "意大利 Italy", 724: "西班牙 Spain", 528: "荷兰 Netherlands", 756: "瑞士 Switzerland",
    752: "瑞典 Sweden", 76: "巴西 Brazil", 356: "印度 India", 704: "越南 Viet Nam", 764: "泰国 Thailand",
    608: "菲律宾 Philippines", 360: "印度尼西亚 Indonesia", 710: "南非 South Africa",
    682: "沙特阿拉伯 Saudi Arabia", 784: "阿联酋 United Arab Emirates", 792: "土耳其 Türkiye",
    586: "巴基斯坦 Pakistan", 50: "孟加拉国 Bangladesh", 818: "埃及 Egypt", 484: "墨西哥 Mexico",
    32: "阿根廷 Argentina", 40: "奥地利 Austria", 56: "比利时 Belgium", 208: "丹麦 Denmark",
    246: "芬兰 Finland", 372: "爱尔兰 Ireland", 578: "挪威 Norway", 616: "波兰 Poland", 620: "葡萄牙 Portugal",
  };
  /** GB 3304 ethnicity codes (民族); 97 其他 is the default for a holder
   *  whose card carries none. */
  const ETHNICITIES = [
    "汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族", "布依族", "朝鲜族",
    "满族", "侗族", "瑶族", "白族", "土家族", "哈尼族", "哈萨克族", "傣族", "黎族", "傈僳族",
    "佤族", "畲族", "高山族", "拉祜族", "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族",
    "达斡尔族", "仫佬族", "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族",
    "塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族", "京族", "塔塔尔族",
    "独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族",
  ];
  const ETHNICITY_OTHER = 97;
  const APPLICATION_KIND_LABEL = {
    "first-issue": "首次申领", replacement: "补卡", renewal: "换卡", "instant-issue": "即时制卡",
  };
  const APPLICATION_STATUS_LABEL = { open: "受理中", completed: "已完成", withdrawn: "已撤回" };
  /** The counter's card operations, in menu order: stable name, label, and
   *  whether the button warns (the change is hard to undo). */
  const CARD_OPERATIONS = [
    ["temporary-loss", "临时挂失 temporary loss", false],
    ["formal-loss", "正式挂失 formal loss", true],
    ["unlock", "解挂 unlock", false],
    ["cancellation", "注销 cancel", true],
    ["activation", "启用 activate", false],
    ["hand-over", "领卡 hand over", false],
  ];
  const TASK_STATUS_LABEL = {
    queued: "待制卡 queued", "in-production": "制卡中 in production", done: "已完成 done", failed: "制卡失败 failed",
  };
  const OPERATION_KIND_LABEL = {
    "first-issue": "首次申领", replacement: "补卡", renewal: "换卡", "temporary-loss": "临时挂失",
    "formal-loss": "正式挂失", unlock: "解挂", cancellation: "注销", activation: "启用", "hand-over": "领卡",
    "person-query": "个人信息查询", "card-lookup": "卡片查询", "instant-issue": "即时补换",
  };

  // ---- state -------------------------------------------------------------

  const state = {
    /** GET /branch/context's answer while logged in. */
    context: null,
    /** The last ID card read (IdReadView, with its id_read_id). */
    read: null,
    /** The last photo taken (PhotoView). */
    photo: null,
    /** The last application accepted (CounterApplicationView). */
    application: null,
    /** The instant issue being followed: { task_id, card_id, line, timer }. */
    instant: null,
    /** The holder shown in card services. */
    holder: null,
  };

  // ---- DOM helpers -------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-") || k.startsWith("aria-")) node.setAttribute(k, String(v));
      else node[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  function setText(id, text) {
    $(id).textContent = text === null || text === undefined || text === "" ? "—" : String(text);
  }

  /** The error box of a view (the first `[data-error]` in it, or the one
   *  named). */
  function errorBox(view, name) {
    const root = $("view-" + view);
    return name ? root.querySelector(`[data-error="${name}"]`) : root.querySelector("[data-error]");
  }

  /** Shows `message` in `box` (an error box, or a confirmation panel). */
  function show(box, message) {
    box.textContent = message;
    box.hidden = false;
  }

  function formValues(form) {
    const out = {};
    for (const [k, v] of new FormData(form).entries()) out[k] = typeof v === "string" ? v.trim() : v;
    return out;
  }

  // ---- the API -----------------------------------------------------------

  /** A refusal from the hub: its status, stable code and message. */
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** One request to /api/v1; resolves to the JSON answer (null for 204),
   *  rejects with an ApiError carrying the hub's `message`. */
  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch("/api/v1" + path, init);
    } catch (e) {
      throw new ApiError(0, "network", "无法连接中心 The hub cannot be reached: " + e.message);
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    if (!res.ok) {
      const message = data && typeof data.message === "string"
        ? data.message
        : text || res.statusText || "HTTP " + res.status;
      const error = new ApiError(res.status, data && data.error, message);
      if (res.status === 401 && path !== "/session" && state.context) sessionLost(message);
      throw error;
    }
    return data;
  }

  /** Runs `fn` for a form: its buttons disabled meanwhile, `box` showing
   *  the refusal (the API's message, verbatim). */
  async function act(form, box, fn) {
    const buttons = Array.from(form.querySelectorAll("button"));
    buttons.forEach((b) => { b.disabled = true; });
    document.body.dataset.busy = String(Number(document.body.dataset.busy || 0) + 1);
    if (box) box.hidden = true;
    try {
      await fn();
    } catch (e) {
      if (box) show(box, e.message);
      else throw e;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      document.body.dataset.busy = String(Math.max(0, Number(document.body.dataset.busy) - 1));
    }
  }

  /** The terminal id typed at the top, or an error naming the field. */
  function terminal() {
    const id = $("terminal").value.trim();
    if (!id) throw new ApiError(0, "no-terminal", "请先填写终端编号 Enter this counter's terminal id at the top first.");
    return encodeURIComponent(id);
  }

  // ---- time --------------------------------------------------------------

  const minuteFormat = new Intl.DateTimeFormat("en-CA", {
    timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });

  /** `YYYY-MM-DD HH:MM` in Shanghai. */
  function shanghaiMinute(date) {
    const parts = {};
    for (const p of minuteFormat.formatToParts(date)) parts[p.type] = p.value;
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
  }

  /** A stored UTC instant (`2026-12-01T08:00:00.123`, no zone) in Shanghai. */
  function shanghaiOf(utc) {
    if (!utc) return "—";
    const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(utc) ? utc : utc + "Z");
    return Number.isNaN(d.getTime()) ? utc : shanghaiMinute(d);
  }

  function tickClock() {
    const [day, time] = shanghaiMinute(new Date()).split(" ");
    $("clock-time").textContent = time;
    $("clock-date").textContent = day + " 上海";
  }

  // ---- the watermark -----------------------------------------------------

  const watermark = {
    /** The layer now in the document (null when logged out). */
    node: null,
    /** The text the tiles carry. */
    text: "",
    observer: null,
    minuteTimer: null,
  };

  /** The watermark's text: operator, branch, Shanghai time to the minute. */
  function watermarkText() {
    const c = state.context;
    if (!c) return "";
    return `${c.operator.display_name} · ${c.branch.name}\n${shanghaiMinute(new Date())}`;
  }

  /** (Re)creates the layer and its tiles for the viewport's size. Our own
   *  changes are hidden from the observer. */
  function drawWatermark() {
    if (!state.context) return;
    if (watermark.observer) watermark.observer.disconnect();
    if (watermark.node) watermark.node.remove();
    watermark.text = watermarkText();
    const layer = el("div", { id: "watermark", class: "watermark", "aria-hidden": "true", "data-text": watermark.text });
    const w = window.innerWidth;
    const h = window.innerHeight;
    // Rows are staggered by half a tile; one extra row and column each
    // side so rotated tiles reach the corners.
    for (let row = -1, y = -WATERMARK_DY / 2; y < h + WATERMARK_DY; row++, y += WATERMARK_DY) {
      const shift = row % 2 === 0 ? 0 : WATERMARK_DX / 2;
      for (let x = -WATERMARK_DX + shift; x < w + WATERMARK_DX; x += WATERMARK_DX) {
        const tile = el("span", { text: watermark.text });
        tile.style.left = x + "px";
        tile.style.top = y + "px";
        layer.append(tile);
      }
    }
    document.body.append(layer);
    watermark.node = layer;
    watch();
  }

  /** Whether a batch of mutations touched the layer: removed it, or
   *  changed it or anything in it (drawWatermark's own changes are made
   *  while the observer is disconnected, so they are not seen). */
  function tampered(records) {
    const layer = watermark.node;
    if (!layer || !layer.isConnected) return true;
    return records.some((r) => r.target === layer || layer.contains(r.target)
      || Array.from(r.removedNodes).some((n) => n === layer || n.contains(layer)));
  }

  /** Watches the whole document for the layer's removal and for any
   *  change to it (hidden, restyled, a tile edited or removed). */
  function watch() {
    if (!watermark.observer) {
      watermark.observer = new MutationObserver((records) => {
        if (state.context && tampered(records)) drawWatermark();
      });
    }
    watermark.observer.observe(document.documentElement, {
      childList: true, subtree: true, attributes: true, characterData: true,
    });
  }

  function startWatermark() {
    drawWatermark();
    if (watermark.minuteTimer) clearTimeout(watermark.minuteTimer);
    const schedule = () => {
      // Just after the next minute starts, in every time zone.
      const ms = 60000 - (Date.now() % 60000) + 50;
      watermark.minuteTimer = setTimeout(() => {
        drawWatermark();
        tickClock();
        schedule();
      }, ms);
    };
    schedule();
  }

  function stopWatermark() {
    if (watermark.minuteTimer) clearTimeout(watermark.minuteTimer);
    watermark.minuteTimer = null;
    if (watermark.observer) watermark.observer.disconnect();
    if (watermark.node) watermark.node.remove();
    watermark.node = null;
  }

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (state.context) drawWatermark(); }, 100);
  });

  // ---- login and context -------------------------------------------------

  function showLogin(note) {
    $("login").hidden = false;
    if (note) show($("login-error"), note);
    $("login-username").focus();
  }

  /** A request answered 401: the session ended. The login comes back over
   *  the views; the watermark stays until someone logs out. */
  function sessionLost(message) {
    showLogin("会话已失效，请重新登录 Your session ended: " + message);
  }

  async function loadContext() {
    const ctx = await api("GET", "/branch/context");
    state.context = ctx;
    document.body.dataset.state = "logged-in";
    setText("ctx-operator", ctx.operator.display_name);
    setText("ctx-role", ROLE_LABEL[ctx.operator.role] || ctx.operator.role);
    setText("ctx-branch-name", ctx.branch.name);
    setText("ctx-branch-code", ctx.branch.code);
    setText("ctx-branch-kind", BRANCH_KIND_LABEL[ctx.branch.kind] || ctx.branch.kind);
    for (const id of ["facts", "tabs", "views", "logout"]) $(id).hidden = false;
    $("login").hidden = true;
    $("apply-manual").hidden = !ctx.operator.manual_entry;
    applyPermissions(ctx.operations || []);
    startWatermark();
    loadApplications();
  }

  /** Offers only what the context allows: tabs and card-operation
   *  buttons the operator may not use are disabled with the reason. */
  function applyPermissions(ops) {
    const has = (op) => ops.includes(op);
    const anyApply = ops.some((op) => op.startsWith("apply-"));
    const cardOps = CARD_OPERATIONS.some(([op]) => has(op));
    const tabs = {
      apply: anyApply,
      cards: cardOps || has("card-lookup"),
      query: has("person-query") || has("application-list") || has("statistics"),
    };
    for (const button of $("tabs").querySelectorAll("button")) {
      const allowed = tabs[button.dataset.view];
      button.disabled = allowed === false;
      button.title = allowed === false ? "您的角色或网点不办理此业务 not offered to your role or branch" : "";
    }
    const kind = $("apply-form").elements.kind;
    for (const option of kind.options) {
      option.disabled = !has("apply-" + option.value);
    }
    const permit = $("apply-form").elements.document_type.querySelector('option[value="permanent-residence"]');
    permit.disabled = !has("apply-permanent-residence");
  }

  function setupLogin() {
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      act(form, $("login-error"), async () => {
        const { username, password } = formValues(form);
        const answer = await api("POST", "/session", { username, password });
        $("login-password").value = "";
        if (state.context && state.context.operator.username !== answer.operator.name) {
          // Someone else at the counter: nothing of the last holder stays.
          resetViews();
        }
        await loadContext();
      });
    });
    $("logout").addEventListener("click", async () => {
      $("logout").disabled = true;
      try {
        await api("DELETE", "/session");
      } catch (e) {
        if (e.status !== 401) {
          window.alert("退出失败 Log-out failed: " + e.message);
          return;
        }
      } finally {
        $("logout").disabled = false;
      }
      loggedOut();
    });
  }

  function loggedOut() {
    state.context = null;
    resetViews();
    stopWatermark();
    document.body.dataset.state = "logged-out";
    for (const id of ["facts", "tabs", "views", "logout"]) $(id).hidden = true;
    $("login-error").hidden = true;
    showLogin();
  }

  /** Forgets the holder, photo and results (logout, another operator). */
  function resetViews() {
    stopInstant();
    state.read = state.photo = state.application = state.holder = null;
    for (const id of ["read-result", "photo-result", "apply-result", "instant-result"]) $(id).hidden = true;
    for (const id of ["cards-result", "check-result", "pin-result", "person-result", "stats-result"]) $(id).replaceChildren();
    for (const box of document.querySelectorAll("[data-error]")) box.hidden = true;
    $("apply-form").reset();
    fillEthnicities();
    showEvidence();
  }

  // ---- views and tabs ----------------------------------------------------

  function showView(name) {
    for (const section of document.querySelectorAll("section.view")) section.hidden = section.dataset.view !== name;
    for (const button of $("tabs").querySelectorAll("button")) {
      button.setAttribute("aria-selected", String(button.dataset.view === name));
    }
    document.body.dataset.view = name;
    if (name === "apply") prefillApplication();
    if (name === "query") loadApplications();
  }

  function setupViews() {
    $("tabs").addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-view]");
      if (button && !button.disabled) showView(button.dataset.view);
    });
    document.addEventListener("click", (ev) => {
      const go = ev.target.closest("[data-goto]");
      if (go) showView(go.dataset.goto);
    });
    const field = $("terminal");
    field.value = localStorage.getItem(TERMINAL_KEY) || "";
    field.addEventListener("change", () => {
      const id = field.value.trim();
      if (id) localStorage.setItem(TERMINAL_KEY, id);
      else localStorage.removeItem(TERMINAL_KEY);
    });
  }

  // ---- 1. read card ------------------------------------------------------

  function setupRead() {
    $("read-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      act(form, errorBox("read"), async () => {
        const v = formValues(form);
        const read = await api("POST", `/branch/terminals/${terminal()}/id-card`, {
          device: v.device || "id-reader-1",
          wait_secs: Number(v.wait_secs) || 10,
        });
        state.read = read;
        showRead(read);
        showEvidence();
      });
    });
  }

  function showRead(r) {
    setText("read-kind", CARD_KIND_LABEL[r.card_kind] || r.card_kind_label || r.card_kind);
    setText("read-number", r.document_number);
    setText("read-name", r.name);
    setText("read-chinese-name", r.chinese_name);
    setText("read-english-name", englishName(r));
    setText("read-record", r.id_read_id ? "#" + r.id_read_id : null);
    setText("read-sex", SEX_LABEL[r.sex] || r.sex);
    setText("read-birth", r.birth_date);
    setText("read-valid", r.valid_to || "长期 long-term");
    setText("read-nationality", nationalityText(r.nationality));
    const check = $("read-check");
    check.dataset.ok = String(!!r.number_ok);
    check.textContent = r.number_ok
      ? "证件号码校验通过 The number passes its checks."
      : "证件号码校验未通过 The number fails its checks: " + (r.number_problem || "");
    $("read-result").hidden = false;
  }

  /** A permanent-residence holder's English name from a read: the hub's
   *  `english_name`, else `name` unless that is the Chinese name. Empty
   *  when the read does not say (the operator types it from the card). */
  function englishName(r) {
    if (!r || !r.card_kind || !r.card_kind.startsWith("permanent-residence")) return "";
    if (r.english_name) return r.english_name;
    return r.name && r.name !== r.chinese_name ? r.name : "";
  }

  function nationalityText(code) {
    if (code === null || code === undefined || code === "") return "—";
    const n = Number(code);
    return `${String(n).padStart(3, "0")} ${NATIONALITY[n] || ""}`.trim();
  }

  // ---- 2. photo ----------------------------------------------------------

  function setupPhoto() {
    $("photo-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      act(form, errorBox("photo"), async () => {
        const v = formValues(form);
        const photo = await api("POST", `/branch/terminals/${terminal()}/photo`, { device: v.device || "camera-1" });
        state.photo = photo;
        $("photo-img").src = "data:image/jpeg;base64," + photo.jpeg_base64;
        setText("photo-file", photo.file_name);
        setText("photo-size", `${photo.width} × ${photo.height} px`);
        setText("photo-bytes", `${(photo.bytes / 1024).toFixed(1)} KiB (${photo.bytes} bytes)`);
        $("photo-result").hidden = false;
        showEvidence();
      });
    });
  }

  // ---- 3. application ----------------------------------------------------

  function fillEthnicities() {
    const select = $("apply-ethnicity");
    const options = ETHNICITIES.map((name, i) => el("option", { value: String(i + 1), text: `${String(i + 1).padStart(2, "0")} ${name}` }));
    options.push(el("option", { value: "97", text: "97 其他 other" }));
    options.push(el("option", { value: "98", text: "98 外国血统中国籍人士 of foreign origin" }));
    select.replaceChildren(...options);
    select.value = String(ETHNICITY_OTHER);
  }

  /** The read's document type as the application names it. */
  function documentTypeOf(cardKind) {
    return cardKind && cardKind.startsWith("permanent-residence") ? "permanent-residence" : "resident-id";
  }

  /** Fills the form from the last read, once per read. */
  function prefillApplication() {
    const r = state.read;
    const f = $("apply-form").elements;
    if (r && f.document_number.dataset.from !== String(r.id_read_id ?? r.document_number)) {
      f.document_number.dataset.from = String(r.id_read_id ?? r.document_number);
      f.document_type.value = documentTypeOf(r.card_kind);
      f.document_number.value = r.document_number;
      // A permit holder is registered under the English name on the card.
      f.name.value = f.document_type.value === "permanent-residence" ? englishName(r) : r.name;
      f.permit_chinese_name.value = r.chinese_name || "";
      f.sex.value = r.sex;
      f.birth_date.value = r.birth_date;
      f.nationality.value = r.nationality ?? (f.document_type.value === "resident-id" ? 156 : "");
      f.ethnicity.value = String(ETHNICITY_OTHER);
    }
    showPermitFields();
    showEvidence();
  }

  function showPermitFields() {
    const f = $("apply-form").elements;
    const permit = f.document_type.value === "permanent-residence";
    for (const label of $("apply-form").querySelectorAll("[data-permit]")) label.hidden = !permit;
    $("apply-nationality-name").textContent = NATIONALITY[Number(f.nationality.value)] || "";
    const replaces = f.kind.value === "replacement" || f.kind.value === "renewal";
    $("apply-replaces").hidden = !replaces;
  }

  function showEvidence() {
    const r = state.read;
    $("apply-read-state").textContent = r
      ? `${r.name} ${r.document_number}` + (r.id_read_id ? ` (读证记录 #${r.id_read_id})` : "")
      : "未读卡 none";
    const p = state.photo;
    $("apply-photo-state").textContent = p ? `${p.width}×${p.height}, ${p.bytes} bytes` : "未拍照 none";
    const thumb = $("apply-photo-thumb");
    thumb.hidden = !p;
    if (p) thumb.src = "data:image/jpeg;base64," + p.jpeg_base64;
  }

  function setupApplication() {
    fillEthnicities();
    const form = $("apply-form");
    form.addEventListener("change", showPermitFields);
    form.addEventListener("input", (ev) => { if (ev.target.name === "nationality") showPermitFields(); });
    $("apply-clear").addEventListener("click", () => {
      form.reset();
      delete form.elements.document_number.dataset.from;
      fillEthnicities();
      showPermitFields();
      $("apply-result").hidden = true;
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act(form, errorBox("apply"), async () => {
        $("apply-result").hidden = true;
        const v = formValues(form);
        const permit = v.document_type === "permanent-residence";
        const optional = (s) => (s === "" || s === undefined ? undefined : s);
        const body = {
          kind: v.kind,
          applicant: {
            document_number: v.document_number,
            document_type: v.document_type,
            name: v.name,
            chinese_name: permit ? optional(v.permit_chinese_name) : undefined,
            nationality: v.nationality === "" ? undefined : Number(v.nationality),
            sex: v.sex,
            birth_date: optional(v.birth_date),
            ethnicity: Number(v.ethnicity),
            phone: optional(v.phone),
            address: optional(v.address),
          },
          replaces_card_id: v.replaces_card_id ? Number(v.replaces_card_id) : undefined,
          photo_base64: state.photo ? state.photo.jpeg_base64 : undefined,
        };
        const read = state.read;
        if (read && read.id_read_id && read.document_number === v.document_number) {
          body.id_read_id = read.id_read_id;
        } else if (v.manual_reason) {
          body.manual_entry_reason = v.manual_reason;
        } else {
          throw new ApiError(0, "no-evidence", !read
            ? "请先读卡 Read the applicant's card first (读证 Read card)."
            : read.document_number !== v.document_number
              ? "证件号码与读卡结果不一致 The number differs from the card read: read the applicant's card again."
              : "读卡结果无读证记录 The hub kept no record of this read (no id_read_id): read the card again.");
        }
        const accepted = await api("POST", "/branch/applications", body);
        state.application = accepted;
        showAccepted(accepted);
        $("instant-form").elements.application_id.value = accepted.application.id;
        loadApplications();
      });
    });
  }

  function showAccepted(a) {
    const box = $("apply-result");
    const reg = a.registered || {};
    box.replaceChildren(
      el("div", {}, el("b", { text: `已受理 Accepted: 申领 #${a.application.id}` }),
        ` · ${APPLICATION_KIND_LABEL[a.application.kind] || a.application.kind} · 卡片 card #${a.card.id} (${a.card.status})`),
      el("div", { class: "muted", text:
        `登记 Registered: ${reg.name || ""}` + (reg.chinese_name ? ` / ${reg.chinese_name}` : "")
        + ` · 国籍 ${nationalityText(reg.nationality)} · 民族 ${reg.ethnicity ?? "—"}`
        + (a.replaced_card ? ` · 原卡 #${a.replaced_card.id} 已注销 cancelled` : "") }),
    );
    box.dataset.applicationId = a.application.id;
    box.hidden = false;
  }

  // ---- 4. card services --------------------------------------------------

  function setupCards() {
    $("cards-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      act(form, errorBox("cards"), async () => {
        const v = formValues(form);
        await lookUpCards(v.document_number);
      });
    });
    $("cards-result").addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-op]");
      if (!button) return;
      const { op, card, version } = button.dataset;
      const row = button.closest("tr");
      act(row, errorBox("cards"), async () => {
        const reason = $("cards-form").elements.reason.value.trim();
        const done = await api("POST", `/branch/cards/${card}/${op}`, {
          reason: reason || undefined,
          expected_version: Number(version),
        });
        await lookUpCards(state.holder.query);
        show($("cards-done"), `已办理 Done: 卡片 #${done.id} → ${done.status_label} (${done.status})`);
      });
    });
  }

  async function lookUpCards(number) {
    const holder = await api("GET", "/branch/cards?document_number=" + encodeURIComponent(number));
    holder.query = number;
    state.holder = holder;
    const ops = (state.context && state.context.operations) || [];
    const offered = CARD_OPERATIONS.filter(([op]) => ops.includes(op));
    const rows = holder.cards.map((c) => el("tr", { "data-card": c.id },
      el("td", { class: "num", text: String(c.id) }),
      el("td", { class: "mono", text: c.card_number || "—" }),
      el("td", {}, el("span", { class: "status", "data-status": c.status, text: `${c.status_label} ${c.status}` })),
      el("td", { class: "num", text: String(c.application_id) }),
      el("td", { text: shanghaiOf(c.updated_at) }),
      el("td", {}, el("div", { class: "ops" }, ...offered.map(([op, label, warn]) => el("button", {
        type: "button", class: warn ? "danger small" : "secondary small", text: label,
        "data-op": op, "data-card": c.id, "data-version": c.version,
      })))),
    ));
    $("cards-result").replaceChildren(
      el("div", { class: "holder" },
        el("h3", { text: `${holder.name}  ` }, el("span", { class: "mono muted", text: holder.document_number })),
        el("div", { class: "table-wrap" }, el("table", { class: "grid" },
          el("thead", {}, el("tr", {},
            ...["卡片 Card", "卡号 Number", "状态 Status", "申领 Application", "更新 Updated", "办理 Operations"].map((t) => el("th", { text: t })))),
          el("tbody", {}, ...rows))),
        holder.cards.length ? null : el("p", { class: "placeholder", text: "无卡片 no cards" })),
      el("p", { class: "ok-panel", id: "cards-done", hidden: true }),
    );
  }

  // ---- 5. card check and PIN ---------------------------------------------

  function setupChip() {
    $("check-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      act(form, errorBox("chip", "check"), async () => {
        const v = formValues(form);
        const device = encodeURIComponent(v.device || "card-reader-1");
        $("check-result").replaceChildren();
        const job = await api("POST", `/branch/terminals/${terminal()}/readers/${device}/check`, {
          card_id: Number(v.card_id),
          permit_chinese_name: v.permit_chinese_name || undefined,
          wait: true,
        });
        showCheck(job);
      });
    });
    const pin = $("pin-form");
    const showPinFields = () => {
      const op = pin.elements.operation.value;
      pin.querySelector('[data-pin="old"]').hidden = op !== "change";
      pin.querySelector('[data-pin="new"]').hidden = op === "unblock";
    };
    pin.elements.operation.addEventListener("change", showPinFields);
    showPinFields();
    pin.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act(pin, errorBox("chip", "pin"), async () => {
        const v = formValues(pin);
        const device = encodeURIComponent(v.device || "card-reader-1");
        $("pin-result").replaceChildren();
        const job = await api("POST", `/branch/terminals/${terminal()}/readers/${device}/pin`, {
          operation: v.operation,
          old_pin: v.operation === "change" ? v.old_pin : undefined,
          new_pin: v.operation === "unblock" ? undefined : v.new_pin,
          wait: true,
        });
        pin.elements.old_pin.value = "";
        pin.elements.new_pin.value = "";
        showPin(job);
      });
    });
  }

  function jobFailed(job) {
    return el("p", { class: "error", text: `作业 #${job.id} ${job.status}: ${job.error || ""}` });
  }

  function showCheck(job) {
    const out = $("check-result");
    if (job.status !== "done") {
      out.replaceChildren(jobFailed(job));
      return;
    }
    const mismatches = (job.result && job.result.mismatches) || [];
    if (!mismatches.length) {
      out.replaceChildren(el("p", { class: "ok-panel", text: `验卡通过 The chip matches the centre's record (作业 job #${job.id}).` }));
      return;
    }
    out.replaceChildren(
      el("p", { class: "error", text: `验卡不一致 ${mismatches.length} field(s) differ (作业 job #${job.id}):` }),
      el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, ...["字段 Field", "中心记录 Expected", "芯片 On the chip"].map((t) => el("th", { text: t })))),
        el("tbody", {}, ...mismatches.map((m) => el("tr", { class: "mismatch" },
          el("td", { text: m.field }), el("td", { text: m.expected }), el("td", { text: m.found }))))),
    );
  }

  function showPin(job) {
    const out = $("pin-result");
    if (job.status !== "done") {
      out.replaceChildren(jobFailed(job));
      return;
    }
    const left = job.result && job.result.tries_left;
    out.replaceChildren(el("p", { class: "ok-panel",
      text: `密码操作完成 Done (作业 job #${job.id})` + (left === undefined || left === null ? "" : `; 剩余尝试次数 tries left: ${left}`) }));
  }

  // ---- 6. instant replacement --------------------------------------------

  function setupInstant() {
    $("instant-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      act(form, errorBox("instant"), async () => {
        stopInstant();
        const v = formValues(form);
        const issued = await api("POST", "/branch/instant-issues", { application_id: Number(v.application_id) });
        state.instant = { ...issued, application_id: Number(v.application_id), viaProgress: false, timer: null };
        setText("instant-task", issued.task_id);
        setText("instant-card", issued.card_id);
        setText("instant-line", issued.line);
        showTask({ status: "queued", step: null, attempts: 0 });
        $("instant-result").hidden = false;
        pollInstant();
      });
    });
  }

  /** Asks for the task once, shows it, and asks again in a second until it
   *  is done or failed. A role that may not read workshop tasks follows
   *  the application's card progress instead (it carries the same task). */
  async function pollInstant() {
    const followed = state.instant;
    if (!followed) return;
    let task;
    try {
      if (followed.viaProgress) {
        const progress = await api("GET", `/workshop/progress?application_id=${followed.application_id}`);
        task = progress.task;
      } else {
        task = (await api("GET", `/workshop/tasks/${followed.task_id}`)).task;
      }
    } catch (e) {
      if (e.status === 403 && !followed.viaProgress) {
        followed.viaProgress = true;
        return pollInstant();
      }
      show(errorBox("instant"), e.message);
      if (e.status === 401) return;
    }
    if (state.instant !== followed) return;
    if (task) showTask(task);
    if (task && (task.status === "done" || task.status === "failed")) {
      followed.timer = null;
      return;
    }
    followed.timer = setTimeout(pollInstant, TASK_POLL_MS);
  }

  function showTask(task) {
    const status = $("instant-status");
    status.dataset.status = task.status;
    status.textContent = TASK_STATUS_LABEL[task.status] || task.status;
    setText("instant-step", task.step);
    setText("instant-attempts", task.max_attempts ? `${task.attempts} / ${task.max_attempts}` : task.attempts);
    const last = $("instant-last-error");
    last.hidden = !task.last_error;
    last.textContent = task.last_error || "";
  }

  function stopInstant() {
    if (state.instant && state.instant.timer) clearTimeout(state.instant.timer);
    state.instant = null;
  }

  // ---- 7. query ----------------------------------------------------------

  function setupQuery() {
    $("person-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      act(form, errorBox("query", "person"), async () => {
        const v = formValues(form);
        const found = await api("GET", `/branch/persons?${v.by}=${encodeURIComponent(v.value)}`);
        showPersons(found);
      });
    });
    $("apps-refresh").addEventListener("click", () => loadApplications());
    $("stats-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      act(form, errorBox("query", "stats"), async () => {
        const v = formValues(form);
        const q = new URLSearchParams();
        if (v.from) q.set("from", v.from);
        if (v.to) q.set("to", v.to);
        const stats = await api("GET", "/branch/statistics" + (q.toString() ? "?" + q : ""));
        showStatistics(stats);
      });
    });
  }

  function showPersons(list) {
    const out = $("person-result");
    if (!list.length) {
      out.replaceChildren(el("p", { class: "placeholder", text: "未找到持卡人 no holder found" }));
      return;
    }
    out.replaceChildren(...list.map((p) => el("div", { class: "holder", "data-person": p.id },
      el("h3", { text: p.name + "  " }, el("small", { text: p.masked ? "已脱敏 masked" : "未脱敏 unmasked" })),
      el("dl", { class: "fields" },
        el("div", {}, el("dt", { text: "证件号码 Number" }), el("dd", { class: "mono", text: p.document_number })),
        el("div", {}, el("dt", { text: "证件类型 Document" }), el("dd", { text: p.document_type })),
        el("div", {}, el("dt", { text: "国籍 Nationality" }), el("dd", { text: nationalityText(p.nationality) })),
        el("div", {}, el("dt", { text: "手机 Mobile" }), el("dd", { class: "mono", text: p.phone || "—" })),
        el("div", {}, el("dt", { text: "地址 Address" }), el("dd", { text: p.address || "—" })),
        el("div", {}, el("dt", { text: "卡片 Cards" }), el("dd", { text:
          p.cards.length ? p.cards.map((c) => `#${c.id} ${c.status_label}`).join("、") : "无 none" }))))));
  }

  /** The branch's applications (the newest 50 of the last 30 days). */
  async function loadApplications() {
    if (!state.context || !(state.context.operations || []).includes("application-list")) return;
    const box = errorBox("query", "apps");
    try {
      const page = await api("GET", "/branch/applications?limit=50");
      box.hidden = true;
      $("apps").replaceChildren(...page.items.map((a) => el("tr", { "data-application": a.id },
        el("td", { class: "num", text: String(a.id) }),
        el("td", { text: APPLICATION_KIND_LABEL[a.kind] || a.kind }),
        el("td", { text: a.person_name }),
        el("td", { text: APPLICATION_STATUS_LABEL[a.status] || a.status }),
        el("td", { text: a.card ? `#${a.card.id} ${a.card.status_label}` : "—" }),
        el("td", { text: evidenceText(a.evidence) }),
        el("td", { text: shanghaiOf(a.created_at) }))));
      $("apps-empty").hidden = page.items.length > 0;
    } catch (e) {
      show(box, e.message);
    }
  }

  function evidenceText(e) {
    if (!e) return "—";
    if (e.entry === "id-read") return `读证 #${e.id_read_id}`;
    if (e.entry === "manual") return `手工录入: ${e.reason}`;
    return e.entry;
  }

  /** Statistics: the window's counts per kind, then per Shanghai day. */
  function showStatistics(stats) {
    const out = $("stats-result");
    const kinds = Object.keys(stats.totals || {});
    if (!kinds.length) {
      out.replaceChildren(el("p", { class: "placeholder", text: "此期间无业务 nothing done in this period" }));
      return;
    }
    const label = (k) => `${OPERATION_KIND_LABEL[k] || ""} ${k}`.trim();
    out.replaceChildren(
      el("p", { class: "muted", text: `${shanghaiOf(stats.from)} — ${shanghaiOf(stats.to)} · 合计 total ${stats.total}` }),
      el("div", { class: "table-wrap" }, el("table", { class: "grid", id: "stats-table" },
        el("thead", {}, el("tr", {}, el("th", { text: "日期 Day" }),
          ...kinds.map((k) => el("th", { class: "num", text: label(k) })), el("th", { class: "num", text: "合计 Total" }))),
        el("tbody", {},
          ...stats.days.map((d) => el("tr", {}, el("td", { text: d.day }),
            ...kinds.map((k) => el("td", { class: "num", text: String(d.counts[k] || 0) })),
            el("td", { class: "num", text: String(d.total) }))),
          el("tr", { class: "totals" }, el("th", { text: "合计 Total" }),
            ...kinds.map((k) => el("th", { class: "num", "data-kind": k, text: String(stats.totals[k]) })),
            el("th", { class: "num", text: String(stats.total) }))))),
    );
  }

  // ---- start -------------------------------------------------------------

  setupLogin();
  setupViews();
  setupRead();
  setupPhoto();
  setupApplication();
  setupCards();
  setupChip();
  setupInstant();
  setupQuery();
  showView("read");
  tickClock();
  setInterval(tickClock, 10000);
  // A session cookie from before (a reload) goes straight to the counter.
  loadContext().catch((e) => {
    if (e.status !== 401) showLogin(e.message);
    else showLogin();
  });

  /** For tests and for people at the browser console: read-only looks. */
  window.cardhubConsole = {
    context: () => state.context,
    read: () => state.read,
    photo: () => state.photo && { width: state.photo.width, height: state.photo.height, bytes: state.photo.bytes },
    application: () => state.application,
    instant: () => state.instant && { task_id: state.instant.task_id, card_id: state.instant.card_id },
    watermark: () => watermark.text,
  };
})();
