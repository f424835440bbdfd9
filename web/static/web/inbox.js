// The agent's unified inbox (/inbox/): lists, the open conversation with the customer's whole timeline,
// the customer panel (screen pop), the composer with canned responses, offers, presence and shortcuts.
// State comes from the API (hub/api/views/inbox.py and the plain resources) and stays live over
// /ws/agent/ (docs/protocol.md). Texts come from the page (inbox-strings, in the user's language).

import { api, ApiError } from "./inbox/api.js";
import { AgentSocket } from "./inbox/socket.js";
import {
  boundaryNode, el, fill, Formatter, messageNode, noteNode, panelContent, rowNode, statusNode,
} from "./inbox/render.js";

const strings = JSON.parse(document.getElementById("inbox-strings").textContent);
const config = JSON.parse(document.getElementById("inbox-config").textContent);
const fmt = new Formatter(config.lang, strings);
const $ = (id) => document.getElementById(id);

const ACTIVE_STATUSES = ["open", "pending"];
const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 6000;

const state = {
  list: "mine",
  rows: [], // rows of the list shown, newest activity first
  next: null, // cursor URL of the next page
  open: null, // the open conversation (a list row or a conversation object)
  timeline: null, // {conversations, messages, notes} of the open conversation's customer
  profile: null, // the customer panel's profile
  panelCustomer: null, // whose profile the panel shows (an offer's customer while it is offered)
  offers: new Map(), // offer id -> {offer, node, timer}
  noteMode: false,
  canned: null, // every canned response I may use, loaded on first "/"
  picker: { open: false, start: 0, items: [], index: 0 },
  typingSentAt: 0,
  typingActive: false,
  typingTimer: null,
};

const nodes = {
  presence: $("presence"), presenceNote: $("presence-note"), connection: $("connection"), list: $("conversation-list"), more: $("list-more"),
  conversation: $("conversation"), empty: $("empty"), title: $("conversation-title"), meta: $("conversation-meta"),
  timeline: $("timeline"), typing: $("typing"), composer: $("composer"), input: $("reply-input"),
  send: $("reply-send"), channel: $("reply-channel"), noteToggle: $("note-toggle"), picker: $("canned-picker"),
  composerError: $("composer-error"), panel: $("customer-panel"), offers: $("offers"), flash: $("flash"),
  actionForm: $("action-form"), shortcuts: $("shortcuts"), notify: $("notify-enable"),
};
const panelRefs = {
  name: $("customer-name"), tier: $("customer-tier"), tags: $("customer-tags"), identities: $("customer-identities"),
  csat: $("customer-csat"), notes: $("customer-notes"), conversations: $("customer-conversations"),
  merges: $("customer-merges"),
};

// --- Small helpers -----------------------------------------------------------------------------------------

function flash(text) {
  nodes.flash.textContent = text;
  nodes.flash.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { nodes.flash.hidden = true; }, 6000);
}

function problem(error) {
  if (error instanceof ApiError) {
    if (error.status === 401 || error.status === 403 && !error.body) return signedOut();
    return error.message && !error.message.startsWith("HTTP") ? error.message : fill(strings.error, { status: error.status });
  }
  return strings.network;
}

function report(error) {
  const text = problem(error);
  if (text) flash(text);
}

function signedOut() {
  window.location.assign(`${config.login}?next=${encodeURIComponent(window.location.pathname + window.location.hash)}`);
  return "";
}

function visibleAndFocused() {
  return document.visibilityState === "visible";
}

// --- Lists -------------------------------------------------------------------------------------------------

function belongs(c) {
  if (!ACTIVE_STATUSES.includes(c.status)) return false;
  if (state.list === "mine") return c.assignee_id === config.user_id;
  if (state.list === "unassigned") return c.assignee_id === null;
  if (state.list === "teams") return c.team_id !== null && config.teams.includes(c.team_id);
  return true;
}

function activity(c) {
  return new Date(c.last_message_at || c.created_at).getTime();
}

function renderList() {
  const openId = state.open ? state.open.id : null;
  state.rows.sort((a, b) => activity(b) - activity(a) || b.id - a.id);
  nodes.list.replaceChildren(...(state.rows.length ? state.rows.map((c) => rowNode(c, fmt, c.id === openId))
    : [el("li", { className: "muted empty-list", text: strings.no_conversations })]));
  nodes.more.hidden = !state.next;
}

