import { Emitter } from './emitter';
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
    onmessage: ((ev: {
        data: unknown;
    }) => void) | null;
    onclose: ((ev: {
        code: number;
        reason: string;
    }) => void) | null;
    onerror: ((ev: unknown) => void) | null;
    send(data: string): void;
    close(code?: number, reason?: string): void;
}
/** Makes a WebSocket (the browser's by default). */
export type WebSocketFactory = (url: string, protocol?: string) => WebSocketLike;
export declare const browserWebSocket: WebSocketFactory;
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
/** A request started with {@link Signaling.start}: its id, and its outcome. */
export interface StartedRequest {
    requestID: string;
    /** Resolves with the answer; rejects with a {@link SignalingError} on a cancel or an answer with an error code. */
    done: Promise<Frame>;
}
/**
 * The signaling WebSocket (QSS): requests with timeouts, the server's
 * events and requests, and reconnection that resumes the session.
 */
export declare class Signaling extends Emitter<SignalingEvents> {
    private ws;
    private readonly opts;
    private pending;
    private outbox;
    private seq;
    private readonly prefix;
    private info;
    private current;
    private stopped;
    private attempt;
    private retryTimer;
    private endedReason;
    constructor(options: SignalingOptions);
    /** The session (device) this connection is, once connected. */
    get session(): SessionInfo | null;
    get state(): ConnectionState;
    /** Opens the connection and waits for the server's session event. */
    connect(): Promise<SessionInfo>;
    /**
     * Closes the connection with close code 1000: the server ends the session
     * at once (it leaves its rooms as a hang-up) rather than keeping it for a
     * resume. Call it when the app is done, e.g. when its page goes away.
     */
    close(): void;
    /** Sends a request and waits for its answer (at most `timeoutMs`). */
    request(name: string, payload?: object, extra?: object, timeoutMs?: number): Promise<Frame>;
    /** Sends a request answered much later (an invitation): no timeout. */
    start(name: string, payload?: object, extra?: object): StartedRequest;
    /** Cancels one of our own requests that is still pending (a ringing invitation). */
    cancelRequest(name: string, requestID: string): void;
    /** Answers a request of the server positively. */
    answer(request: Frame, payload?: object): void;
    /** Refuses a request of the server with a SIP code (603 declined, 486 busy). */
    decline(request: Frame, code: number): void;
    private startWith;
    private send;
    private url;
    /** Opens one WebSocket and resolves with the session event. */
    private open;
    private onSession;
    private onClosed;
    private scheduleReconnect;
    private dispatch;
    private failAll;
    private setState;
}
