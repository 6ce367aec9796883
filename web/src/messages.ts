// What the user reads when something fails.
import { ApiError, MediaError, SignalingError, type OutgoingState } from '@openwac/sdk';

/** A sentence explaining an error of the SDK (or any other). */
export function describeError(err: unknown): string {
  if (err instanceof MediaError) {
    switch (err.reason) {
      case 'no-device':
        return `${capitalize(err.message)}. Connect one, or call with audio only.`;
      case 'permission-denied':
        return `${capitalize(err.message)}. Allow it in the browser's site settings and try again.`;
      case 'device-in-use':
        return `${capitalize(err.message)}.`;
      case 'connection-failed':
        return 'The media connection failed: a firewall may block it.';
      default:
        return `Media problem: ${err.message}.`;
    }
  }
  if (err instanceof SignalingError) {
    if (err.code === 0) return 'The connection to the server was lost.';
    if (err.timedOut) return 'The server did not answer in time. Check your network and try again.';
    switch (err.code) {
      case 403:
        return 'You are not allowed to do that.';
      case 404:
        return 'It does not exist (any more).';
      case 486:
        // Busy: the room is full, or you are in another call.
        return capitalize(err.message) + '.';
      default:
        return `The server refused: ${err.message} (${err.code}).`;
    }
  }
  if (err instanceof ApiError) {
    if (err.status === 0) return 'The server cannot be reached. Check your network connection.';
    if (err.status === 400 && err.oauthError === 'invalid_grant') return capitalize(err.message) + '.';
    if (err.status === 401) return 'Your login has expired. Please log in again.';
    if (err.status === 403) return 'You are not allowed to do that.';
    if (err.status === 429) return 'Too many attempts. Wait a moment and try again.';
    return capitalize(err.message) + (err.field ? ` (${err.field})` : '') + '.';
  }
  return err instanceof Error ? capitalize(err.message) : String(err);
}

/** What the caller reads about an outgoing invitation. */
export function callStateText(state: OutgoingState, who: string): string {
  switch (state) {
    case 'calling':
      return `Calling ${who}…`;
    case 'ringing':
      return `Ringing ${who}…`;
    case 'accepted':
      return `${who} answered.`;
    case 'declined':
      return `${who} declined the call.`;
    case 'busy':
      return `${who} is busy in another call.`;
    case 'unreachable':
      return `${who} is unreachable: not connected right now.`;
    case 'notFound':
      return `Nobody called "${who}" was found.`;
    case 'forbidden':
      return `${who} does not take calls.`;
    case 'timeout':
      return `${who} did not answer.`;
    case 'cancelled':
      return 'The call was cancelled.';
    default:
      return `The call to ${who} failed.`;
  }
}

function capitalize(s: string): string {
  return s ? s[0]!.toUpperCase() + s.slice(1) : s;
}