async function loadList({ append = false } = {}) {
  const list = state.list;
  try {
    const page = append && state.next ? await api(state.next) : await api("inbox/", { params: { list } });
    if (list !== state.list) return;
    const rows = append ? [...state.rows, ...page.results] : page.results;
    const seen = new Set();
    state.rows = rows.filter((r) => !seen.has(r.id) && seen.add(r.id));
    state.next = page.next;
    renderList();
  } catch (error) {
    report(error);
  }
}

let refetchTimer = null;
function refetchListSoon() {
  clearTimeout(refetchTimer);
  refetchTimer = setTimeout(() => loadList(), 300);
}

function selectList(list) {
  const tab = document.querySelector(`[data-list="${list}"]`);
  if (!tab) return;
  for (const other of document.querySelectorAll("[data-list]")) other.setAttribute("aria-selected", String(other === tab));
  state.list = list;
  state.rows = [];
  state.next = null;
  loadList();
}

function upsertConversation(c) {
  const index = state.rows.findIndex((r) => r.id === c.id);
  if (belongs(c)) {
    if (index >= 0) state.rows[index] = { ...state.rows[index], ...c };
    else {
      refetchListSoon(); // a new row needs its unread count and snippet: the list API has them
      return;
    }
  } else if (index >= 0) state.rows.splice(index, 1);
  renderList();
}

// --- The open conversation ---------------------------------------------------------------------------------

function timelineItems() {
  const t = state.timeline;
  // A conversation's marker goes before its first message (stored a moment before the conversation row).
  const starts = new Map(t.conversations.map((c) => [c.id, c.created_at]));
  for (const m of t.messages) {
    const start = starts.get(m.conversation_id);
    if (start && new Date(m.created_at) < new Date(start)) starts.set(m.conversation_id, m.created_at);
  }
  const items = [
    ...t.conversations.map((c) => ({ at: starts.get(c.id), order: 0, id: c.id, node: () => boundaryNode(c, fmt) })),
    ...t.messages.map((m) => ({ at: m.created_at, order: 1, id: m.id, node: () => messageNode(m, fmt, t.ids) })),
    ...t.notes.map((n) => ({ at: n.created_at, order: 2, id: n.id, node: () => noteNode(n, fmt) })),
  ];
  items.sort((a, b) => new Date(a.at) - new Date(b.at) || a.order - b.order || a.id - b.id);
  return items;
}

function renderTimeline() {
  const atBottom = nodes.timeline.scrollHeight - nodes.timeline.scrollTop - nodes.timeline.clientHeight < 80;
  const children = timelineItems().map((item) => item.node());
  if (state.timeline.truncated) children.unshift(el("li", { className: "muted", text: strings.older_truncated }));
  nodes.timeline.replaceChildren(...children);
  if (atBottom || !renderTimeline.done) nodes.timeline.scrollTop = nodes.timeline.scrollHeight;
  renderTimeline.done = true;
}

function renderHeader() {
  const c = state.open;
  nodes.conversation.dataset.conversationId = String(c.id);
  nodes.title.textContent = c.customer_name || strings.no_name;
  const parts = [`#${c.id}`, fmt.channel(c.channel), strings.status[c.status] || c.status];
  if (c.tags && c.tags.length) parts.push(c.tags.join(", "));
  if (c.status === "snoozed" && c.snoozed_until) parts.push(fmt.at(c.snoozed_until));
  nodes.meta.textContent = parts.join(" · ");
}

async function openConversation(id, { focus = false } = {}) {
  id = Number(id);
  if (!Number.isInteger(id) || id <= 0) return;
  stopTyping();
  closeActionForm();
  hideTypingIndicator();
  try {
    const [conversation, timeline] = await Promise.all([api(`conversations/${id}/`),
      api(`conversations/${id}/timeline/`)]);
    state.open = conversation;
    state.timeline = { ...timeline, ids: timeline.conversations.map((c) => c.id) };
    renderTimeline.done = false;
    nodes.conversation.hidden = false;
    nodes.empty.hidden = true;
    renderHeader();
    fillChannels();
    renderTimeline();
    renderList();
    if (window.location.hash !== `#conversation/${id}`) history.replaceState(null, "", `#conversation/${id}`);
    await showCustomer(conversation.customer_id);
    fillChannels();
    markReadIfSeen();
    if (focus) nodes.input.focus();
  } catch (error) {
    report(error);
  }
}

