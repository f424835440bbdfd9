// The supervisor's wallboard (/supervisor/): reads GET /api/v1/metrics/wallboard/ and draws the figures per
// queue and overall, the hourly chart, the agents and the line. It refetches when /ws/agent/ reports a change
// (a supervisor receives every conversation and presence event), at most once a second, and every 10 s
// anyway so that "longest wait" keeps moving. Formulas: docs/metrics.md.
//
// Safety: names, subjects and everything else from the API are untrusted: they reach the page only as
// textContent or attribute values set with setAttribute. No innerHTML anywhere.

const strings = JSON.parse(document.getElementById("wallboard-strings").textContent);
const config = JSON.parse(document.getElementById("wallboard-config").textContent);

// The figures of a row, in the order of the table's columns, and how each is shown.
const COLUMNS = [
  ["waiting", "count"], ["longest_wait", "duration"], ["service_level", "share"], ["asa", "duration"],
  ["abandonment", "share"], ["aht", "duration"], ["fcr", "share"], ["occupancy", "share"],
  ["offered", "count"], ["answered", "count"], ["agents_available", "count"], ["agents_busy", "count"],
  ["agents_away", "count"], ["agents_offline", "count"],
];
// Events that cannot change a figure; every other one triggers a refetch.
const QUIET_EVENTS = new Set(["message.status", "note.created", "conversation.read", "customer.updated",
  "customers.merged", "customer.deleted"]);
const SVG = "http://www.w3.org/2000/svg";

const connection = document.querySelector("[data-testid=connection]");
const updated = document.querySelector("[data-testid=wb-updated]");
const dayLabel = document.getElementById("wb-day");
const errorBox = document.getElementById("wb-error");
const notice = document.getElementById("wb-notice");
const rowsBody = document.getElementById("wb-rows");
const agentsBody = document.getElementById("wb-agents");
const waitingList = document.getElementById("wb-waiting");
const chartFigure = document.querySelector("[data-testid=wb-chart]");
const chartCaption = document.getElementById("wb-chart-caption");
const chartRow = document.getElementById("wb-chart-row");
const dialog = document.getElementById("wb-assign-dialog");
const dialogForm = document.getElementById("wb-assign-form");
const dialogTitle = document.getElementById("wb-assign-title");
const dialogConversation = document.getElementById("wb-assign-conversation");
const dialogAgent = document.getElementById("wb-assign-agent");
const dialogError = document.getElementById("wb-assign-error");

const numbers = new Intl.NumberFormat(config.lang);
const percent = new Intl.NumberFormat(config.lang, { style: "percent", maximumFractionDigits: 1 });
const clock = new Intl.DateTimeFormat(config.lang, { timeStyle: "medium" });
const hourLabel = new Intl.DateTimeFormat(config.lang, { hour: "numeric" });
// "Today" is the supervisor's day: the browser's time zone, when the hub knows it.
let timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";

let data = null; // the last wallboard answer
let lastFetch = 0;
let fetchTimer = null;
let inFlight = false;
let again = false; // an event arrived while a fetch was under way

// --- helpers ---------------------------------------------------------------------------------------------

function t(text, values = {}) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

function format(value, kind) {
  if (value === null || value === undefined) return "–";
  if (kind === "duration") return duration(value);
  if (kind === "share") return percent.format(value);
  return numbers.format(value);
}

function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

function showError(text, withLogin = false) {
  errorBox.replaceChildren(el("span", null, text));
  if (withLogin) {
    const link = el("a", null, strings.sign_in);
    link.setAttribute("href", `${config.login}?next=${encodeURIComponent(location.pathname)}`);
    errorBox.append(" ", link);
  }
  errorBox.hidden = false;
}

function setConnection(state) {
  connection.dataset.state = state;
  connection.textContent = strings.connection[state];
}

// --- fetching ----------------------------------------------------------------------------------------------

async function fetchWallboard() {
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  lastFetch = Date.now();
  try {
    const url = new URL(config.api, location.origin);
    if (timeZone) url.searchParams.set("tz", timeZone);
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 400 && timeZone) {
      timeZone = ""; // a zone the hub does not know: its own day instead
      again = true;
    } else if (response.status === 401 || response.status === 403) {
      showError(strings.signed_out, true);
    } else if (!response.ok) {
      showError(t(strings.load_failed, { status: response.status }));
    } else {
      data = await response.json();
      errorBox.hidden = true;
      render();
    }
  } catch (exc) {
    showError(strings.network);
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      schedule();
    }
  }
}

