import { defined, Emitter } from './emitter';
import { SignalingError } from './errors';
import type { SessionInfo } from './types';

/** One frame of the signaling protocol (see docs/protocol.md). */
export interface Frame {
  request?: string;
  answer?: string;
  cancel?: string;
  requestID?: string;
  type?: string;
  error?: number;
  message?: string;
  payload?: unknown;
  [field: string]: unknown;
}

/** The part of the WebSocket API the clients use; tests pass fakes. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Makes a WebSocket (the browser's by default). */
export type WebSocketFactory = (url: string, protocol?: string) => WebSocketLike;

export const browserWebSocket: WebSocketFactory = (url, protocol) =>
  new WebSocket(url, protocol) as unknown as WebSocketLike;

/** The state of the signaling connection. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export type SignalingEvents = {
  /** The connection changed state. */
  state: [ConnectionState];
  /** A connection (or reconnection) was made: `resumed` tells whether the earlier session went on. */
  session: [SessionInfo];
  /** A server event, by name. */
  event: [name: string, payload: unknown];
  /** A request of the server: invitation, inviteRequest, transferring-attended-transfer. */
  request: [Frame];
  /** The server cancelled one of its requests, or refused our answer to it. */
  requestCancelled: [Frame];
  /** The session ended for good: ended by the server, or it could not be resumed. */
  ended: [reason: string];
};

/** The device context the server keeps with a session. */
export interface DeviceContext {
  platform?: string;
  deviceId?: string;
  pushToken?: string;
  language?: string;
  location?: string;
}

export interface SignalingOptions {
  /** The QSS WebSocket URL, e.g. `ws://127.0.0.1:8000/qss`. */
  url: string;
  /** Gives a valid access token for each (re)connection. */
  token: () => Promise<string>;
  device?: DeviceContext;
  /** Milliseconds a request waits for its answer (default 10000). */
  requestTimeout?: number;
  /** Milliseconds a connection attempt may take (default 10000). */
  connectTimeout?: number;
  /** Waits between reconnection attempts, in ms; the last repeats (default 500, 1000, 2000, 4000, 8000). */
  reconnectDelays?: number[];
  webSocket?: WebSocketFactory;
}

interface Pending {
  name: string;
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** A request started with {@link Signaling.start}: its id, and its outcome. */
export interface StartedRequest {
  requestID: string;
  /** Resolves with the answer; rejects with a {@link SignalingError} on a cancel or an answer with an error code. */
  done: Promise<Frame>;
}

const CLOSED_BY_SERVER = 4001;

/**
 * The signaling WebSocket (QSS): requests with timeouts, the server's
 * events and requests, and reconnection that resumes the session.
 */
export class Signaling extends Emitter<SignalingEvents> {
  private ws: WebSocketLike | null = null;
  private readonly opts: Required<Omit<SignalingOptions, 'device'>> & { device: DeviceContext };
  private pending = new Map<string, Pending>();
  private outbox: string[] = [];
  private seq = 0;
  private readonly prefix = Math.random().toString(36).slice(2, 8);
  private info: SessionInfo | null = null;
  private current: ConnectionState = 'closed';
  private stopped = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private endedReason = '';

  constructor(options: SignalingOptions) {
    super();
    this.opts = {
      requestTimeout: 10000,
      connectTimeout: 10000,
      reconnectDelays: [500, 1000, 2000, 4000, 8000],
      webSocket: browserWebSocket,
      device: {},
      ...defined(options),
      url: options.url,
      token: options.token,
    };
  }

  /** The session (device) this connection is, once connected. */
  get session(): SessionInfo | null {
    return this.info;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** Opens the connection and waits for the server's session event. */
  async connect(): Promise<SessionInfo> {
    this.stopped = false;
    this.endedReason = '';
    this.setState('connecting');
    try {
      return await this.open();
    } catch (err) {
      this.setState('closed');
      throw err;
    }
  }

  /**
   * Closes the connection with close code 1000: the server ends the session
   * at once (it leaves its rooms as a hang-up) rather than keeping it for a
   * resume. Call it when the app is done, e.g. when its page goes away.
   */
  close(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(1000, 'bye');
    }
    this.failAll(new SignalingError('connection', 0, 'the connection was closed'));
    this.setState('closed');
  }

  /** Sends a request and waits for its answer (at most `timeoutMs`). */
  request(name: string, payload?: object, extra?: object, timeoutMs = this.opts.requestTimeout): Promise<Frame> {
    return this.startWith(name, payload, extra, timeoutMs).done;
  }

  /** Sends a request answered much later (an invitation): no timeout. */
  start(name: string, payload?: object, extra?: object): StartedRequest {
    return this.startWith(name, payload, extra, 0);
  }

  /** Cancels one of our own requests that is still pending (a ringing invitation). */
  cancelRequest(name: string, requestID: string): void {
    this.send({ cancel: name, requestID });
  }

  /** Answers a request of the server positively. */
  answer(request: Frame, payload?: object): void {
    const f: Frame = { answer: request.request, requestID: request.requestID };
    if (payload) f.payload = payload;
    this.send(f);
  }

  /** Refuses a request of the server with a SIP code (603 declined, 486 busy). */
  decline(request: Frame, code: number): void {
    this.send({ cancel: request.request, requestID: request.requestID, error: code });
  }