function markReadIfSeen() {
  const c = state.open;
  if (!c || !visibleAndFocused()) return;
  const row = state.rows.find((r) => r.id === c.id);
  if (row) {
    row.unread = 0;
    renderList();
  }
  clearTimeout(markReadIfSeen.timer);
  // Several messages arriving together make one request.
  markReadIfSeen.timer = setTimeout(() => api(`conversations/${c.id}/read/`, { method: "POST" }).catch(() => {}), 250);
}

function inTimeline(conversationId) {
  return state.timeline && state.timeline.ids.includes(conversationId);
}

// --- The customer panel (screen pop) -----------------------------------------------------------------------

async function showCustomer(customerId) {
  state.panelCustomer = customerId;
  try {
    const profile = await api(`customers/${customerId}/profile/`);
    if (state.panelCustomer !== customerId) return;
    state.profile = profile;
    nodes.panel.hidden = false;
    nodes.panel.dataset.customerId = String(customerId);
    panelContent(profile, fmt, panelRefs);
    renderMerges(profile);
  } catch (error) {
    report(error);
  }
}

function renderMerges(profile) {
  panelRefs.merges.replaceChildren(...profile.merges.map((m) => {
    const button = el("button", { type: "button", "data-testid": "action-undo-merge", "data-merge-id": m.id,
      text: `↶ ${m.source_name || `#${m.source_id}`}` });
    button.addEventListener("click", async () => {
      if (!window.confirm(fill(strings.undo_merge_confirm, { source: m.source_name || `#${m.source_id}` }))) return;
      try {
        await api(`customers/merges/${m.id}/undo/`, { method: "POST" });
        await refreshOpen();
      } catch (error) {
        report(error);
      }
    });
    return button;
  }));
}

function restorePanel() {
  if (state.open) showCustomer(state.open.customer_id);
}

async function refreshOpen() {
  if (state.open) await openConversation(state.open.id);
}

// --- Composer: reply, note, channel switcher, canned responses, typing -------------------------------------

// The choice always belongs to the open conversation: until its customer's profile is in, only its own channel
// is offered (the previous conversation's accounts must never stay selectable, or a quick reply goes out on them).
function fillChannels() {
  const own = state.open.channel_account_id;
  const profile = state.profile && state.profile.id === state.open.customer_id ? state.profile : null;
  const accounts = profile ? profile.reply_accounts : [];
  const options = accounts.map((a) => el("option", { value: a.id, text: fill(strings.reply_on,
    { channel: fmt.channel(a.channel), name: a.name }) }));
  if (!accounts.some((a) => a.id === own)) {
    options.unshift(el("option", { value: own, text: fmt.channel(state.open.channel) }));
  }
  nodes.channel.replaceChildren(...options);
  nodes.channel.value = String(own);
}

function setNoteMode(on) {
  state.noteMode = on;
  nodes.noteToggle.setAttribute("aria-pressed", String(on));
  nodes.composer.classList.toggle("note-mode", on);
  nodes.channel.disabled = on;
  nodes.input.placeholder = on ? strings.note_placeholder : strings.reply_placeholder;
  nodes.send.textContent = on ? strings.send_note : strings.send_reply;
}

function newClientId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

async function submitComposer(event) {
  if (event) event.preventDefault();
  const text = nodes.input.value;
  if (!state.open || !text.trim()) return;
  nodes.send.disabled = true;
  nodes.composerError.hidden = true;
  const id = state.open.id;
  try {
    if (state.noteMode) {
      const note = await api(`conversations/${id}/notes/`, { method: "POST", body: { text } });
      addNote(note);
    } else {
      const body = { text, client_id: newClientId() };
      if (Number(nodes.channel.value) !== state.open.channel_account_id) body.channel_account = Number(nodes.channel.value);
      const message = await api(`conversations/${id}/messages/`, { method: "POST", body });
      addMessage(message);
    }
    nodes.input.value = "";
    stopTyping();
    closePicker();
  } catch (error) {
    nodes.composerError.textContent = fill(strings.sending_failed, { reason: problem(error) });
    nodes.composerError.hidden = false;
  } finally {
    nodes.send.disabled = false;
  }
}

function sendTyping(typing) {
  if (!state.open) return;
  socket.send({ type: "typing", conversation_id: state.open.id, typing });
}

function onInputTyping() {
  if (!nodes.input.value) {
    stopTyping();
    return;
  }
  const now = Date.now();
  if (now - state.typingSentAt >= TYPING_EVERY_MS) {
    state.typingSentAt = now;
    state.typingActive = true;
    sendTyping(true);
  }
}

function stopTyping() {
  if (state.typingActive) sendTyping(false);
  state.typingActive = false;
  state.typingSentAt = 0;
}

function hideTypingIndicator() {
  clearTimeout(state.typingTimer);
  nodes.typing.hidden = true;
  nodes.typing.textContent = "";
}

function showTyping(frame) {
  if (!state.open || frame.conversation_id !== state.open.id) return;
  if (!frame.typing) {
    hideTypingIndicator();
    return;
  }
  nodes.typing.textContent = fill(strings.typing, { name: frame.name || strings.someone });
  nodes.typing.hidden = false;
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(hideTypingIndicator, TYPING_SHOWN_MS);
}

async function loadCanned() {
  if (state.canned === null) {
    try {
      state.canned = await api("canned-responses/");
    } catch (error) {
      report(error);
      state.canned = [];
    }
  }
  return state.canned;
}

// The "/word" being typed at the caret, or null.
function slashQuery() {
  const caret = nodes.input.selectionStart;
  const before = nodes.input.value.slice(0, caret);
  const match = before.match(/(^|\s)\/([-\w]*)$/);
  return match ? { start: caret - match[2].length - 1, q: match[2].toLowerCase() } : null;
}

async function updatePicker() {
  const query = slashQuery();
  if (!query) {
    closePicker();
    return;
  }
  const all = await loadCanned();
  const items = all.filter((c) => c.shortcut.includes(query.q) || c.title.toLowerCase().includes(query.q));
  state.picker = { open: true, start: query.start, items, index: 0 };
  renderPicker();
}

function renderPicker() {
  const { items, index } = state.picker;
  nodes.picker.hidden = false;
  nodes.picker.replaceChildren(...(items.length ? items.slice(0, 20).map((c, i) => {
    const option = el("li", { role: "option", "data-testid": "canned-option", "data-shortcut": c.shortcut,
      "aria-selected": String(i === index), className: i === index ? "selected" : "" },
    el("strong", { text: `/${c.shortcut}` }), " ", el("span", { text: c.title }),
    el("span", { className: "muted preview", text: ` ${c.text.slice(0, 80)}` }));
    option.addEventListener("mousedown", (event) => {
      event.preventDefault(); // keep the focus in the text box
      insertCanned(c);
    });
    return option;
  }) : [el("li", { className: "muted", text: strings.no_canned })]));
}

function closePicker() {
  state.picker.open = false;
  nodes.picker.hidden = true;
}

function fillPlaceholders(text) {
  const values = {
    "customer.name": (state.profile && state.profile.display_name) || (state.open && state.open.customer_name) || "",
    "agent.name": config.name,
  };
  return text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (whole, key) => (key in values ? values[key] : whole));
}

function insertCanned(canned) {
  const value = nodes.input.value;
  const caret = nodes.input.selectionStart;
  const text = fillPlaceholders(canned.text);
  nodes.input.value = value.slice(0, state.picker.start) + text + value.slice(caret);
  const at = state.picker.start + text.length;
  nodes.input.setSelectionRange(at, at);
  closePicker();
  nodes.input.focus();
  onInputTyping();
}

function pickerKeys(event) {
  if (!state.picker.open) return false;
  const { items } = state.picker;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const step = event.key === "ArrowDown" ? 1 : -1;
    state.picker.index = (state.picker.index + step + Math.max(items.length, 1)) % Math.max(items.length, 1);
    renderPicker();
  } else if ((event.key === "Enter" || event.key === "Tab") && items.length) {
    insertCanned(items[state.picker.index]);
  } else if (event.key === "Escape") {
    closePicker();
  } else {
    return false;
  }
  event.preventDefault();
  return true;
}

