/*
 * The hub's chat widget. A site embeds it with one tag:
 *   <script src="https://HUB/widget.js" data-account="KEY" async></script>
 * Optional: data-email, data-email-hash (identity verification, docs/chat.md), data-name, data-lang.
 *
 * A classic script (not a module) so that any page can load it; everything it draws lives in an open shadow
 * root on #hub-chat, so the page's styles and the widget's do not mix. It talks to the hub over /ws/chat/
 * (protocol in docs/chat.md). Every text that comes from the hub or from people (messages, names, file names)
 * is put into the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  const script = document.currentScript;
  if (!script || !script.src || !script.dataset.account) {
    console.warn("hub chat: the script tag needs src and data-account");
    return;
  }
  if (document.getElementById("hub-chat")) return; // embedded twice
  const HUB = new URL(script.src).origin;
  const ACCOUNT = script.dataset.account;
  const VERIFIED_EMAIL = script.dataset.email || "";
  const EMAIL_HASH = script.dataset.emailHash || "";
  const KEY = "hub-chat:" + ACCOUNT + ":";

  const STRINGS = {
    en: {
      title: "Chat with us",
      open: "Open the chat",
      close: "Close the chat",
      language: "中文",
      language_title: "切换到中文",
      placeholder: "Write a message…",
      send: "Send",
      attach: "Attach an image or PDF",
      prechat_intro: "Before we start: how should we call you? (optional)",
      name: "Name",
      email: "Email",
      start: "Start the chat",
      agent_prefix: "You are chatting with",
      typing: "{name} is typing…",
      someone: "Someone",
      queue_waiting: "You are number {position} in line.",
      queue_wait: "Estimated wait: about {minutes} min.",
      queue_wait_soon: "An agent should answer in a moment.",
      queue_offered: "Connecting you with an agent…",
      queue_offline: "Nobody is available to chat right now.",
      queue_out_of_hours: "We are closed at the moment.",
      leave_intro: "Leave us a message: we will answer by email if you give your address, or here as soon as someone is back.",
      leave_send: "Leave the message",
      leave_sent_email: "Thank you! We will answer by email.",
      leave_sent_chat: "Thank you! We will answer here as soon as possible.",
      csat_question: "How did we do?",
      csat_score: "{n} out of 5",
      csat_comment: "Anything to add? (optional)",
      csat_submit: "Send my rating",
      csat_thanks: "Thank you for your feedback!",
      receipt_sending: "sending",
      receipt_sent: "sent",
      receipt_delivered: "delivered",
      receipt_seen: "seen",
      receipt_failed: "not sent",
      reconnecting: "Connection lost. Reconnecting…",
      rate_limited: "You are sending messages too fast. Please wait {seconds} s.",
      too_long: "This message is too long (at most {limit} characters).",
      too_large: "This file is too large (at most {size}).",
      bad_type: "Only images (PNG, JPEG, GIF, WebP) and PDF files can be sent.",
      upload_failed: "The file could not be sent. Please try again.",
      refused: "This could not be done: {reason}",
      origin_refused: "This chat is not available on this site.",
      unavailable: "The chat is not available.",
      closed_note: "This conversation is closed. Write again to start a new one.",
      file: "File",
    },
    zh: {
      title: "在线咨询",
      open: "打开聊天窗口",
      close: "关闭聊天窗口",
      language: "EN",
      language_title: "Switch to English",
      placeholder: "输入消息…",
      send: "发送",
      attach: "发送图片或 PDF",
      prechat_intro: "开始之前：我们怎么称呼您？（可不填）",
      name: "姓名",
      email: "邮箱",
      start: "开始聊天",
      agent_prefix: "正在为您服务：",
      typing: "{name} 正在输入…",
      someone: "对方",
      queue_waiting: "您前面还有 {ahead} 位，当前排在第 {position} 位。",
      queue_wait: "预计等待约 {minutes} 分钟。",
      queue_wait_soon: "客服马上就来。",
      queue_offered: "正在为您接通客服…",
      queue_offline: "目前没有客服在线。",
      queue_out_of_hours: "现在是非工作时间。",
      leave_intro: "请给我们留言：留下邮箱我们会通过邮件回复，否则客服上线后会在这里回复您。",
      leave_send: "提交留言",
      leave_sent_email: "谢谢！我们会通过邮件回复您。",
      leave_sent_chat: "谢谢！我们会尽快在这里回复您。",
      csat_question: "您对本次服务满意吗？",
      csat_score: "{n} 分（满分 5 分）",
      csat_comment: "还有什么想说的吗？（可不填）",
      csat_submit: "提交评价",
      csat_thanks: "感谢您的评价！",
      receipt_sending: "发送中",
      receipt_sent: "已发送",
      receipt_delivered: "已送达",
      receipt_seen: "已读",
      receipt_failed: "未发送",
      reconnecting: "连接已断开，正在重新连接…",
      rate_limited: "您发送得太快了，请等待 {seconds} 秒。",
      too_long: "消息太长了（最多 {limit} 个字符）。",
      too_large: "文件太大了（最大 {size}）。",
      bad_type: "只能发送图片（PNG、JPEG、GIF、WebP）和 PDF 文件。",
      upload_failed: "文件发送失败，请重试。",
      refused: "无法完成：{reason}",
      origin_refused: "此网站不能使用该聊天服务。",
      unavailable: "聊天服务暂不可用。",
      closed_note: "本次会话已结束。再次发送消息即可开始新的会话。",
      file: "文件",
    },
  };

  function store(name, value) {
    try {
      if (value === null || value === undefined) localStorage.removeItem(KEY + name);
      else localStorage.setItem(KEY + name, typeof value === "string" ? value : JSON.stringify(value));
    } catch (e) { /* storage may be disabled: the chat still works for this page */ }
  }
  function load(name, fallback) {
    try {
      const raw = localStorage.getItem(KEY + name);
      if (raw === null) return fallback;
      return name === "token" || name === "lang" ? raw : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }

  function pickLanguage() {
    const chosen = load("lang", "") || script.dataset.lang || navigator.language || "en";
    return chosen.toLowerCase().startsWith("zh") ? "zh" : "en";
  }
  let lang = pickLanguage();
  function t(key, values) {
    let text = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    for (const [name, value] of Object.entries(values || {})) text = text.split("{" + name + "}").join(String(value));
    return text;
  }

  // --- building the UI --------------------------------------------------------------------------------------

  const labelled = []; // [element, property, key]: re-labelled when the language changes
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else if (name === "i18n") { node.textContent = t(value); labelled.push([node, "textContent", value]); }
      else if (name === "i18nPlaceholder") { node.placeholder = t(value); labelled.push([node, "placeholder", value]); }
      else if (name === "i18nTitle") {
        node.title = t(value); node.setAttribute("aria-label", t(value)); labelled.push([node, "title", value]);
      }
      else if (name === "testid") node.setAttribute("data-testid", value);
      else if (name === "hidden") node.hidden = Boolean(value);
      else node.setAttribute(name, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  const host = document.createElement("div");
  host.id = "hub-chat";
  host.dataset.state = "connecting";
  const root = host.attachShadow({ mode: "open" });
  root.append(el("style", { text: styles() }));

  const bubble = el("button", { type: "button", class: "bubble", testid: "chat-bubble", i18nTitle: "open",
                                "aria-expanded": "false" }, [el("span", { "aria-hidden": "true", text: "💬" })]);
  const agentName = el("span", { class: "agent-name", testid: "chat-agent-name" });
  const agentLine = el("div", { class: "agent-line", hidden: true }, [el("span", { i18n: "agent_prefix" }), " ", agentName]);
  const langButton = el("button", { type: "button", class: "lang", i18n: "language", i18nTitle: "language_title" });
  const closeButton = el("button", { type: "button", class: "close", i18nTitle: "close", text: "×" });
  const header = el("header", {}, [el("div", { class: "title-block" }, [el("h2", { i18n: "title" }), agentLine]),
                                   langButton, closeButton]);
  const notice = el("div", { class: "notice", testid: "chat-notice", role: "status", "aria-live": "polite", hidden: true });
  const queue = el("div", { class: "queue", testid: "chat-queue", hidden: true });
  const list = el("ol", { class: "messages", "aria-live": "polite" });
  const typingLine = el("div", { class: "typing", testid: "chat-typing", hidden: true });

  const prechatName = el("input", { type: "text", testid: "prechat-name", maxlength: "200", autocomplete: "name" });
  const prechatEmail = el("input", { type: "email", testid: "prechat-email", maxlength: "320", autocomplete: "email" });
  const prechatStart = el("button", { type: "submit", testid: "prechat-start", i18n: "start" });
  const prechat = el("form", { class: "prechat", hidden: true }, [
    el("p", { i18n: "prechat_intro" }),
    el("label", {}, [el("span", { i18n: "name" }), prechatName]),
    el("label", {}, [el("span", { i18n: "email" }), prechatEmail]),
    prechatStart,
  ]);

  const leaveEmail = el("input", { type: "email", testid: "leave-email", maxlength: "320", autocomplete: "email" });
  const leaveText = el("textarea", { testid: "leave-text", rows: "3" });
  const leaveSend = el("button", { type: "submit", testid: "leave-send", i18n: "leave_send" });
  const leave = el("form", { class: "leave", testid: "leave-message", hidden: true }, [
    el("p", { i18n: "leave_intro" }),
    el("label", {}, [el("span", { i18n: "email" }), leaveEmail]),
    leaveText,
    leaveSend,
  ]);

  const csatButtons = [1, 2, 3, 4, 5].map((n) => el("button", {
    type: "button", class: "score", testid: "csat-score-" + n, "aria-pressed": "false", text: "★".repeat(n),
    title: t("csat_score", { n }), "data-score": String(n),
  }));
  const csatComment = el("textarea", { testid: "csat-comment", rows: "2", maxlength: "2000", i18nPlaceholder: "csat_comment" });
  const csatSubmit = el("button", { type: "submit", testid: "csat-submit", i18n: "csat_submit", disabled: "" });
  const csatForm = el("form", { class: "csat-form" }, [el("div", { class: "scores" }, csatButtons), csatComment, csatSubmit]);
  const csatThanks = el("p", { class: "thanks", testid: "csat-thanks", i18n: "csat_thanks", hidden: true });
  const csat = el("section", { class: "csat", testid: "csat", hidden: true },
                  [el("p", { i18n: "csat_question" }), csatForm, csatThanks]);

  const input = el("textarea", { testid: "chat-input", rows: "2", i18nPlaceholder: "placeholder" });
  const fileInput = el("input", { type: "file", testid: "chat-file", accept: "image/png,image/jpeg,image/gif,image/webp,application/pdf" });
  const attach = el("label", { class: "attach", i18nTitle: "attach" }, [el("span", { "aria-hidden": "true", text: "📎" }), fileInput]);
  const sendButton = el("button", { type: "submit", testid: "chat-send", i18n: "send" });
  const composer = el("form", { class: "composer" }, [input, attach, sendButton]);

  const body = el("div", { class: "body" }, [queue, list, typingLine, csat, prechat, leave]);
  const panel = el("section", { class: "panel", testid: "chat-panel", role: "dialog", hidden: true },
                   [header, notice, body, composer]);
  root.append(panel, bubble);

  function mount() {
    document.body.append(host);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  function relabel() {
    for (const [node, property, key] of labelled) {
      node[property] = t(key);
      if (property === "title") node.setAttribute("aria-label", t(key));
    }
    csatButtons.forEach((b, i) => { b.title = t("csat_score", { n: i + 1 }); });
    for (const item of list.children) paintReceipt(item);
    renderQueue();
    renderTyping();
  }

  // --- state ------------------------------------------------------------------------------------------------

  let ws = null;
  let token = load("token", "");
  let lastSeq = null; // in memory: a new page replays the whole chat, a reconnect resumes
  let pending = load("pending", []); // sent but not acknowledged: resent with the same client id
  let limits = { max_message_chars: 4000, max_attachment_bytes: 10 * 1024 * 1024 };
  let retryDelay = 1000;
  let stopped = false;
  let pingTimer = null;
  let retryTimer = null;
  let queueState = null;
  let typingName = "";
  let typingTimer = null;
  let myTypingTimer = null;
  let currentConversation = null;
  const conversationStatus = {};
  const rated = {};
  let csatConversation = null;
  let csatScore = 0;
  let newestAgentMessage = 0;
  let identifySent = false;
  let agentAssigned = false;

  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function showNotice(text) {
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  // --- messages ---------------------------------------------------------------------------------------------

  function findMessage(message) {
    if (message.client_id) {
      const mine = list.querySelector('[data-client-id="' + CSS.escape(message.client_id) + '"]');
      if (mine) return mine;
    }
    if (message.id) return list.querySelector('[data-message-id="' + String(Number(message.id)) + '"]');
    return null;
  }

  function messageItem(author) {
    const item = el("li", { class: "message " + author, testid: "chat-message", "data-author": author });
    item.append(el("div", { class: "who" }), el("div", { class: "text", testid: "chat-text" }), el("div", { class: "files" }));
    if (author === "visitor") item.append(el("span", { class: "receipt", testid: "chat-receipt" }));
    return item;
  }

  function fillMessage(item, message) {
    if (message.id) item.dataset.messageId = String(message.id);
    if (message.client_id) item.dataset.clientId = message.client_id;
    if (message.created_at) item.dataset.createdAt = message.created_at;
    if (message.conversation_id) item.dataset.conversationId = String(message.conversation_id);
    item.querySelector(".who").textContent = message.author === "agent" ? (message.author_name || "") : "";
    item.querySelector(".text").textContent = message.text || "";
    const files = item.querySelector(".files");
    files.replaceChildren();
    for (const file of message.attachments || []) {
      const url = typeof file.url === "string" && file.url.startsWith("/") ? HUB + file.url : "";
      if (url && /^image\//.test(file.content_type)) {
        const link = el("a", { href: url, target: "_blank", rel: "noopener noreferrer" },
                        [el("img", { src: url, alt: file.name || t("file") })]);
        files.append(link);
      } else if (url) {
        files.append(el("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "file",
                               text: "📄 " + (file.name || t("file")) }));
      } else {
        files.append(el("span", { class: "file", text: "📄 " + (file.name || t("file")) }));
      }
    }
  }

  const RECEIPT_ORDER = { sending: 0, failed: 0, sent: 1, delivered: 2, seen: 3 };
  function setReceipt(item, state) {
    if (item.dataset.author !== "visitor") return;
    const now = item.dataset.receipt;
    if (now && state !== "failed" && now !== "failed" && RECEIPT_ORDER[state] < RECEIPT_ORDER[now]) return;
    item.dataset.receipt = state;
    paintReceipt(item);
  }
  function paintReceipt(item) {
    const receipt = item.querySelector(".receipt");
    if (receipt && item.dataset.receipt) {
      receipt.textContent = t("receipt_" + item.dataset.receipt);
      receipt.dataset.state = item.dataset.receipt;
    }
  }

  function scrollDown() {
    body.scrollTop = body.scrollHeight;
  }

  function onMessage(frame) {
    const message = frame.message;
    let item = findMessage(message);
    if (!item) {
      item = messageItem(message.author);
      list.append(item);
    }
    fillMessage(item, message);
    if (message.author === "visitor") {
      setReceipt(item, "sent");
      forgetPending(message.client_id);
      if (message.status === "read") setReceipt(item, "seen");
    } else if (message.author === "agent") {
      newestAgentMessage = Math.max(newestAgentMessage, Number(message.id));
      if (typingName) { typingName = ""; renderTyping(); }
      sendReceipt();
    }
    noteConversation(message.conversation_id);
    scrollDown();
  }

  function noteConversation(id) {
    if (id && (currentConversation === null || id > currentConversation)) currentConversation = id;
  }

  function sendReceipt() {
    if (!newestAgentMessage) return;
    const read = !panel.hidden && document.visibilityState === "visible";
    send({ type: "receipt", message_id: newestAgentMessage, status: read ? "read" : "delivered" });
  }

  function onSeen(frame) {
    const upTo = Date.parse(frame.up_to);
    for (const item of list.querySelectorAll('[data-author="visitor"]')) {
      if (Number(item.dataset.conversationId) === frame.conversation_id
          && Date.parse(item.dataset.createdAt || "") <= upTo) setReceipt(item, "seen");
    }
  }

  // --- sending ----------------------------------------------------------------------------------------------

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function savePending() { store("pending", pending); }
  function forgetPending(clientId) {
    if (!clientId) return;
    const before = pending.length;
    pending = pending.filter((p) => p.client_id !== clientId);
    if (pending.length !== before) savePending();
  }

  function queueMessage(text, uploads, fileNames) {
    const clientId = newId();
    const entry = { client_id: clientId, text, uploads: uploads || [] };
    pending.push(entry);
    savePending();
    const item = messageItem("visitor");
    fillMessage(item, { client_id: clientId, text, attachments: (fileNames || []).map((name) => ({ name })) });
    setReceipt(item, "sending");
    list.append(item);
    scrollDown();
    send({ type: "message", ...entry });
  }

  function resendPending() {
    for (const entry of pending) {
      if (!findMessage(entry)) {
        const item = messageItem("visitor");
        fillMessage(item, { client_id: entry.client_id, text: entry.text });
        setReceipt(item, "sending");
        list.append(item);
      }
      send({ type: "message", ...entry });
    }
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (text.length > limits.max_message_chars) {
      showNotice(t("too_long", { limit: limits.max_message_chars }));
      return;
    }
    showNotice("");
    input.value = "";
    stopTyping();
    queueMessage(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener("input", () => {
    if (!input.value) { stopTyping(); return; }
    send({ type: "typing", typing: true });
    clearTimeout(myTypingTimer);
    myTypingTimer = setTimeout(stopTyping, 4000);
  });
  function stopTyping() {
    clearTimeout(myTypingTimer);
    myTypingTimer = null;
    send({ type: "typing", typing: false });
  }

  function humanSize(bytes) {
    return bytes >= 1048576 ? Math.round(bytes / 104857.6) / 10 + " MB" : Math.round(bytes / 1024) + " KB";
  }

  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    if (file.size > limits.max_attachment_bytes) {
      showNotice(t("too_large", { size: humanSize(limits.max_attachment_bytes) }));
      return;
    }
    const form = new FormData();
    form.append("account", ACCOUNT);
    form.append("token", token);
    form.append("file", file);
    let answer = null;
    let status = 0;
    try {
      const response = await fetch(HUB + "/chat/upload/?account=" + encodeURIComponent(ACCOUNT),
                                   { method: "POST", body: form, mode: "cors", credentials: "omit" });
      status = response.status;
      answer = await response.json().catch(() => null);
    } catch (e) {
      showNotice(t("upload_failed"));
      return;
    }
    if (status === 201 && answer && answer.upload) {
      showNotice("");
      queueMessage("", [answer.upload], [answer.name]);
    } else if (status === 413) showNotice(t("too_large", { size: humanSize(limits.max_attachment_bytes) }));
    else if (status === 415) showNotice(t("bad_type"));
    else if (status === 429) showNotice(t("rate_limited", { seconds: (answer && answer.retry_after) || 60 }));
    else if (status === 403) showNotice(t("origin_refused"));
    else showNotice(t("upload_failed"));
  });

  prechat.addEventListener("submit", (event) => {
    event.preventDefault();
    send({ type: "identify", name: prechatName.value.trim(), email: prechatEmail.value.trim() });
  });

  leave.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = leaveText.value;
    if (!text.trim()) return;
    if (text.length > limits.max_message_chars) {
      showNotice(t("too_long", { limit: limits.max_message_chars }));
      return;
    }
    leave.dataset.clientId = newId();
    leave.dataset.email = leaveEmail.value.trim();
    send({ type: "leave", client_id: leave.dataset.clientId, email: leaveEmail.value.trim(), text });
  });

  csatButtons.forEach((button) => button.addEventListener("click", () => {
    csatScore = Number(button.dataset.score);
    csatButtons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    csatSubmit.disabled = false;
  }));
  csatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!csatScore || csatConversation === null) return;
    send({ type: "rate", conversation_id: csatConversation, score: csatScore, comment: csatComment.value });
  });

  // --- what the hub says ------------------------------------------------------------------------------------

  function renderQueue() {
    const q = queueState;
    let text = "";
    if (q && !agentAssigned) {
      if (q.state === "waiting" && q.position) {
        text = t("queue_waiting", { position: q.position, ahead: Math.max(0, q.position - 1) });
        if (q.estimated_wait_seconds !== null && q.estimated_wait_seconds !== undefined) {
          text += " " + (q.estimated_wait_seconds < 60 ? t("queue_wait_soon")
                                                       : t("queue_wait", { minutes: Math.ceil(q.estimated_wait_seconds / 60) }));
        }
      } else if (q.state === "offered") text = t("queue_offered");
      if (q.offline) text = (text ? text + " " : "") + t(q.state === "out_of_hours" || q.out_of_hours ? "queue_out_of_hours" : "queue_offline");
    }
    queue.textContent = text;
    queue.hidden = !text;
    leave.hidden = !(q && q.offline && !agentAssigned) || leave.dataset.done === "1";
  }

  function renderTyping() {
    typingLine.textContent = typingName ? t("typing", { name: typingName }) : "";
    typingLine.hidden = !typingName;
  }

  function renderCsat() {
    const status = csatConversation !== null ? conversationStatus[csatConversation] : null;
    csat.hidden = status !== "resolved";
    const done = csatConversation !== null && rated[csatConversation];
    csatForm.hidden = Boolean(done);
    csatThanks.hidden = !done;
  }

  function onConversation(frame) {
    conversationStatus[frame.conversation_id] = frame.status;
    if (currentConversation !== null && frame.conversation_id > currentConversation) {
      // A new conversation: nobody answers it yet.
      agentAssigned = false;
      agentName.textContent = "";
      agentLine.hidden = true;
    }
    noteConversation(frame.conversation_id);
    if (frame.status !== "resolved") delete rated[frame.conversation_id];
    if (frame.conversation_id === currentConversation) {
      if (frame.status === "resolved") {
        csatConversation = frame.conversation_id;
        csatScore = 0;
        csatButtons.forEach((b) => b.setAttribute("aria-pressed", "false"));
        csatSubmit.disabled = true;
        csatComment.value = "";
        agentAssigned = false;
        agentLine.hidden = true;
      } else {
        csatConversation = null;
      }
    }
    renderCsat();
  }

  function onAgent(frame) {
    noteConversation(frame.conversation_id);
    if (frame.conversation_id !== currentConversation) return;
    agentAssigned = Boolean(frame.name);
    agentName.textContent = frame.name || "";
    agentLine.hidden = !frame.name;
    renderQueue();
  }

  function onError(frame) {
    const retry = frame.retry_after || 0;
    if (frame.code === "rate_limited") {
      showNotice(t("rate_limited", { seconds: retry || 60 }));
      clearTimeout(retryTimer);
      retryTimer = setTimeout(resendPending, (retry || 60) * 1000);
    } else if (frame.code === "too_long") {
      showNotice(t("too_long", { limit: frame.limit || limits.max_message_chars }));
      failPending(frame.client_id);
    } else if (frame.code === "origin_refused") {
      showNotice(t("origin_refused"));
    } else if (frame.code === "unknown_account") {
      showNotice(t("unavailable"));
    } else if (frame.code === "refused") {
      showNotice(t("refused", { reason: frame.reason || "" }));
      failPending(frame.client_id);
    }
  }

  function failPending(clientId) {
    if (!clientId) return;
    const item = findMessage({ client_id: clientId });
    if (item) setReceipt(item, "failed");
    forgetPending(clientId);
  }

  function onFrame(frame) {
    if (typeof frame.seq === "number") lastSeq = Math.max(lastSeq || 0, frame.seq);
    switch (frame.type) {
      case "hello":
        token = frame.token;
        store("token", token);
        limits = { max_message_chars: frame.max_message_chars, max_attachment_bytes: frame.max_attachment_bytes };
        host.dataset.state = "open";
        retryDelay = 1000;
        showNotice("");
        prechat.hidden = !frame.prechat;
        composer.hidden = Boolean(frame.prechat);
        if (VERIFIED_EMAIL && EMAIL_HASH && !identifySent) {
          identifySent = true;
          send({ type: "identify", email: VERIFIED_EMAIL, email_hash: EMAIL_HASH, name: script.dataset.name || "" });
        }
        resendPending();
        break;
      case "message": onMessage(frame); break;
      case "ack": {
        const item = findMessage({ client_id: frame.client_id });
        if (item) {
          item.dataset.messageId = String(frame.message_id);
          item.dataset.conversationId = String(frame.conversation_id);
          setReceipt(item, "sent");
        }
        noteConversation(frame.conversation_id);
        forgetPending(frame.client_id);
        break;
      }
      case "status": break; // the agent's messages: nothing to show the visitor
      case "seen": onSeen(frame); break;
      case "agent": onAgent(frame); break;
      case "conversation": onConversation(frame); break;
      case "rated":
        rated[frame.conversation_id] = frame.score;
        renderCsat();
        break;
      case "queue":
        queueState = frame;
        if (frame.state === "assigned") agentAssigned = true;
        renderQueue();
        break;
      case "typing":
        typingName = frame.typing ? (frame.name || t("someone")) : "";
        renderTyping();
        clearTimeout(typingTimer);
        if (typingName) typingTimer = setTimeout(() => { typingName = ""; renderTyping(); }, 8000);
        break;
      case "identified":
        prechat.hidden = true;
        composer.hidden = false;
        break;
      case "left":
        leave.dataset.done = "1";
        leave.hidden = true;
        leaveText.value = "";
        showNotice(t(frame.channel === "email" ? "leave_sent_email" : "leave_sent_chat"));
        break;
      case "error": onError(frame); break;
      default: break;
    }
  }

  // --- the connection ---------------------------------------------------------------------------------------

  function connect() {
    if (stopped) return;
    host.dataset.state = "connecting";
    const url = new URL("/ws/chat/", HUB);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("account", ACCOUNT);
    if (token) url.searchParams.set("token", token);
    if (token && lastSeq !== null) url.searchParams.set("last_seq", String(lastSeq));
    const socket = new WebSocket(url.toString());
    ws = socket;
    socket.addEventListener("message", (event) => {
      let frame = null;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") onFrame(frame);
    });
    socket.addEventListener("open", () => {
      clearInterval(pingTimer);
      pingTimer = setInterval(() => send({ type: "ping" }), 25000);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(pingTimer);
      if (ws !== socket) return;
      ws = null;
      host.dataset.state = "closed";
      if (event.code === 4403 || event.code === 4404) {
        stopped = true; // refused for good: the notice (from the error frame) says why
        if (event.code === 4403) showNotice(t("origin_refused"));
        else showNotice(t("unavailable"));
        return;
      }
      if (event.code === 4401) {
        // The token is not valid here (another hub, a changed secret): start again as a new visitor.
        token = "";
        lastSeq = null;
        store("token", null);
        list.replaceChildren();
        setTimeout(connect, 100);
        return;
      }
      showNotice(t("reconnecting"));
      const delay = event.code === 4429 ? 60000 : retryDelay * (0.75 + Math.random() / 2);
      retryDelay = Math.min(retryDelay * 2, 30000);
      setTimeout(connect, delay);
    });
  }

  function setOpen(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", String(open));
    store("open", open ? 1 : 0);
    if (open) {
      scrollDown();
      sendReceipt();
      input.focus();
    }
  }
  bubble.addEventListener("click", () => setOpen(panel.hidden));
  closeButton.addEventListener("click", () => setOpen(false));
  langButton.addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    store("lang", lang);
    relabel();
  });
  document.addEventListener("visibilitychange", () => { if (!panel.hidden) sendReceipt(); });

  if (load("open", 0)) setOpen(true);
  connect();

  function styles() {
    return `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; }
[hidden] { display: none !important; }
.bubble { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%; border: none;
  background: #2563eb; color: #fff; font-size: 26px; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); z-index: 2147483000; }
.panel { position: fixed; right: 20px; bottom: 88px; width: 360px; max-width: calc(100vw - 40px); height: 520px;
  max-height: calc(100vh - 110px); display: flex; flex-direction: column; background: #fff; color: #111827;
  border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.25); overflow: hidden; z-index: 2147483000; font-size: 14px; }
header { display: flex; align-items: center; gap: 8px; padding: 10px 12px; background: #2563eb; color: #fff; }
.title-block { flex: 1; min-width: 0; }
h2 { margin: 0; font-size: 16px; }
.agent-line { font-size: 12px; opacity: .9; }
header button { background: transparent; color: #fff; border: 1px solid rgba(255,255,255,.5); border-radius: 6px;
  cursor: pointer; padding: 2px 8px; font-size: 13px; }
header .close { font-size: 18px; border: none; }
.notice { padding: 6px 12px; background: #fef3c7; color: #92400e; font-size: 13px; }
.body { flex: 1; overflow-y: auto; padding: 10px 12px; }
.queue { padding: 8px; margin-bottom: 8px; background: #eff6ff; border-radius: 8px; font-size: 13px; }
.messages { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.message { max-width: 80%; padding: 6px 10px; border-radius: 10px; white-space: pre-wrap; overflow-wrap: anywhere; }
.message.visitor { align-self: flex-end; background: #2563eb; color: #fff; }
.message.agent { align-self: flex-start; background: #f3f4f6; }
.message.system { align-self: center; background: #fff; color: #6b7280; font-size: 12px; }
.message .who { font-size: 11px; color: #6b7280; }
.message .who:empty { display: none; }
.message .files img { max-width: 100%; max-height: 180px; border-radius: 6px; display: block; margin-top: 4px; }
.message .file { display: block; color: inherit; margin-top: 4px; }
.receipt { display: block; text-align: right; font-size: 10px; opacity: .8; }
.typing { font-size: 12px; color: #6b7280; padding: 4px 0; }
.csat, .prechat, .leave { border: 1px solid #e5e7eb; border-radius: 8px; padding: 8px; margin-top: 8px; display: flex;
  flex-direction: column; gap: 6px; }
.csat p, .prechat p, .leave p { margin: 0; }
label { display: flex; flex-direction: column; font-size: 12px; gap: 2px; }
input, textarea { font: inherit; padding: 6px; border: 1px solid #d1d5db; border-radius: 6px; width: 100%; }
button { font: inherit; }
.prechat button, .leave button, .csat button[type=submit], .composer button { background: #2563eb; color: #fff;
  border: none; border-radius: 6px; padding: 6px 10px; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
.scores { display: flex; gap: 4px; flex-wrap: wrap; }
.score { background: #fff; border: 1px solid #d1d5db; border-radius: 6px; padding: 2px 6px; color: #f59e0b; cursor: pointer; }
.score[aria-pressed=true] { background: #fef3c7; border-color: #f59e0b; }
.thanks { color: #047857; }
.composer { display: flex; gap: 6px; align-items: flex-end; padding: 8px; border-top: 1px solid #e5e7eb; }
.composer textarea { flex: 1; resize: none; }
.attach { cursor: pointer; font-size: 20px; position: relative; overflow: hidden; }
.attach input { position: absolute; inset: 0; opacity: 0; cursor: pointer; width: 100%; }
`;
  }
})();
