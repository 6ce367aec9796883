// Fakes of the browser APIs the SDK uses: a scripted WebSocket and fetch.
import type { WebSocketFactory, WebSocketLike } from '../src/signaling';

type Frame = Record<string, unknown>;

/** A WebSocket whose server side the test plays. */
export class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; ok: (f: Frame) => void }[] = [];
  /** Called for each frame the client sends (to answer it). */
  onSend: ((f: Frame) => void) | null = null;

  constructor(readonly url: string, readonly protocol?: string) {}

  send(data: string): void {
    const f = JSON.parse(data) as Frame;
    this.sent.push(f);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(f)) return true;
      w.ok(f);
      return false;
    });
    this.onSend?.(f);
  }

  /** The code and reason the client closed with (undefined: it did not close). */
  closedWith: { code?: number; reason?: string } | undefined;

  close(code?: number, reason?: string): void {
    if (this.readyState === 3) return;
    this.closedWith = { code, reason };
    this.readyState = 3;
    this.onclose?.({ code: code ?? 1000, reason: reason ?? '' });
  }

  // The server side.

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  deliver(f: Frame): void {
    this.onmessage?.({ data: JSON.stringify(f) });
  }

  /** Drops the connection without a close handshake. */
  drop(code = 1006, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** The next frame the client sends that matches (or one it sent already). */
  next(match: (f: Frame) => boolean): Promise<Frame> {
    const old = this.sent.find(match);
    if (old) {
      this.sent.splice(this.sent.indexOf(old), 1);
      return Promise.resolve(old);
    }
    return new Promise((ok) => this.waiters.push({ match, ok: (f) => {
      this.sent.splice(this.sent.indexOf(f), 1);
      ok(f);
    } }));
  }

  request(name: string): Promise<Frame> {
    return this.next((f) => f.request === name);
  }
}

/** A factory that records the sockets it makes. */
export function socketFactory(): { factory: WebSocketFactory; sockets: FakeSocket[]; nextSocket(): Promise<FakeSocket> } {
  const sockets: FakeSocket[] = [];
  let waiting: ((s: FakeSocket) => void)[] = [];
  return {
    sockets,
    factory: (url, protocol) => {
      const s = new FakeSocket(url, protocol);
      sockets.push(s);
      const w = waiting;
      waiting = [];
      queueMicrotask(() => w.forEach((ok) => ok(s)));
      return s;
    },
    nextSocket(): Promise<FakeSocket> {
      return new Promise((ok) => waiting.push(ok));
    },
  };
}

/** The server's "session" event. */
export function sessionEvent(session: string, resumed = false): Frame {
  return {
    type: 'event',
    payload: { eventName: 'session', payload: { session, user: 'u-alice', username: 'alice', domain: 'quobis', role: 'user', node: 'n1', resumed, removeAfter: 10000 } },
  };
}

export function event(eventName: string, payload: Frame): Frame {
  return { type: 'event', payload: { eventName, payload } };
}

/** A fetch that answers from a handler and records the requests. */
export function fakeFetch(handler: (url: string, init: RequestInit) => { status: number; body: unknown }) {
  const calls: { url: string; method: string; headers: Record<string, string>; body: Record<string, unknown> | undefined }[] = [];
  const fetch = async (url: string, init: RequestInit = {}) => {
    const headers = (init.headers ?? {}) as Record<string, string>;
    calls.push({ url, method: init.method ?? 'GET', headers, body: init.body ? JSON.parse(String(init.body)) : undefined });
    const r = handler(url, init);
    return new Response(r.body === undefined ? null : JSON.stringify(r.body), { status: r.status, headers: { 'Content-Type': 'application/json' } });
  };
  return { fetch, calls };
}