// --- Timeline updates from events --------------------------------------------------------------------------

function addMessage(message) {
  if (!state.timeline || !inTimeline(message.conversation_id)) return;
  const index = state.timeline.messages.findIndex((m) => m.id === message.id);
  if (index >= 0) state.timeline.messages[index] = { ...state.timeline.messages[index], ...message };
  else state.timeline.messages.push(message);
  renderTimeline();
}

function addNote(note) {
  if (!state.timeline || !inTimeline(note.conversation_id)) return;
  if (!state.timeline.notes.some((n) => n.id === note.id)) state.timeline.notes.push(note);
  renderTimeline();
}

function setStatus(event) {
  if (!state.timeline) return;
  const m = state.timeline.messages.find((x) => x.id === event.message_id);
  if (!m) return;
  m.status = event.status;
  m.failure_reason = event.failure_reason;
  const node = nodes.timeline.querySelector(`[data-message-id="${event.message_id}"] [data-testid=delivery-status]`);
  if (node) node.replaceWith(statusNode(event.status, event.failure_reason, strings));
}

function onMessageCreated(message) {
  const row = state.rows.find((r) => r.id === message.conversation_id);
  const isOpen = state.open && state.open.id === message.conversation_id;
  if (row) {
    row.snippet = { text: message.text.replace(/\s+/g, " ").slice(0, 140), direction: message.direction,
      kind: message.kind, channel: message.channel, created_at: message.created_at };
    row.last_message_at = message.created_at;
    if (message.direction === "in") {
      if (!row.waiting_since) row.waiting_since = message.created_at;
      if (!isOpen || !visibleAndFocused()) row.unread = (row.unread || 0) + 1;
    } else if (message.author_kind === "agent") {
      row.waiting_since = null;
    }
    renderList();
  }
  addMessage({ extra: {}, ...message });
  if (isOpen && message.direction === "in") {
    hideTypingIndicator();
    markReadIfSeen();
  }
}