  private startWith(name: string, payload: object | undefined, extra: object | undefined, timeoutMs: number): StartedRequest {
    const requestID = `js-${this.prefix}-${++this.seq}`;
    const frame: Frame = { request: name, requestID, ...extra };
    if (payload) frame.payload = payload;
    const done = new Promise<Frame>((resolve, reject) => {
      const p: Pending = { name, resolve, reject };
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(requestID);
          reject(new SignalingError(name, 408, `no answer to ${name} within ${timeoutMs / 1000} s`, true));
        }, timeoutMs);
      }
      this.pending.set(requestID, p);
    });
    this.send(frame);
    return { requestID, done };
  }

  private send(frame: Frame): void {
    const text = JSON.stringify(frame);
    if (this.ws && this.current === 'connected') this.ws.send(text);
    else this.outbox.push(text);
  }

  private async url(): Promise<string> {
    const q = new URLSearchParams();
    q.set('token', await this.opts.token());
    if (this.info) q.set('session', this.info.session);
    for (const [k, v] of Object.entries(this.opts.device)) if (v) q.set(k, v);
    return `${this.opts.url}?${q}`;
  }

  /** Opens one WebSocket and resolves with the session event. */
  private async open(): Promise<SessionInfo> {
    const url = await this.url();
    return new Promise<SessionInfo>((resolve, reject) => {
      const ws = this.opts.webSocket(url);
      this.ws = ws;
      let settled = false;
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.onclose = null;
        ws.onmessage = null;
        ws.close();
        if (this.ws === ws) this.ws = null;
        reject(new SignalingError('connection', 0, message));
      };
      const timer = setTimeout(() => fail('the signaling server did not answer in time'), this.opts.connectTimeout);
      ws.onerror = () => {
        // The close event that follows says more.
      };
      ws.onclose = (ev) => {
        if (ev.code === CLOSED_BY_SERVER) this.endedReason = ev.reason || 'the session was ended by the server';
        fail(this.endedReason || 'the signaling server cannot be reached');
      };
      ws.onmessage = (ev) => {
        const f = parse(ev.data);
        if (!f) return;
        const ep = f.type === 'event' ? (f.payload as { eventName?: string; payload?: unknown }) : null;
        if (!settled && ep?.eventName === 'session') {
          settled = true;
          clearTimeout(timer);
          this.onSession(ws, ep.payload as SessionInfo);
          resolve(this.info as SessionInfo);
          return;
        }
        this.dispatch(f);
      };
    });
  }

  private onSession(ws: WebSocketLike, info: SessionInfo): void {
    const previous = this.info;
    this.info = info;
    this.attempt = 0;
    ws.onmessage = (ev) => {
      const f = parse(ev.data);
      if (f) this.dispatch(f);
    };
    ws.onclose = (ev) => this.onClosed(ws, ev.code, ev.reason);
    if (previous && !info.resumed) {
      // A new session: what was pending on the old one is gone.
      this.outbox = [];
      this.failAll(new SignalingError('connection', 0, 'the connection was lost and the session could not be resumed'));
    }
    this.setState('connected');
    const queued = this.outbox;
    this.outbox = [];
    for (const text of queued) ws.send(text);
    this.emit('session', info);
  }

  private onClosed(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.ws = null;
    if (code === CLOSED_BY_SERVER) {
      this.stopped = true;
      this.failAll(new SignalingError('connection', 0, reason || 'the session was ended by the server'));
      this.setState('closed');
      this.emit('ended', reason || 'the session was ended by the server');
      return;
    }
    if (this.stopped) return;
    this.setState('reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const delays = this.opts.reconnectDelays;
    const wait = delays[Math.min(this.attempt, delays.length - 1)] ?? 1000;
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.open().catch((err: unknown) => {
        if (this.stopped) return;
        if (this.endedReason || !(err instanceof SignalingError)) {
          // Ended by the server, or no token could be had (the login ended): give up.
          this.stopped = true;
          const reason = this.endedReason || `the login ended (${(err as Error).message})`;
          this.failAll(new SignalingError('connection', 0, reason));
          this.setState('closed');
          this.emit('ended', reason);
          return;
        }
        this.scheduleReconnect();
      });
    }, wait);
  }

  private dispatch(f: Frame): void {
    if (f.type === 'event') {
      const ep = (f.payload ?? {}) as { eventName?: string; payload?: unknown };
      if (ep.eventName) this.emit('event', ep.eventName, ep.payload ?? {});
      return;
    }
    if (f.request) {
      this.emit('request', f);
      return;
    }
    const p = f.requestID !== undefined ? this.pending.get(f.requestID) : undefined;
    if (!p) {
      if (f.cancel) this.emit('requestCancelled', f);
      return;
    }
    this.pending.delete(f.requestID as string);
    clearTimeout(p.timer);
    if (f.cancel || f.error) {
      p.reject(new SignalingError(p.name, f.error ?? 0, f.message ?? ''));
    } else {
      p.resolve(f);
    }
  }

  private failAll(err: SignalingError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(new SignalingError(p.name, err.code, err.message));
    }
  }

  private setState(state: ConnectionState): void {
    if (state === this.current) return;
    this.current = state;
    this.emit('state', state);
  }
}

function parse(data: unknown): Frame | null {
  if (typeof data !== 'string') return null;
  try {
    const f = JSON.parse(data) as unknown;
    return f && typeof f === 'object' ? (f as Frame) : null;
  } catch {
    return null;
  }
}
