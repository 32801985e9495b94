// The web app's realtime connection: Socket.IO 5 over Engine.IO 4, on a WebSocket only.
//
// The app needs a small part of socket.io-client (47 KB, 13 KB brotli): connect with the
// session cookie, take events, emit with an ack and a time limit, and reconnect with
// back-off. This is that part, in about 2 KB, so the first load stays small. It speaks the
// same wire protocol as the stock client, to the same `/socket.io/` endpoint; bots, the
// TypeScript client and native apps keep using socket.io-client. A WebSocket from the first
// request also needs no sticky sessions (docs/deploy.md).
//
//   const socket = new ConfabSocket();          // connects at once, like io()
//   socket.on("message:new", (payload) => ...); // also connect, disconnect, connect_error
//   await socket.emitWithAck("message:send", payload, 10000);
//
// Differences from socket.io-client, on purpose:
// - no long-polling fallback, namespaces, binary payloads or server-side ack requests
//   (Confab's API uses none of them);
// - an emit waiting for its ack fails at once when the connection drops (the answer would
//   go to the old connection and never arrive), instead of at its time limit;
// - a refused handshake (`connect_error` from the server) closes the connection; `connect()`
//   opens a new one.
"use strict";

class ConfabSocket {
  constructor(path = "/socket.io/") {
    this.path = path;
    this.connected = false;
    this.handlers = new Map();
    this.ws = null;
    this.wanted = true;
    this.attempts = 0;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.pingDeadline = 45000;
    this.nextId = 0;
    // Emits waiting for their ack, by id, and those waiting for a connection, in order.
    this.acks = new Map();
    this.waiting = [];
    this.open();
  }

  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(handler);
    return this;
  }

  connect() {
    this.wanted = true;
    if (!this.ws) {
      clearTimeout(this.retryTimer);
      this.attempts = 0;
      this.open();
    }
    return this;
  }

  disconnect() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    if (this.ws) {
      if (this.connected) this.ws.send("41");
      this.closed("io client disconnect");
    }
    return this;
  }

  // Emits `event` with `payload` and resolves with the server's ack, or rejects after
  // `timeoutMs`. Sent at once when connected, otherwise as soon as the connection is up.
  emitWithAck(event, payload, timeoutMs) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const frame = "42" + id + JSON.stringify([event, payload]);
      const pending = { id, frame, resolve, reject };
      pending.timer = setTimeout(() => {
        this.acks.delete(id);
        this.waiting = this.waiting.filter((p) => p !== pending);
        reject(new Error("operation has timed out"));
      }, timeoutMs);
      if (this.connected) this.transmit(pending);
      else this.waiting.push(pending);
    });
  }

  // Internals.

  fire(event, value) {
    for (const handler of this.handlers.get(event) || []) {
      try {
        handler(value);
      } catch (error) {
        console.error(error);
      }
    }
  }

  transmit(pending) {
    this.acks.set(pending.id, pending);
    this.ws.send(pending.frame);
  }

  open() {
    const url = new URL(this.path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "EIO=4&transport=websocket";
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onmessage = (event) => this.ws === ws && this.packet(String(event.data));
    ws.onclose = () => this.ws === ws && this.closed(this.connected ? "transport close" : null);
    this.armPing();
  }

  // Ends the current connection. `reason` is what `disconnect` reports; null when the
  // connection never got as far as `connect`, which is then a `connect_error` saying
  // `refusal`. It is tried again unless the app or the server ended it (`wanted` false).
  closed(reason, refusal = "websocket error") {
    const ws = this.ws;
    this.ws = null;
    clearTimeout(this.pingTimer);
    if (ws) {
      ws.onmessage = ws.onclose = null;
      if (ws.readyState <= WebSocket.OPEN) ws.close();
    }
    for (const pending of this.acks.values()) {
      clearTimeout(pending.timer);
      pending.reject(new Error("disconnected"));
    }
    this.acks.clear();
    if (this.connected) {
      this.connected = false;
      this.fire("disconnect", reason || "transport close");
    } else if (reason === null) {
      this.fire("connect_error", { message: refusal });
    }
    if (this.wanted) this.retry();
  }

  // socket.io-client's default back-off: 1 s doubling, each ±50 %, at most 5 s.
  retry() {
    const delay = Math.min(1000 * 2 ** this.attempts * (0.5 + Math.random()), 5000);
    this.attempts += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.wanted && !this.ws && this.open(), delay);
  }

  // The server pings every `pingInterval`; silence past that plus `pingTimeout` means the
  // connection is gone even if the browser has not noticed.
  armPing() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.closed(this.connected ? "ping timeout" : null), this.pingDeadline);
  }

  packet(data) {
    switch (data[0]) {
      case "0": {
        const open = JSON.parse(data.slice(1));
        this.pingDeadline = open.pingInterval + open.pingTimeout;
        this.armPing();
        this.ws.send("40");
        break;
      }
      case "1":
        this.closed(this.connected ? "transport close" : null);
        break;
      case "2":
        this.armPing();
        this.ws.send("3");
        break;
      case "4":
        this.message(data.slice(1));
        break;
    }
  }

  message(data) {
    const type = data[0];
    const body = data.slice(1);
    if (type === "0") {
      // What waited goes out first, then `connect` (as socket.io-client does), so emits made
      // while disconnected keep their place ahead of what the app sends on connecting.
      this.connected = true;
      this.attempts = 0;
      const waiting = this.waiting;
      this.waiting = [];
      for (const pending of waiting) this.transmit(pending);
      this.fire("connect");
    } else if (type === "1") {
      this.wanted = false;
      this.closed("io server disconnect");
    } else if (type === "2" || type === "3") {
      const start = body.indexOf("[");
      const id = body.slice(0, start);
      const args = JSON.parse(body.slice(start));
      if (type === "2") {
        this.fire(args[0], args[1]);
      } else {
        const pending = this.acks.get(Number(id));
        if (pending) {
          this.acks.delete(pending.id);
          clearTimeout(pending.timer);
          pending.resolve(args[0]);
        }
      }
    } else if (type === "4") {
      // The server refused the handshake (its middleware's error): no retry until asked.
      let message = body;
      try {
        message = JSON.parse(body).message;
      } catch {}
      this.wanted = false;
      this.closed(null, message);
    }
  }
}

self.ConfabSocket = ConfabSocket;
