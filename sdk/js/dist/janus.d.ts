import { Emitter } from './emitter';
import { type WebSocketFactory } from './signaling';
/** A message of the Janus API. */
export interface JanusMessage {
    janus: string;
    transaction?: string;
    session_id?: number;
    sender?: number;
    data?: {
        id?: number;
    };
    plugindata?: {
        plugin: string;
        data: PluginData;
    };
    jsep?: RTCSessionDescriptionInit;
    error?: {
        code: number;
        reason: string;
    };
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
/**
 * A Janus session over the WebSocket transport (subprotocol
 * janus-protocol): transactions, keepalives, and handles of the VideoRoom
 * plugin.
 */
export declare class JanusConnection extends Emitter<JanusConnectionEvents> {
    private ws;
    private sessionId;
    private waiters;
    private handles;
    private keepAliveTimer;
    private seq;
    private closed;
    private readonly opts;
    private constructor();
    /** Connects and creates a Janus session. */
    static connect(options: JanusOptions): Promise<JanusConnection>;
    /** Attaches a handle of the VideoRoom plugin. */
    attach(): Promise<JanusHandle>;
    /** Ends the session and closes the connection. */
    close(): void;
    private raw;
    private open;
    private receive;
    private shutdown;
}
/** A handle of the VideoRoom plugin: one PeerConnection on the server. */
export declare class JanusHandle extends Emitter<JanusHandleEvents> {
    private readonly conn;
    readonly id: number;
    constructor(conn: JanusConnection, id: number);
    /** Sends a plugin request (with a JSEP offer or answer) and waits for the plugin's answer. */
    request(body: Record<string, unknown>, jsep?: RTCSessionDescriptionInit): Promise<PluginAnswer>;
    /** Trickles one local ICE candidate, or null when gathering completed. */
    trickle(candidate: RTCIceCandidateInit | null): void;
    /** Detaches the handle (its PeerConnection on the server ends). */
    detach(): void;
}
