/** An error answered by the REST API (SAPI): `{code, message, field}`. */
export declare class ApiError extends Error {
    /** The HTTP status (0 when the server could not be reached). */
    readonly status: number;
    /** The request field that was wrong, when the server named one. */
    readonly field: string;
    /** The OAuth2 error (`invalid_grant` ...) of a refused login. */
    readonly oauthError: string;
    name: string;
    constructor(
    /** The HTTP status (0 when the server could not be reached). */
    status: number, message: string, 
    /** The request field that was wrong, when the server named one. */
    field?: string, 
    /** The OAuth2 error (`invalid_grant` ...) of a refused login. */
    oauthError?: string);
}
/**
 * A signaling request that failed: the server's cancel (a SIP code such as
 * 403, 404, 486 or 603), a timeout (408, `timedOut`), or a lost connection
 * (code 0).
 */
export declare class SignalingError extends Error {
    /** The request (or answer) that failed, e.g. `joinRoom`. */
    readonly request: string;
    /** The SIP code the server gave, 408 for a local timeout, 0 for a lost connection. */
    readonly code: number;
    /** True when no answer came in time. */
    readonly timedOut: boolean;
    name: string;
    constructor(
    /** The request (or answer) that failed, e.g. `joinRoom`. */
    request: string, 
    /** The SIP code the server gave, 408 for a local timeout, 0 for a lost connection. */
    code: number, message: string, 
    /** True when no answer came in time. */
    timedOut?: boolean);
}
/** Why media could not be captured or sent. */
export type MediaErrorReason = 'no-device' | 'permission-denied' | 'device-in-use' | 'unsupported' | 'media-server' | 'connection-failed';
/** A failure of the media path: capture (getUserMedia) or the media server. */
export declare class MediaError extends Error {
    readonly reason: MediaErrorReason;
    /** The Janus or VideoRoom error code, for `media-server` errors. */
    readonly code: number;
    name: string;
    constructor(reason: MediaErrorReason, message: string, 
    /** The Janus or VideoRoom error code, for `media-server` errors. */
    code?: number);
}
