import { defined, Emitter } from './emitter';
import { MediaError } from './errors';
import { browserWebSocket, type WebSocketFactory, type WebSocketLike } from './signaling';

/** A message of the Janus API. */
export interface JanusMessage {
  janus: string;
  transaction?: string;
  session_id?: number;
  sender?: number;
  data?: { id?: number };
  plugindata?: { plugin: string; data: PluginData };
  jsep?: RTCSessionDescriptionInit;
  error?: { code: number; reason: string };
  reason?: string;
  [field: string]: unknown;
}

/** The data of a VideoRoom answer or event. */
export interface PluginData {
  videoroom?: string;
  error_code?: number;
  error?: string;
  [field: string]: unknown;
}

/** A plugin's answer to a message: its data, and the JSEP that came with it. */
export interface PluginAnswer {
  data: PluginData;
  jsep?: RTCSessionDescriptionInit;
}

export type JanusConnectionEvents = {
  /** The connection or its session ended (the WebSocket closed, or the session timed out). */
  closed: [reason: string];
};

export type JanusHandleEvents = {
  /** A plugin event not answering a request of ours (publishers, unpublished, updated ...). */
  event: [data: PluginData, jsep: RTCSessionDescriptionInit | undefined];
  /** The handle's PeerConnection is up on the server. */
  webrtcup: [];
  /** The server's PeerConnection of this handle went down. */
  hangup: [reason: string];
};

export interface JanusOptions {
  /** The Janus WebSocket URL (a room object's server.wss). */
  url: string;
  /** The room grant, sent as the core-level token of every message. */
  token: string;
  /** Milliseconds between keepalives (default 25000). */
  keepAlive?: number;
  /** Milliseconds a request waits for its answer (default 15000). */
  timeout?: number;
  webSocket?: WebSocketFactory;
}

interface Waiter {
  resolve: (m: JanusMessage) => void;
  reject: (e: Error) => void;
  /** Plugin messages are acked first, then answered by an event. */
  waitEvent: boolean;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * A Janus session over the WebSocket transport (subprotocol
 * janus-protocol): transactions, keepalives, and handles of the VideoRoom
 * plugin.
 */
export class JanusConnection extends Emitter<JanusConnectionEvents> {
  private ws: WebSocketLike | null = null;
  private sessionId = 0;
  private waiters = new Map<string, Waiter>();
  private handles = new Map<number, JanusHandle>();
  private keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  private seq = 0;
  private closed = false;
  private readonly opts: Required<JanusOptions>;

  private constructor(options: JanusOptions) {
    super();
    this.opts = { keepAlive: 25000, timeout: 15000, webSocket: browserWebSocket, ...defined(options), url: options.url, token: options.token };
  }

  /** Connects and creates a Janus session. */
  static async connect(options: JanusOptions): Promise<JanusConnection> {
    const c = new JanusConnection(options);
    await c.open();
    return c;
  }

  /** Attaches a handle of the VideoRoom plugin. */
  async attach(): Promise<JanusHandle> {
    const m = await this.transact({ janus: 'attach', plugin: 'janus.plugin.videoroom' }, false);
    const id = m.data?.id;
    if (!id) throw new MediaError('media-server', 'the media server gave no handle id');
    const h = new JanusHandle(this, id);
    this.handles.set(id, h);
    return h;
  }

  /** Ends the session and closes the connection. */
  close(): void {
    if (this.closed) return;
    if (this.ws && this.sessionId) this.raw({ janus: 'destroy' });
    this.shutdown('closed by the app');
  }

  /** @internal */
  forget(handle: number): void {
    this.handles.delete(handle);
  }

