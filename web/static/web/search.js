// The search page (/supervisor/search): runs the query of the URL against GET /api/v1/search/ and shows the
// results, facets and errors. The page's template renders the form and passes, as JSON blocks, the texts in
// the user's language (search-strings) and the API's addresses (search-config).
//
// Safety: everything from the API is untrusted (message text, names, tags). It reaches the page only as
// textContent, except `snippet`, which the API sends as escaped HTML with <mark> around matches: that goes
// through renderSnippet, which keeps nothing but the text and the <mark> elements. No innerHTML anywhere.

const strings = JSON.parse(document.getElementById("search-strings").textContent);
const config = JSON.parse(document.getElementById("search-config").textContent);

const SORTS = ["relevance", "newest", "oldest"];
const MODES = ["conversations", "messages"];
// Facet name in the API -> filter name in the query language (docs/search.md). Month has no filter of its
// own: it becomes a date range.
const FACET_FILTERS = { channel: "channel", agent: "agent", team: "team", tag: "tag" };

const form = document.getElementById("search-form");
const input = document.getElementById("q");
const sortSelect = document.getElementById("sort");
const errorBox = document.getElementById("search-error");
const statusLine = document.getElementById("search-status");
const resultList = document.getElementById("results");
const loadMore = document.getElementById("load-more");
const exportLink = document.getElementById("export-link");
const languageNext = document.getElementById("language-next");
const loadMoreText = loadMore.textContent; // the template's text, in the page's language

const plurals = new Intl.PluralRules(config.lang);
const numbers = new Intl.NumberFormat(config.lang);
const times = new Intl.DateTimeFormat(config.lang, { dateStyle: "medium", timeStyle: "short" });
// Month facets are "2026-11" in the hub's time zone: shown as a month name, computed in UTC so that the
// browser's own time zone cannot move it to the month before.
const months = new Intl.DateTimeFormat(config.lang, { year: "numeric", month: "long", timeZone: "UTC" });

let current = null; // the search shown: {q, sort, mode}
let nextCursor = null;
let shown = 0;
let total = 0;
let inFlight = null; // AbortController of the request under way: a newer search cancels an older one

// --- Small helpers ---------------------------------------------------------------------------------------

function t(text, values = {}) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function countText(forms, n) {
  return t(forms[plurals.select(n)] ?? forms.other, { n: numbers.format(n) });
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// A link from the API, only if it stays on this site: a value such as "javascript:..." never becomes an href.
function safeHref(url) {
  if (typeof url !== "string" || url === "") return null;
  try {
    const parsed = new URL(url, window.location.href);
    if (parsed.origin !== window.location.origin) return null;
    return parsed.pathname + parsed.search + parsed.hash;
  } catch {
    return null;
  }
}

// The snippet's HTML parsed in an inert document (no script runs, nothing loads there), then rebuilt here
// from text nodes and fresh <mark> elements: any other tag or attribute is dropped, keeping only its text.
function renderSnippet(html, into) {
  const parsed = new DOMParser().parseFromString(`<!doctype html><body>${html}`, "text/html");
  for (const node of parsed.body.childNodes) {
    if (node.nodeType === Node.ELEMENT_NODE && node.nodeName === "MARK") {
      into.append(el("mark", null, node.textContent));
    } else {
      into.append(document.createTextNode(node.textContent));
    }
  }
}

function channelName(channel) {
  return strings.channel[channel] ?? channel;
}

function monthName(value) {
  const match = /^(\d{4})-(\d{2})$/.exec(value);
  return match ? months.format(new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1))) : value;
}

// --- The query in the URL --------------------------------------------------------------------------------

function stateFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const sort = params.get("sort");
  const mode = params.get("mode");
  return {
    q: params.get("q") ?? "",
    sort: SORTS.includes(sort) ? sort : SORTS[0],
    mode: MODES.includes(mode) ? mode : MODES[0],
  };
}

function stateFromForm() {
  const mode = form.querySelector('input[name="mode"]:checked');
  return { q: input.value, sort: sortSelect.value, mode: mode ? mode.value : MODES[0] };
}

function fillForm(state) {
  input.value = state.q;
  sortSelect.value = state.sort;
  for (const radio of form.querySelectorAll('input[name="mode"]')) radio.checked = radio.value === state.mode;
}

function pageUrl(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.sort !== SORTS[0]) params.set("sort", state.sort);
  if (state.mode !== MODES[0]) params.set("mode", state.mode);
  const query = params.toString();
  return window.location.pathname + (query ? `?${query}` : "");
}

// A new search is a new history entry (back returns to the previous one); the language switch comes back
// to the same search.
function navigate(state) {
  const url = pageUrl(state);
  if (url !== window.location.pathname + window.location.search) window.history.pushState(null, "", url);
  if (languageNext) languageNext.value = url;
  fillForm(state);
  search(state);
}

// --- Facets: a click adds the filter to the query ----------------------------------------------------------