// At most one fetch a second: a burst of events becomes one fetch at its start and one at its end.
function schedule(delay = 0) {
  const wait = Math.max(delay, lastFetch + config.min_interval_seconds * 1000 - Date.now(), 0);
  if (fetchTimer !== null) {
    return;
  }
  fetchTimer = setTimeout(() => {
    fetchTimer = null;
    fetchWallboard();
  }, wait);
}

setInterval(() => schedule(), config.refresh_seconds * 1000);

// --- the websocket -------------------------------------------------------------------------------------------

let socket = null;
let retry = 1000;
let pinger = null;
let settle = null;

function connect() {
  setConnection("connecting");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}${config.ws}`);
  socket.addEventListener("open", () => {
    retry = 1000;
    setConnection("open");
    pinger = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send('{"type":"ping"}'), 25000);
  });
  socket.addEventListener("message", (message) => {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "hello" || frame.type === "reload") {
      schedule(); // anything may have changed while the socket was down
    } else if (frame.type === "event" && !QUIET_EVENTS.has(frame.event?.type)) {
      schedule();
      // Routing places a new conversation in its queue just after the commit that announced it, and that
      // step sends no event of its own: look again shortly after so that "waiting" catches it.
      clearTimeout(settle);
      settle = setTimeout(() => schedule(), 1500);
    }
  });
  socket.addEventListener("close", (event) => {
    clearInterval(pinger);
    setConnection("closed");
    if (event.code === 4401) {
      showError(strings.signed_out, true);
      return; // signed out or not an agent: retrying would only be refused again
    }
    const delay = Math.min(retry, 30000) * (0.8 + Math.random() * 0.4);
    retry = Math.min(retry * 2, 30000);
    setTimeout(connect, delay);
  });
}

// --- drawing -------------------------------------------------------------------------------------------------

function figureCells(row, figures) {
  for (const [name, kind] of COLUMNS) {
    const value = figures[name];
    const cell = el("td", `wb-num wb-${kind}`, format(value, kind));
    cell.dataset.metric = name;
    cell.dataset.value = value === null || value === undefined ? "" : String(value);
    row.append(cell);
  }
}

function renderRows() {
  const rows = [];
  const overall = el("tr", "wb-overall");
  overall.dataset.testid = "wb-overall";
  overall.append(el("th", null, strings.overall));
  overall.firstChild.setAttribute("scope", "row");
  figureCells(overall, data.overall.figures);
  rows.push(overall);
  for (const queue of data.queues) {
    const row = el("tr");
    row.dataset.testid = "wb-queue";
    row.dataset.queueId = String(queue.id);
    const head = el("th");
    head.setAttribute("scope", "row");
    head.append(el("span", "wb-queue-name", queue.name));
    if (!queue.active) head.append(" ", el("span", "wb-muted", strings.inactive));
    head.append(el("span", "wb-threshold", t(strings.threshold, {
      target: percent.format(queue.service_level_target), seconds: numbers.format(queue.service_level_seconds),
    })));
    row.append(head);
    figureCells(row, queue.figures);
    const sl = queue.figures.service_level;
    if (sl !== null) row.querySelector("[data-metric=service_level]").classList.add(
      sl >= queue.service_level_target ? "wb-good" : "wb-bad");
    rows.push(row);
  }
  rowsBody.replaceChildren(...rows);
}

function agentName(id) {
  return data.agents.find((a) => a.id === id)?.name ?? `#${id}`;
}

function loadText(agent) {
  const parts = Object.entries(agent.load).map(([channel, n]) => `${channel} ${n}/${agent.capacity[channel] ?? 0}`);
  return parts.join(" · ") || "0";
}