// --- Offers and notifications ------------------------------------------------------------------------------

function notify(title, body) {
  if (!("Notification" in window) || Notification.permission !== "granted" || document.hasFocus()) return;
  try {
    const n = new Notification(title, { body, tag: "hub-inbox" });
    n.onclick = () => window.focus();
  } catch {
    // some browsers only allow notifications from a service worker
  }
}

function showOffer(offer) {
  if (state.offers.has(offer.offer_id)) return;
  const c = offer.conversation;
  const countdown = el("span", { className: "countdown", "data-testid": "offer-countdown" });
  const accept = el("button", { type: "button", className: "primary", "data-testid": "offer-accept", title: "a",
    text: strings.accept });
  const decline = el("button", { type: "button", "data-testid": "offer-decline", title: "d", text: strings.decline });
  const node = el("section", { className: "offer", "data-testid": "offer", "data-offer-id": offer.offer_id,
    "data-conversation-id": c.id, role: "alert" },
  el("strong", { text: strings.offer_title }), " ",
  el("span", { text: fill(strings.notify_body, { customer: c.customer_name || strings.no_name,
    channel: fmt.channel(c.channel) }) }),
  el("span", { className: "offer-subject", text: c.subject }), countdown, accept, decline);
  const expires = new Date(offer.expires_at).getTime();
  const tick = () => {
    countdown.textContent = fill(strings.offer_expires, { seconds: Math.max(0, Math.ceil((expires - Date.now()) / 1000)) });
  };
  tick();
  const timer = setInterval(tick, 500);
  const answer = (accepted) => {
    accept.disabled = decline.disabled = true;
    if (!socket.send({ type: accepted ? "offer.accept" : "offer.decline", offer_id: offer.offer_id })) {
      api(`offers/${offer.offer_id}/${accepted ? "accept" : "decline"}/`, { method: "POST" })
        .then(() => closeOffer(offer.offer_id, accepted ? "accepted" : "declined", c.id))
        .catch((error) => { report(error); closeOffer(offer.offer_id, "expired", c.id); });
    }
  };
  accept.addEventListener("click", () => answer(true));
  decline.addEventListener("click", () => answer(false));
  state.offers.set(offer.offer_id, { offer, node, timer });
  nodes.offers.append(node);
  showCustomer(c.customer_id); // the screen pop
  notify(strings.offer_title, fill(strings.notify_body, { customer: c.customer_name || strings.no_name,
    channel: fmt.channel(c.channel) }));
}

function closeOffer(offerId, outcome, conversationId) {
  const entry = state.offers.get(offerId);
  if (entry) {
    clearInterval(entry.timer);
    entry.node.remove();
    state.offers.delete(offerId);
  }
  if (outcome === "accepted") openConversation(conversationId, { focus: true });
  else if (!state.offers.size) restorePanel();
}

async function loadOffers() {
  try {
    const data = await api("offers/");
    const offers = Array.isArray(data) ? data : data.results || [];
    for (const o of offers) {
      showOffer({ offer_id: o.id, conversation: o.conversation, expires_at: o.expires_at });
    }
  } catch {
    // offers also arrive as events; a failed read here is not worth a message
  }
}

function firstOffer() {
  return state.offers.values().next().value;
}

