// /ws/agent/ with resume (docs/protocol.md): the last sequence number processed is kept in memory, in
// sessionStorage and on document.body.dataset.lastSeq; a reconnect passes it back as ?last_seq= and gets
// exactly what it missed. Reconnects back off (1 s doubling to 30 s, with jitter); 4401 means signed out.

const STORAGE_KEY = "hub.inbox.lastSeq";
const PING_MS = 25_000;

export class AgentSocket {
  constructor({ onFrame, onState, onSignedOut }) {
    this.onFrame = onFrame;
    this.onState = onState;
    this.onSignedOut = onSignedOut;
    this.lastSeq = null;
    this.ws = null;
    this.delay = 1000;
    this.timer = null;
    this.pinger = null;
    this.stopped = false;
  }

  setSeq(seq) {
    if (typeof seq !== "number") return;
    this.lastSeq = seq;
    document.body.dataset.lastSeq = String(seq);
    try {
      sessionStorage.setItem(STORAGE_KEY, String(seq));
    } catch {
      // storage can be full or disabled; memory is enough for this tab
    }
  }

  connect() {
    clearTimeout(this.timer);
    this.onState("connecting");
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const query = this.lastSeq === null ? "" : `?last_seq=${this.lastSeq}`;
    const ws = new WebSocket(`${scheme}://${window.location.host}/ws/agent/${query}`);
    this.ws = ws;
    ws.addEventListener("message", (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === "hello") {
        this.delay = 1000;
        this.onState("open");
      }
      // The frame is applied before its number is kept: a crash while applying replays it next time.
      this.onFrame(frame);
      if (["hello", "event", "reload", "pong"].includes(frame.type)) this.setSeq(frame.seq);
    });
    ws.addEventListener("open", () => {
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ type: "ping" }), PING_MS);
    });
    ws.addEventListener("close", (event) => {
      clearInterval(this.pinger);
      if (this.ws !== ws) return;
      this.ws = null;
      this.onState("closed");
      if (event.code === 4401) {
        this.onSignedOut();
        return;
      }
      if (this.stopped) return;
      const wait = Math.min(this.delay, 30_000) * (0.75 + Math.random() * 0.5);
      this.delay = Math.min(this.delay * 2, 30_000);
      this.timer = setTimeout(() => this.connect(), wait);
    });
  }

  // Drop the connection now and reconnect at once (the network came back, or a test cut it).
  reconnect() {
    this.delay = 1000;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
      this.onState("closed");
    }
    this.connect();
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }
}