// The query-language filter for one facet value, or null when the value cannot be written as one (a
// double quote cannot appear inside a quoted value).
function filterFor(facet, value) {
  if (facet === "month") {
    const match = /^(\d{4})-(\d{2})$/.exec(value);
    if (!match) return null;
    let year = Number(match[1]);
    let month = Number(match[2]) + 1;
    if (month > 12) {
      month = 1;
      year += 1;
    }
    return `after:${value} before:${year}-${String(month).padStart(2, "0")}`;
  }
  const name = FACET_FILTERS[facet];
  if (!name || /["\u201c\u201d\uff02]/.test(value)) return null;
  // A value with a space (the ideographic one too) or a parenthesis must be quoted to stay one value.
  return /[\s()]/.test(value) ? `${name}:"${value}"` : `${name}:${value}`;
}

function hasTerm(query, term) {
  return ` ${query.trim().split(/\s+/).join(" ")} `.includes(` ${term} `);
}

function withFilter(query, term) {
  const q = query.trim();
  if (!q) return term;
  if (hasTerm(q, term)) return q;
  // `a OR b channel:sms` would mean `a OR (b channel:sms)`: a query with OR is grouped first.
  return /(^|[\s()"])OR(?=$|[\s()"])/.test(q) ? `(${q}) ${term}` : `${q} ${term}`;
}

function renderFacets(facets) {
  for (const section of document.querySelectorAll("[data-facet]")) {
    const facet = section.dataset.facet;
    const list = section.querySelector("ul");
    const buckets = (facets[facet] ?? []).filter((bucket) => bucket.value !== "");
    list.replaceChildren();
    section.hidden = buckets.length === 0;
    for (const bucket of buckets) {
      const label = facet === "channel" ? channelName(bucket.value) : facet === "month" ? monthName(bucket.value)
        : bucket.value;
      const button = el("button", "facet");
      button.type = "button";
      button.append(el("span", "facet-value", label), el("span", "facet-count", numbers.format(bucket.count)));
      const term = filterFor(facet, bucket.value);
      if (term === null) {
        button.disabled = true;
        button.title = strings.cannot_filter;
      } else {
        button.title = t(strings.add_filter, { filter: term });
        const active = hasTerm(current.q, term);
        button.setAttribute("aria-pressed", String(active));
        button.addEventListener("click", () => navigate({ ...current, q: withFilter(current.q, term) }));
      }
      const item = el("li");
      item.append(button);
      list.append(item);
    }
  }
}

// --- Results ------------------------------------------------------------------------------------------------

function badge(text, className, title) {
  const node = el("span", `badge ${className}`, text);
  if (title) node.title = title;
  return node;
}

function renderMatch(match) {
  const item = el("li", match.kind === "note" ? "match match-note" : "match");
  const meta = el("div", "match-meta");
  meta.append(el("span", "author", match.author));
  const when = el("time", null, times.format(new Date(match.created_at)));
  when.dateTime = match.created_at;
  meta.append(when, el("span", "channel", channelName(match.channel)));
  if (match.direction === "in" || match.direction === "out") {
    meta.append(el("span", "direction", match.direction === "in" ? strings.direction_in : strings.direction_out));
  }
  if (match.kind === "note") meta.append(badge(strings.note, "badge-note", strings.note_title));
  if (match.public) meta.append(badge(strings.public, "badge-public", strings.public_title));
  const snippet = el("p", "snippet");
  renderSnippet(match.snippet ?? "", snippet);
  item.append(meta, snippet);
  return item;
}

function renderResult(result) {
  const conversation = result.conversation ?? {};
  const item = el("li", "result");
  const head = el("div", "conversation");
  const title = el("a", "subject", conversation.subject || strings.no_subject);
  const href = safeHref(conversation.url);
  if (href) {
    title.href = href;
    title.title = strings.open_conversation;
  }
  const customer = el("span", "customer", conversation.customer_name || strings.no_name);
  const facts = el("div", "facts");
  if (conversation.status) {
    facts.append(badge(strings.status[conversation.status] ?? conversation.status, `status status-${conversation.status}`));
  }
  if (conversation.channel) facts.append(el("span", "channel", channelName(conversation.channel)));
  facts.append(el("span", "team", t(strings.team, { team: conversation.team || strings.no_team })));
  facts.append(el("span", "assignee", t(strings.assignee, { assignee: conversation.assignee || strings.unassigned })));
  head.append(customer, title, facts);
  const matches = el("ol", "matches");
  for (const match of result.matches ?? []) matches.append(renderMatch(match));
  item.append(head, matches);
  return item;
}

function renderSummary(page) {
  const forms = page.mode === "messages" ? strings.messages_found : strings.conversations_found;
  let text = countText(forms, total);
  if (shown > 0 && shown < total) text += ` · ${t(strings.shown, { shown: numbers.format(shown) })}`;
  if (total === 0) text = strings.no_results;
  // Filters alone have nothing to rank by: say why relevance became newest first (an empty box needs no note).
  if (current.q.trim() && current.sort === "relevance" && page.sort !== "relevance") {
    text += ` · ${strings.sort_fallback}`;
  }
  statusLine.textContent = text;
}

// --- Errors -------------------------------------------------------------------------------------------------

function clearError() {
  errorBox.replaceChildren();
  errorBox.hidden = true;
  input.removeAttribute("aria-invalid");
}

function showError(...parts) {
  errorBox.replaceChildren(...parts.map((part) => (typeof part === "string" ? document.createTextNode(part) : part)));
  errorBox.hidden = false;
}

function clearResults() {
  resultList.replaceChildren();
  loadMore.hidden = true;
  nextCursor = null;
  statusLine.textContent = "";
}

// `position` counts characters (code points) of the query as the API received it, that is trimmed; the text
// box counts UTF-16 units of the untrimmed text.
function boxIndex(query, position) {
  const lead = query.length - query.trimStart().length;
  return lead + Array.from(query.trimStart()).slice(0, position).join("").length;
}

function showQueryError(query, message, position) {
  const text = el("p", null, `${strings.query_error} ${message}`);
  const parts = [text];
  if (Number.isInteger(position) && position >= 0) {
    const at = Math.min(boxIndex(query, position), query.length);
    const chars = Array.from(query.slice(at));
    const where = el("p", "where");
    where.append(document.createTextNode(`${strings.query_error_here} `));
    const code = el("code");
    // The character at fault is marked; past the end of the query, an empty place holder is.
    code.append(document.createTextNode(query.slice(0, at)), el("span", "fault", chars[0] ?? " "),
      document.createTextNode(chars.slice(1).join("")));
    where.append(code);
    parts.push(where);
    input.focus();
    input.setSelectionRange(at, at);
  }
  input.setAttribute("aria-invalid", "true");
  showError(...parts);
}

function handleFailure(state, response, body, append) {
  if (response.status === 400 && body && Array.isArray(body.q)) {
    showQueryError(state.q, String(body.q[0] ?? ""), body.position);
  } else if (response.status === 400 && body && body.cursor) {
    showError(strings.cursor_error);
  } else if (response.status === 401) {
    const link = el("a", null, strings.sign_in);
    link.href = `${config.login}?${new URLSearchParams({ next: pageUrl(state) })}`;
    showError(`${strings.signed_out} `, link);
  } else if (response.status === 403) {
    showError(strings.not_allowed);
  } else if (response.status === 429) {
    showError(strings.throttled);
  } else if (response.status === 503) {
    const retry = el("button", "retry", strings.retry);
    retry.type = "button";
    retry.addEventListener("click", () => search(state, { append }));
    showError(`${strings.unavailable} `, retry);
  } else {
    showError(t(strings.failed, { status: response.status }));
  }
}

// --- Searching ---------------------------------------------------------------------------------------------

async function search(state, { append = false } = {}) {
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  if (!append) {
    current = state;
    exportLink.href = `${config.export}?${new URLSearchParams({ q: state.q })}`;
    clearResults();
  }
  clearError();
  const params = new URLSearchParams({
    q: state.q, mode: state.mode, sort: state.sort, page_size: String(config.page_size),
    facets: append ? "false" : "true", // facets cover the whole result: the first page has them already
  });
  if (append) params.set("cursor", nextCursor);
  // A new search may have cancelled a "Load more" under way: its button starts afresh.
  loadMore.disabled = append;
  loadMore.textContent = append ? strings.loading_more : loadMoreText;
  if (!append) statusLine.textContent = strings.searching;
  resultList.setAttribute("aria-busy", "true");
  let response;
  let body = null;
  try {
    response = await fetch(`${config.api}?${params}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: controller.signal,
    });
    body = await response.json().catch(() => null);
  } catch (error) {
    if (controller.signal.aborted) return;
    finish(controller, append);
    if (!append) statusLine.textContent = "";
    showError(strings.network);
    return;
  }
  if (controller.signal.aborted) return;
  finish(controller, append);
  if (!response.ok || body === null) {
    if (!append) statusLine.textContent = "";
    handleFailure(state, response, body, append);
    return;
  }
  if (!append) total = body.total;
  for (const result of body.results) resultList.append(renderResult(result));
  shown = append ? shown + body.results.length : body.results.length;
  nextCursor = body.next_cursor;
  loadMore.hidden = !nextCursor;
  if (!append) renderFacets(body.facets ?? {});
  renderSummary(body);
}

function finish(controller, append) {
  if (inFlight === controller) inFlight = null;
  resultList.removeAttribute("aria-busy");
  if (append) {
    loadMore.disabled = false;
    loadMore.textContent = loadMoreText;
  }
}

// --- Wiring --------------------------------------------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  navigate(stateFromForm());
});
sortSelect.addEventListener("change", () => navigate(stateFromForm()));
for (const radio of form.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener("change", () => navigate(stateFromForm()));
}
loadMore.addEventListener("click", () => {
  if (nextCursor && current) search(current, { append: true });
});
window.addEventListener("popstate", () => {
  const state = stateFromUrl();
  if (languageNext) languageNext.value = pageUrl(state);
  fillForm(state);
  search(state);
});

{
  const state = stateFromUrl();
  fillForm(state);
  search(state);
}