function renderAgents() {
  if (!data.agents.length) {
    const row = el("tr");
    const cell = el("td", "wb-muted", strings.no_agents);
    cell.colSpan = 6;
    row.append(cell);
    agentsBody.replaceChildren(row);
    return;
  }
  agentsBody.replaceChildren(...data.agents.map((agent) => {
    const row = el("tr");
    row.dataset.testid = "wb-agent";
    row.dataset.agentId = String(agent.id);
    const name = el("th", null, agent.name);
    name.setAttribute("scope", "row");
    name.append(el("span", "wb-muted", ` ${strings.role[agent.role] ?? agent.role}`));
    const presence = el("td", `wb-presence wb-presence-${agent.presence}`,
      strings.presence[agent.presence] ?? agent.presence);
    presence.dataset.metric = "presence";
    presence.dataset.value = agent.presence;
    // Set by the hub, not the agent: the supervisor sees why (docs/routing.md, "Presence").
    if (agent.presence_reason) {
      presence.append(el("span", "wb-muted", ` · ${strings.presence_reason[agent.presence_reason] ?? agent.presence_reason}`));
      presence.dataset.reason = agent.presence_reason;
    }
    const total = Object.values(agent.load).reduce((a, b) => a + b, 0);
    const load = el("td", "wb-load", loadText(agent));
    load.dataset.metric = "load";
    load.dataset.value = String(total);
    const occ = el("td", "wb-num", percent.format(agent.occupancy));
    occ.dataset.metric = "occupancy";
    occ.dataset.value = String(agent.occupancy);
    const held = el("td");
    if (!agent.conversations.length) held.append(el("span", "wb-muted", strings.no_conversations));
    const list = el("ul", "wb-held");
    for (const conv of agent.conversations) {
      const item = el("li", null, t(strings.held_item, {
        id: conv.id, customer: conv.customer_name || strings.no_name, channel: conv.channel,
      }));
      item.setAttribute("title", conv.subject);
      const button = el("button", "wb-small", strings.reassign);
      button.type = "button";
      button.dataset.testid = "wb-reassign";
      button.dataset.conversationId = String(conv.id);
      button.addEventListener("click", () => openAssign({ conversationId: conv.id, fromAgent: agent.id }));
      item.append(" ", button);
      list.append(item);
    }
    if (agent.conversations.length) held.append(list);
    const actions = el("td");
    const force = el("button", "wb-small", strings.force_assign);
    force.type = "button";
    force.dataset.testid = "wb-force-assign";
    force.dataset.agentId = String(agent.id);
    force.disabled = !data.waiting.length;
    force.addEventListener("click", () => openAssign({ agentId: agent.id }));
    actions.append(force);
    row.append(name, presence, load, occ, held, actions);
    return row;
  }));
}

function waitingText(w) {
  return t(strings.waiting_item, {
    id: w.conversation_id, customer: w.customer_name || strings.no_name, channel: w.channel,
    wait: duration(w.wait),
  });
}

function renderWaiting() {
  if (!data.waiting.length) {
    waitingList.replaceChildren(el("li", "wb-muted", strings.no_waiting));
    return;
  }
  const queues = new Map(data.queues.map((q) => [q.id, q.name]));
  waitingList.replaceChildren(...data.waiting.map((w) => {
    const item = el("li", null, waitingText(w));
    item.dataset.conversationId = String(w.conversation_id);
    item.append(el("span", "wb-muted", ` · ${queues.get(w.queue_id) ?? ""}`));
    if (w.state === "offered") item.append(el("span", "wb-badge", `${strings.offered_to} ${agentName(w.offered_to)}`));
    return item;
  }));
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function renderChartOptions() {
  const chosen = chartRow.value || "overall";
  const options = [["overall", strings.overall], ...data.queues.map((q) => [String(q.id), q.name])];
  chartRow.replaceChildren(...options.map(([value, label]) => {
    const option = el("option", null, label);
    option.value = value;
    return option;
  }));
  chartRow.value = options.some(([value]) => value === chosen) ? chosen : "overall";
}

function renderChart() {
  const queue = data.queues.find((q) => String(q.id) === chartRow.value);
  const hours = (queue ?? data.overall).hourly;
  const target = queue ? queue.service_level_target : null;
  const width = 720, height = 220, left = 36, right = 40, top = 12, bottom = 26;
  const plotW = width - left - right, plotH = height - top - bottom;
  const maxCount = Math.max(1, ...hours.map((h) => h.offered));
  const slot = plotW / hours.length;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "wb-chart-svg" });
  chart.append(Object.assign(svg("title"), { textContent: strings.chart_title }));
  chart.append(svg("line", { x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH, class: "wb-axis" }));
  const yCount = (n) => top + plotH - (n / maxCount) * plotH;
  const ySl = (v) => top + plotH - v * plotH;
  for (const tick of [0, Math.ceil(maxCount / 2), maxCount]) {
    const label = svg("text", { x: left - 4, y: yCount(tick) + 4, "text-anchor": "end", class: "wb-tick" });
    label.textContent = numbers.format(tick);
    chart.append(label);
  }
  for (const share of [0, 0.5, 1]) {
    const label = svg("text", { x: left + plotW + 4, y: ySl(share) + 4, class: "wb-tick wb-sl-tick" });
    label.textContent = percent.format(share);
    chart.append(label);
  }
  if (target !== null) {
    chart.append(svg("line", { x1: left, y1: ySl(target), x2: left + plotW, y2: ySl(target), class: "wb-target" }));
  }
  const points = [];
  hours.forEach((h, i) => {
    const x = left + i * slot;
    const bar = svg("rect", { x: x + slot * 0.15, y: yCount(h.offered), width: slot * 0.7,
      height: top + plotH - yCount(h.offered), class: "wb-bar" });
    bar.dataset.hour = String(i);
    bar.dataset.offered = String(h.offered);
    bar.dataset.answered = String(h.answered);
    const tip = svg("title");
    tip.textContent = `${hourLabel.format(new Date(h.start))}: ${strings.chart_offered} ${h.offered}, ` +
      `${strings.chart_answered} ${h.answered}, ${strings.chart_sl} ${format(h.service_level, "share")}`;
    bar.append(tip);
    chart.append(bar);
    if (h.service_level !== null) points.push([x + slot / 2, ySl(h.service_level)]);
    if (i % 3 === 0) {
      const label = svg("text", { x: x + slot / 2, y: height - 8, "text-anchor": "middle", class: "wb-tick" });
      label.textContent = hourLabel.format(new Date(h.start));
      chart.append(label);
    }
  });
  if (points.length) {
    chart.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), class: "wb-sl-line" }));
    for (const [x, y] of points) chart.append(svg("circle", { cx: x, cy: y, r: 3, class: "wb-sl-dot" }));
  }
  const total = hours.reduce((sum, h) => sum + h.offered, 0);
  chartCaption.textContent = total ? strings.chart_title : strings.chart_empty;
  chartFigure.replaceChildren(chart, chartCaption);
}

