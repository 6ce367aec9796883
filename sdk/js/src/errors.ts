/** An error answered by the REST API (SAPI): `{code, message, field}`. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    /** The HTTP status (0 when the server could not be reached). */
    readonly status: number,
    message: string,
    /** The request field that was wrong, when the server named one. */
    readonly field = '',
    /** The OAuth2 error (`invalid_grant` ...) of a refused login. */
    readonly oauthError = '',
  ) {
    super(message);
  }
}

/**
 * A signaling request that failed: the server's cancel (a SIP code such as
 * 403, 404, 486 or 603), a timeout (408, `timedOut`), or a lost connection
 * (code 0).
 */
export class SignalingError extends Error {
  override name = 'SignalingError';
  constructor(
    /** The request (or answer) that failed, e.g. `joinRoom`. */
    readonly request: string,
    /** The SIP code the server gave, 408 for a local timeout, 0 for a lost connection. */
    readonly code: number,
    message: string,
    /** True when no answer came in time. */
    readonly timedOut = false,
  ) {
    super(message || `${request} failed with ${code}`);
  }
}

/** Why media could not be captured or sent. */
export type MediaErrorReason =
  | 'no-device'
  | 'permission-denied'
  | 'device-in-use'
  | 'unsupported'
  | 'media-server'
  | 'connection-failed';

/** A failure of the media path: capture (getUserMedia) or the media server. */
export class MediaError extends Error {
  override name = 'MediaError';
  constructor(
    readonly reason: MediaErrorReason,
    message: string,
    /** The Janus or VideoRoom error code, for `media-server` errors. */
    readonly code = 0,
  ) {
    super(message);
  }
}
