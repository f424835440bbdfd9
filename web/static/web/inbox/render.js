// Building the inbox's DOM from API and event data. Everything from the hub is untrusted (message text,
// names, addresses, attachment names, tags): it goes in as textContent or attribute values, never as HTML.
// The one exception is sanitized email HTML, which is shown only inside <iframe sandbox srcdoc> (no script
// runs there, it cannot reach this page, and a CSP in the frame stops remote images and styles).

export const CHANNEL_ICONS = { email: "✉", sms: "💬", webchat: "🗨", social: "🌐", voice: "📞", slack: "#" };

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("data-") || key.startsWith("aria-") || ["title", "role", "type", "lang", "href",
      "value", "name", "src", "controls", "tabindex", "hidden", "preload", "datetime"].includes(key)) {
      node.setAttribute(key, value === true ? "" : String(value));
    } else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function fill(text, values = {}) {
  return String(text).replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export class Formatter {
  constructor(lang, strings) {
    this.strings = strings;
    this.time = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    this.relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto", style: "narrow" });
  }

  at(iso) {
    return iso ? this.time.format(new Date(iso)) : "";
  }

  // "3 min", "2 h": how long since `iso`, short enough for a list row.
  since(iso, now = Date.now()) {
    const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
    if (seconds < 60) return this.relative.format(-seconds, "second");
    if (seconds < 3600) return this.relative.format(-Math.floor(seconds / 60), "minute");
    if (seconds < 86400) return this.relative.format(-Math.floor(seconds / 3600), "hour");
    return this.relative.format(-Math.floor(seconds / 86400), "day");
  }

  duration(seconds) {
    const s = Math.max(0, Number(seconds) || 0);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  channel(id) {
    return this.strings.channel[id] || id;
  }
}

// A recording link from call metadata, only if it is plain http(s): never "javascript:" or "data:".
function safeMediaUrl(url) {
  try {
    const parsed = new URL(String(url), window.location.href);
    return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

// Quoted parts of common mail clients, hidden in the frame until the agent unfolds them.
const QUOTE_CSS = "blockquote,.gmail_quote,.yahoo_quoted,#divRplyFwdMsg,#divRplyFwdMsg~*,#appendonsend~*,"
  + ".moz-cite-prefix,div[type=cite]{display:none!important}";

function emailFrame(html, folded) {
  const frame = el("iframe", { className: "email-frame", title: "email" });
  frame.setAttribute("sandbox", "");
  frame.setAttribute("referrerpolicy", "no-referrer");
  const csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:";
  frame.srcdoc = `<!doctype html><html><head><meta charset="utf-8">`
    + `<meta http-equiv="Content-Security-Policy" content="${csp}">`
    + `<style>body{font:14px/1.45 system-ui,sans-serif;margin:.4rem;color:#111;overflow-wrap:anywhere}`
    + `${folded ? QUOTE_CSS : ""}</style></head><body>${html}</body></html>`;
  return frame;
}

export function messageNode(m, fmt, conversationIds) {
  const s = fmt.strings;
  const extra = m.extra || {};
  const node = el("li", {
    className: `message ${m.direction === "in" ? "in" : "out"}${m.kind === "call" ? " call" : ""}`,
    "data-testid": "timeline-message", "data-message-id": m.id, "data-direction": m.direction,
    "data-channel": m.channel, "data-conversation-id": m.conversation_id, "data-at": m.created_at,
  });
  const head = el("div", { className: "message-head" },
    el("span", { className: "channel-icon", "aria-hidden": "true", text: CHANNEL_ICONS[m.channel] || "•" }),
    el("span", { className: "channel-name", text: fmt.channel(m.channel) }),
    el("strong", { className: "author", text: m.author_name || s.no_name }),
    el("time", { datetime: m.created_at, text: fmt.at(m.created_at) }));
  if (m.is_public) {
    head.append(el("span", { className: "badge public", "data-testid": "public-mark", title: s.public_title,
      text: s.public }));
  }
  if (extra.thread_ts && m.channel === "slack") head.append(el("span", { className: "badge", text: s.thread }));
  if (conversationIds && conversationIds.length > 1) {
    head.append(el("span", { className: "conv-ref", text: `#${m.conversation_id}` }));
  }
  node.append(head);

  if (m.kind === "call") {
    const call = el("div", { className: "call-info" },
      el("span", { text: fill(s.call, { duration: fmt.duration(extra.duration_seconds) }) }));
    if (extra.call_status) call.append(" · ", el("span", { text: fill(s.call_status, { status: extra.call_status }) }));
    node.append(call);
    const src = extra.recording_url ? safeMediaUrl(extra.recording_url) : null;
    if (src) {
      node.append(el("div", { className: "recording" }, el("span", { text: s.recording }),
        el("audio", { controls: true, preload: "none", src })));
    }
    if (m.text) {
      node.append(el("details", { className: "transcript", open: true }, el("summary", { text: s.transcript }),
        el("p", { className: "message-text", "data-testid": "message-text", text: m.text })));
    }
  } else if (m.html) {
    // The plain text stays in the DOM for search-in-page, tests and screen readers; the frame shows the mail.
    node.append(el("p", { className: "message-text visually-hidden", "data-testid": "message-text", text: m.text }));
    let folded = true;
    let frame = emailFrame(m.html, folded);
    const toggle = el("button", { type: "button", className: "link quote-toggle", text: s.show_quoted });
    toggle.addEventListener("click", () => {
      folded = !folded;
      const next = emailFrame(m.html, folded);
      frame.replaceWith(next);
      frame = next;
      toggle.textContent = folded ? s.show_quoted : s.hide_quoted;
    });
    node.append(frame);
    if (extra.quoted_text) node.append(toggle);
  } else {
    node.append(el("p", { className: "message-text", "data-testid": "message-text", text: m.text }));
    if (extra.quoted_text) {
      node.append(el("details", { className: "quoted" }, el("summary", { text: s.show_quoted }),
        el("pre", { text: extra.quoted_text })));
    }
  }
  if (extra.post_excerpt) node.append(el("blockquote", { className: "post-excerpt", text: extra.post_excerpt }));
  for (const a of m.attachments || []) {
    const href = typeof a.url === "string" && a.url.startsWith("/api/v1/attachments/") ? a.url : null;
    node.append(el("div", { className: "attachment" },
      href ? el("a", { href, text: fill(s.attachment, { name: a.name }) }) : el("span", { text: a.name })));
  }
  if (m.direction === "out") node.append(statusNode(m.status, m.failure_reason, s));
  return node;
}

export function statusNode(status, reason, s) {
  const text = s.delivery[status] || status;
  return el("p", { className: `delivery ${status}`, "data-testid": "delivery-status", "data-status": status,
    text: reason ? `${text}: ${reason}` : text });
}

export function noteNode(n, fmt) {
  const s = fmt.strings;
  return el("li", { className: "note", "data-testid": "timeline-note", "data-note-id": n.id,
    "data-conversation-id": n.conversation_id, "data-at": n.created_at, title: s.note_title },
  el("div", { className: "message-head" },
    el("span", { className: "badge note-badge", text: s.note }),
    el("strong", { className: "author", text: n.author_name }),
    el("time", { datetime: n.created_at, text: fmt.at(n.created_at) })),
  el("p", { className: "message-text", text: n.text }));
}

export function boundaryNode(c, fmt) {
  const s = fmt.strings;
  return el("li", { className: "boundary", "data-boundary": c.id, "data-at": c.created_at },
    el("span", { text: fill(s.conversation_start, { id: c.id, channel: fmt.channel(c.channel),
      status: s.status[c.status] || c.status }) }),
    c.subject ? el("span", { className: "subject", text: ` · ${c.subject}` }) : null);
}

export function rowNode(c, fmt, active) {
  const s = fmt.strings;
  const snippet = c.snippet ? c.snippet.text : "";
  const node = el("li", { className: `row${active ? " active" : ""}${c.unread ? " has-unread" : ""}`,
    "data-testid": "conversation-item", "data-conversation-id": c.id, "data-priority": c.priority,
    "aria-current": active ? "true" : null, tabindex: "0", role: "button" },
  el("span", { className: "channel-icon", title: fmt.channel(c.channel), text: CHANNEL_ICONS[c.channel] || "•" }),
  el("span", { className: "row-main" },
    el("span", { className: "row-top" },
      el("strong", { className: "customer", "data-testid": "item-customer", text: c.customer_name || s.no_name }),
      c.priority >= 2 ? el("span", { className: `priority p${c.priority}`, text: s.priority[String(c.priority)] })
        : null,
      c.unread ? el("span", { className: "unread", "data-testid": "unread", title: fill(s.unread, { n: c.unread }),
        text: String(c.unread) }) : el("span", { className: "unread zero", "data-testid": "unread", text: "0",
        hidden: true })),
    el("span", { className: "snippet", "data-testid": "item-snippet", text: snippet || c.subject || "" }),
    c.waiting_since ? el("span", { className: "waiting", "data-waiting-since": c.waiting_since,
      text: fill(s.waiting, { time: fmt.since(c.waiting_since) }) }) : null));
  return node;
}

export function panelContent(profile, fmt, refs) {
  const s = fmt.strings;
  refs.name.textContent = profile.display_name || s.no_name;
  refs.tier.textContent = s.tier[profile.value_tier] || profile.value_tier;
  refs.tier.dataset.tier = profile.value_tier;
  refs.tags.replaceChildren(...(profile.tags.length ? profile.tags.map((t) => el("span", { className: "tag", text: t }))
    : [el("span", { className: "muted", text: s.no_tags })]));
  refs.identities.replaceChildren(...profile.identities.map((i) => el("li", { "data-testid": "customer-identity",
    "data-kind": i.kind }, el("span", { className: "kind", text: i.kind }), " ", el("span", { text: i.address }),
  i.display_name && i.display_name !== i.address ? el("span", { className: "muted", text: ` (${i.display_name})` })
    : null)));
  refs.csat.textContent = profile.last_csat ? fill(s.csat, { score: profile.last_csat.score })
    + (profile.last_csat.comment ? ` · “${profile.last_csat.comment}”` : "") : s.no_csat;
  refs.notes.textContent = profile.notes || s.no_notes;
  refs.conversations.replaceChildren(...profile.conversations.map((c) => el("li", {
    "data-testid": "customer-conversation", "data-status": c.status, "data-conversation-id": c.id },
  el("a", { href: `#conversation/${c.id}`, text: `#${c.id}` }), " ",
  el("span", { className: "channel-icon", text: CHANNEL_ICONS[c.channel] || "•" }), " ",
  el("span", { className: `status ${c.status}`, text: s.status[c.status] || c.status }), " ",
  el("span", { className: "subject", text: c.subject || s.no_subject }),
  c.resolved_at ? el("time", { className: "muted", datetime: c.resolved_at, text: ` · ${fmt.at(c.resolved_at)}` })
    : null)));
}