function render() {
  renderRows();
  renderChartOptions();
  renderChart();
  renderAgents();
  renderWaiting();
  const at = new Date(data.generated_at);
  updated.dataset.time = data.generated_at;
  updated.textContent = t(strings.updated, { time: clock.format(at) });
  dayLabel.textContent = `${data.date} (${data.timezone})`;
  if (dialog.open) refreshDialogOptions();
}

chartRow.addEventListener("change", () => data && renderChart());

// --- force-assign and reassign ---------------------------------------------------------------------------------

let assigning = null; // {conversationId?, agentId?, fromAgent?}

function option(value, label) {
  const node = el("option", null, label);
  node.value = String(value);
  return node;
}

function refreshDialogOptions() {
  const keepConv = dialogConversation.value;
  const keepAgent = dialogAgent.value;
  if (assigning.fromAgent !== undefined) {
    const from = data.agents.find((a) => a.id === assigning.fromAgent);
    const convs = from ? from.conversations : [];
    dialogConversation.replaceChildren(...convs.map((c) => option(c.id, t(strings.held_item, {
      id: c.id, customer: c.customer_name || strings.no_name, channel: c.channel }))));
  } else {
    dialogConversation.replaceChildren(...data.waiting.map((w) => option(w.conversation_id, waitingText(w))));
  }
  dialogAgent.replaceChildren(...data.agents.filter((a) => a.id !== assigning.fromAgent).map((a) =>
    option(a.id, `${a.name} · ${strings.presence[a.presence] ?? a.presence} · ${loadText(a)}`)));
  if (keepConv && [...dialogConversation.options].some((o) => o.value === keepConv)) dialogConversation.value = keepConv;
  if (keepAgent && [...dialogAgent.options].some((o) => o.value === keepAgent)) dialogAgent.value = keepAgent;
}

function openAssign(what) {
  assigning = what;
  dialogTitle.textContent = what.fromAgent !== undefined ? strings.reassign : strings.force_assign;
  dialogConversation.value = "";
  dialogAgent.value = "";
  refreshDialogOptions();
  if (what.conversationId !== undefined) dialogConversation.value = String(what.conversationId);
  if (what.agentId !== undefined) dialogAgent.value = String(what.agentId);
  dialogError.hidden = true;
  dialog.showModal();
}

document.getElementById("wb-assign-cancel").addEventListener("click", () => dialog.close());

dialogForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const conversationId = dialogConversation.value;
  const agentId = Number(dialogAgent.value);
  if (!conversationId || !agentId) return;
  const response = await fetch(config.assign.replace("{id}", encodeURIComponent(conversationId)), {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": cookie("csrftoken") },
    body: JSON.stringify({ assignee: agentId }),
  }).catch(() => null);
  if (response === null || !response.ok) {
    let reason = response === null ? strings.network : String(response.status);
    try {
      const body = await response.json();
      reason = Object.values(body).flat().join(" ") || reason;
    } catch {
      // keep the status as the reason
    }
    dialogError.textContent = t(strings.assign_failed, { reason });
    dialogError.hidden = false;
    return;
  }
  dialog.close();
  notice.textContent = t(strings.assigned, { id: conversationId, agent: agentName(agentId) });
  notice.hidden = false;
  schedule();
});

connect();
fetchWallboard();