// --- Events ------------------------------------------------------------------------------------------------

function applyEvent(event) {
  switch (event.type) {
    case "conversation.created":
    case "conversation.updated":
    case "conversation.assigned": {
      const c = event.conversation;
      upsertConversation(c);
      if (state.open && state.open.id === c.id) {
        state.open = { ...state.open, ...c };
        renderHeader();
      }
      const tl = state.timeline && state.timeline.conversations.find((x) => x.id === c.id);
      if (tl) {
        tl.status = c.status;
        renderTimeline();
      } else if (state.timeline && state.open && c.customer_id === state.open.customer_id) {
        // The customer started another conversation (another channel): it belongs to the same timeline, and
        // its messages, which follow this event, go into it.
        state.timeline.conversations.push({ ...c });
        state.timeline.ids.push(c.id);
        renderTimeline();
      }
      // A call assigned to me pops its customer and opens it: the caller is already on the line.
      if (event.type === "conversation.assigned" && event.assignee_id === config.user_id && c.channel === "voice"
          && (!state.open || state.open.id !== c.id)) {
        openConversation(c.id);
      }
      break;
    }
    case "message.created":
      onMessageCreated(event.message);
      break;
    case "message.updated":
      addMessage(event.message);
      break;
    case "message.status":
      setStatus(event);
      break;
    case "note.created":
      addNote(event.note);
      break;
    case "conversation.read": {
      const row = state.rows.find((r) => r.id === event.conversation_id);
      if (row && row.unread) {
        row.unread = 0;
        renderList();
      }
      break;
    }
    case "conversation.rated":
    case "customer.updated":
      if (state.profile && state.profile.id === event.customer_id) showCustomer(event.customer_id);
      break;
    case "customers.merged":
      loadList();
      if (state.open && (event.conversation_ids.includes(state.open.id)
          || [event.source_id, event.target_id].includes(state.open.customer_id))) refreshOpen();
      break;
    case "customer.deleted":
      state.rows = state.rows.filter((r) => !event.conversation_ids.includes(r.id));
      renderList();
      if (state.open && event.conversation_ids.includes(state.open.id)) closeConversation();
      break;
    case "presence.changed":
      if (event.agent_id === config.user_id) {
        setPresenceSelect(event.presence);
        showPresenceReason(event.reason);
      }
      break;
    case "offer.created":
      showOffer(event);
      break;
    case "offer.closed":
      closeOffer(event.offer_id, event.outcome, event.conversation_id);
      break;
    default:
      break;
  }
}

function closeConversation() {
  state.open = null;
  state.timeline = null;
  nodes.conversation.hidden = true;
  nodes.conversation.dataset.conversationId = "";
  nodes.empty.hidden = false;
  nodes.panel.hidden = true;
  history.replaceState(null, "", window.location.pathname);
  renderList();
}

function onFrame(frame) {
  if (frame.type === "event") applyEvent(frame.event);
  else if (frame.type === "reload") {
    loadList();
    loadOffers();
    refreshOpen();
  } else if (frame.type === "typing") showTyping(frame);
  else if (frame.type === "error" && frame.offer_id !== undefined) {
    flash(frame.reason);
    closeOffer(frame.offer_id, "expired", null);
  } else if (frame.type === "error") console.warn("hub:", frame.reason);
}

function setConnection(connectionState) {
  nodes.connection.dataset.state = connectionState;
  nodes.connection.textContent = strings.connection[connectionState];
  if (connectionState === "closed") stopTyping();
}

const socket = new AgentSocket({ onFrame, onState: setConnection, onSignedOut: signedOut });

// --- Presence ----------------------------------------------------------------------------------------------

function setPresenceSelect(presence) {
  const busy = nodes.presence.querySelector("option[value=busy]");
  busy.hidden = busy.disabled = presence !== "busy";
  nodes.presence.value = presence;
}

// Stays until the presence changes again: an agent back at the desk must see why no work is coming.
function showPresenceReason(reason) {
  const text = reason ? strings.presence_reason[reason] : "";
  nodes.presenceNote.textContent = text || "";
  nodes.presenceNote.hidden = !text;
  nodes.presenceNote.dataset.reason = reason || "";
}

nodes.presence.addEventListener("change", () => {
  const presence = nodes.presence.value;
  if (!socket.send({ type: "presence", presence })) {
    api(`agents/${config.user_id}/presence/`, { method: "POST", body: { presence } }).catch(report);
  }
  askNotificationPermission();
});