  /** @internal Sends a message and waits for its answer. */
  transact(msg: Omit<JanusMessage, 'transaction'> & Record<string, unknown>, waitEvent: boolean): Promise<JanusMessage> {
    if (this.closed || !this.ws) {
      return Promise.reject(new MediaError('media-server', 'the media server connection is closed'));
    }
    const transaction = `t${++this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(transaction);
        reject(new MediaError('media-server', `the media server did not answer ${String(msg.janus)} in time`));
      }, this.opts.timeout);
      this.waiters.set(transaction, { resolve, reject, waitEvent, timer });
      this.raw({ ...msg, transaction });
    });
  }

  private raw(msg: Record<string, unknown>): void {
    const full: Record<string, unknown> = { ...msg, token: this.opts.token };
    if (this.sessionId) full.session_id = this.sessionId;
    this.ws?.send(JSON.stringify(full));
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = this.opts.webSocket(this.opts.url, 'janus-protocol');
      this.ws = ws;
      let opened = false;
      ws.onerror = () => {
        // The close event follows.
      };
      ws.onclose = () => {
        if (!opened) reject(new MediaError('media-server', `the media server cannot be reached at ${this.opts.url}`));
        this.shutdown('the media server connection was lost');
      };
      ws.onmessage = (ev) => this.receive(ev.data);
      ws.onopen = () => {
        opened = true;
        this.transact({ janus: 'create' }, false).then((m) => {
          this.sessionId = m.data?.id ?? 0;
          this.keepAliveTimer = setInterval(() => {
            this.transact({ janus: 'keepalive' }, false).catch(() => {
              // A dead connection is noticed by its close event.
            });
          }, this.opts.keepAlive);
          resolve();
        }, (err: Error) => {
          this.shutdown(err.message);
          reject(err);
        });
      };
    });
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let m: JanusMessage;
    try {
      m = JSON.parse(data) as JanusMessage;
    } catch {
      return;
    }
    const w = m.transaction ? this.waiters.get(m.transaction) : undefined;
    if (w) {
      if (m.janus === 'ack' && w.waitEvent) return;
      this.waiters.delete(m.transaction as string);
      clearTimeout(w.timer);
      const pd = m.plugindata?.data;
      if (m.janus === 'error') {
        w.reject(new MediaError('media-server', `media server: ${m.error?.reason ?? 'error'}`, m.error?.code ?? 0));
      } else if (pd?.error_code) {
        w.reject(new MediaError('media-server', `media server: ${pd.error ?? 'error'}`, pd.error_code));
      } else {
        w.resolve(m);
      }
      return;
    }
    if (m.janus === 'timeout') {
      this.shutdown('the media session timed out');
      return;
    }
    const h = m.sender !== undefined ? this.handles.get(m.sender) : undefined;
    h?.deliver(m);
  }

  private shutdown(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepAliveTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close();
    }
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(new MediaError('media-server', reason));
    }
    this.waiters.clear();
    this.handles.clear();
    this.emit('closed', reason);
  }
}

/** A handle of the VideoRoom plugin: one PeerConnection on the server. */
export class JanusHandle extends Emitter<JanusHandleEvents> {
  constructor(
    private readonly conn: JanusConnection,
    readonly id: number,
  ) {
    super();
  }

  /** Sends a plugin request (with a JSEP offer or answer) and waits for the plugin's answer. */
  async request(body: Record<string, unknown>, jsep?: RTCSessionDescriptionInit): Promise<PluginAnswer> {
    const msg: Record<string, unknown> & { janus: string } = { janus: 'message', handle_id: this.id, body };
    if (jsep) msg.jsep = { type: jsep.type, sdp: jsep.sdp };
    const m = await this.conn.transact(msg, true);
    return { data: m.plugindata?.data ?? {}, jsep: m.jsep };
  }

  /** Trickles one local ICE candidate, or null when gathering completed. */
  trickle(candidate: RTCIceCandidateInit | null): void {
    const body = candidate
      ? { candidate: { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } }
      : { candidate: { completed: true } };
    this.conn.transact({ janus: 'trickle', handle_id: this.id, ...body }, false).catch(() => {
      // A lost candidate shows as a connection that does not come up.
    });
  }

  /** Detaches the handle (its PeerConnection on the server ends). */
  detach(): void {
    this.conn.forget(this.id);
    this.conn.transact({ janus: 'detach', handle_id: this.id }, false).catch(() => {
      // The session may be gone already.
    });
    this.removeAllListeners();
  }

  /** @internal */
  deliver(m: JanusMessage): void {
    switch (m.janus) {
      case 'event':
        this.emit('event', m.plugindata?.data ?? {}, m.jsep);
        break;
      case 'webrtcup':
        this.emit('webrtcup');
        break;
      case 'hangup':
        this.emit('hangup', m.reason ?? 'hangup');
        break;
      default:
        break;
    }
  }
}