function askNotificationPermission() {
  if ("Notification" in window && Notification.permission === "default") {
    Notification.requestPermission().then(updateNotifyButton).catch(() => {});
  }
}

function updateNotifyButton() {
  nodes.notify.hidden = !("Notification" in window) || Notification.permission !== "default";
}

nodes.notify.addEventListener("click", askNotificationPermission);

// --- Actions -----------------------------------------------------------------------------------------------

function closeActionForm() {
  nodes.actionForm.hidden = true;
  nodes.actionForm.replaceChildren();
  nodes.actionForm.onsubmit = null;
}

// A small inline form under the actions: `fields` are nodes, `submit` gets the form and may throw.
function actionForm(label, fields, submit) {
  closeActionForm();
  const cancel = el("button", { type: "button", text: strings.cancel });
  cancel.addEventListener("click", closeActionForm);
  nodes.actionForm.append(el("label", { text: label }), ...fields, el("button", { type: "submit", className: "primary",
    text: strings.ok }), cancel);
  nodes.actionForm.hidden = false;
  nodes.actionForm.onsubmit = async (event) => {
    event.preventDefault();
    try {
      await submit();
      closeActionForm();
    } catch (error) {
      report(error);
    }
  };
  const first = nodes.actionForm.querySelector("input, select");
  if (first) first.focus();
}

async function conversationAction(path, body) {
  const c = await api(`conversations/${state.open.id}/${path}/`, { method: "POST", body });
  if (c && c.id) {
    state.open = { ...state.open, ...c };
    renderHeader();
    upsertConversation(c);
  }
}

function resolve() {
  if (state.open) conversationAction("resolve").catch(report);
}

function snooze() {
  if (!state.open) return;
  const tomorrow = new Date(Date.now() + 86400000);
  tomorrow.setHours(9, 0, 0, 0);
  const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const input = el("input", { type: "datetime-local", name: "until", value: local, "data-testid": "snooze-until" });
  input.required = true;
  actionForm(strings.snooze_until, [input], () => conversationAction("snooze",
    { snoozed_until: new Date(input.value).toISOString() }));
}

async function transfer() {
  if (!state.open) return;
  let agents = [];
  let teams = [];
  try {
    [agents, teams] = await Promise.all([api("agents/"), api("teams/")]);
  } catch (error) {
    report(error);
    return;
  }
  const select = el("select", { name: "to", "data-testid": "transfer-target" },
    ...teams.map((t) => el("option", { value: `team:${t.id}`, text: fill(strings.transfer_team, { name: t.name }) })),
    ...agents.filter((a) => a.id !== config.user_id).map((a) => el("option", { value: `agent:${a.id}`,
      text: fill(strings.transfer_agent, { name: a.display_name || a.username }) })));
  actionForm(strings.transfer_to, [select], () => {
    const [kind, id] = select.value.split(":");
    return conversationAction("transfer", kind === "team" ? { team: Number(id) } : { assignee: Number(id) });
  });
}

function editTags() {
  if (!state.open) return;
  const input = el("input", { type: "text", name: "tags", value: (state.open.tags || []).join(", "),
    "data-testid": "tags-input" });
  actionForm(strings.tags_prompt, [input], () => conversationAction("tags",
    { tags: input.value.split(/[,，]/).map((t) => t.trim()).filter(Boolean) }));
}

function merge() {
  if (!state.open || !state.profile) return;
  const target = state.profile;
  const input = el("input", { type: "search", name: "q", "data-testid": "merge-search" });
  const results = el("ul", { className: "merge-results", "data-testid": "merge-results" });
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!input.value.trim()) {
        results.replaceChildren();
        return;
      }
      try {
        const page = await api("customers/", { params: { q: input.value.trim() } });
        const found = page.results.filter((c) => c.id !== target.id);
        results.replaceChildren(...(found.length ? found.map((c) => {
          const button = el("button", { type: "button", "data-testid": "merge-candidate", "data-customer-id": c.id,
            text: `${c.display_name || strings.no_name} · ${c.identities.map((i) => i.address).join(", ")}` });
          button.addEventListener("click", async () => {
            if (!window.confirm(fill(strings.merge_confirm, { source: c.display_name || `#${c.id}`,
              target: target.display_name || `#${target.id}` }))) return;
            try {
              await api(`customers/${target.id}/merge/`, { method: "POST", body: { source: c.id } });
              closeActionForm();
              await refreshOpen();
            } catch (error) {
              report(error);
            }
          });
          return el("li", {}, button);
        }) : [el("li", { className: "muted", text: strings.merge_none })]));
      } catch (error) {
        report(error);
      }
    }, 250);
  });
  actionForm(strings.merge_search, [input, results], async () => {});
}

$("action-resolve").addEventListener("click", resolve);
$("action-snooze").addEventListener("click", snooze);
$("action-transfer").addEventListener("click", transfer);
$("action-tags").addEventListener("click", editTags);
$("action-merge").addEventListener("click", merge);

// --- Wiring ------------------------------------------------------------------------------------------------

for (const tab of document.querySelectorAll("[data-list]")) {
  tab.addEventListener("click", () => selectList(tab.dataset.list));
}
nodes.more.addEventListener("click", () => loadList({ append: true }));
nodes.list.addEventListener("click", (event) => {
  const row = event.target.closest("[data-conversation-id]");
  if (row) openConversation(row.dataset.conversationId);
});
nodes.list.addEventListener("keydown", (event) => {
  const row = event.target.closest("[data-conversation-id]");
  if (row && (event.key === "Enter" || event.key === " ")) {
    event.preventDefault();
    openConversation(row.dataset.conversationId);
  }
});
nodes.composer.addEventListener("submit", submitComposer);
nodes.noteToggle.addEventListener("click", () => setNoteMode(!state.noteMode));
nodes.input.addEventListener("input", () => {
  onInputTyping();
  updatePicker();
});
nodes.input.addEventListener("blur", () => {
  closePicker();
  stopTyping();
});
nodes.input.addEventListener("keydown", (event) => {
  if (pickerKeys(event)) return;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    submitComposer();
  } else if (event.key === "Escape") {
    nodes.input.blur();
  }
});
window.addEventListener("hashchange", openFromHash);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") markReadIfSeen();
});
window.addEventListener("online", () => socket.reconnect());

function openFromHash() {
  const match = window.location.hash.match(/^#conversation\/(\d+)$/);
  if (match && (!state.open || state.open.id !== Number(match[1]))) openConversation(match[1]);
}

function moveSelection(step) {
  if (!state.rows.length) return;
  const index = state.open ? state.rows.findIndex((r) => r.id === state.open.id) : -1;
  const next = state.rows[Math.min(Math.max(index + step, 0), state.rows.length - 1)];
  if (next) openConversation(next.id);
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest("input, textarea, select, [contenteditable], dialog[open]")) return;
  const offer = firstOffer();
  const keys = {
    j: () => moveSelection(1),
    k: () => moveSelection(-1),
    r: () => { if (state.open) { setNoteMode(false); nodes.input.focus(); } },
    n: () => { if (state.open) { setNoteMode(true); nodes.input.focus(); } },
    "/": () => {
      if (!state.open) return;
      nodes.input.focus();
      const v = nodes.input.value;
      nodes.input.value = v && !/\s$/.test(v) ? `${v} /` : `${v}/`;
      updatePicker();
    },
    e: resolve,
    s: snooze,
    t: transfer,
    a: () => offer && offer.node.querySelector("[data-testid=offer-accept]").click(),
    d: () => offer && offer.node.querySelector("[data-testid=offer-decline]").click(),
    "1": () => selectList("mine"),
    "2": () => selectList("unassigned"),
    "3": () => selectList("teams"),
    "4": () => selectList("all"),
    "?": () => nodes.shortcuts.showModal(),
  };
  const action = keys[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
});
$("shortcuts-open").addEventListener("click", () => nodes.shortcuts.showModal());

// Waiting times move on their own.
setInterval(() => {
  for (const node of nodes.list.querySelectorAll("[data-waiting-since]")) {
    node.textContent = fill(strings.waiting, { time: fmt.since(node.dataset.waitingSince) });
  }
}, 30_000);

// --- Start -------------------------------------------------------------------------------------------------

async function start() {
  setPresenceSelect(config.presence);
  showPresenceReason(config.presence_reason);
  setNoteMode(false);
  updateNotifyButton();
  try {
    // The number first, then the state: every event after the number is replayed by the socket, so a
    // change that happens while the lists load is not missed.
    const me = await api("me/");
    socket.setSeq(me.last_seq);
  } catch (error) {
    report(error);
  }
  await Promise.all([loadList(), loadOffers()]);
  openFromHash();
  socket.connect();
}

window.hubInbox = { socket, state }; // for debugging and the browser tests
start();
