import { Emitter } from './emitter';
import { SignalingError } from './errors';
import type { Frame, Signaling } from './signaling';
import type { FromDetails, MediaTypes, RoomObject } from './types';

/** The signaling calls invitations make. */
export type InvitationSignaling = Pick<Signaling, 'start' | 'cancelRequest' | 'answer' | 'decline'>;

/**
 * The state of an invitation we sent: `calling` until the server says it
 * rings, then `ringing`, and one of the outcomes.
 */
export type OutgoingState =
  | 'calling'
  | 'ringing'
  | 'accepted'
  | 'declined'
  | 'busy'
  | 'unreachable'
  | 'notFound'
  | 'forbidden'
  | 'timeout'
  | 'cancelled'
  | 'failed';

/** The outcome state of a SIP code in a cancel or a rejection. */
export function outgoingStateOf(code: number): OutgoingState {
  switch (code) {
    case 600:
    case 603:
    case 606:
      return 'declined';
    case 486:
      return 'busy';
    case 480:
      return 'unreachable';
    case 404:
      return 'notFound';
    case 403:
      return 'forbidden';
    case 408:
      return 'timeout';
    case 487:
      return 'cancelled';
    default:
      return 'failed';
  }
}

export type OutgoingInvitationEvents = {
  /** The state changed. */
  state: [OutgoingState];
};

/** An invitation we sent: someone asked to join our room (a call). */
export class OutgoingInvitation extends Emitter<OutgoingInvitationEvents> {
  /** The request id that names the invitation. */
  readonly requestID: string;
  state: OutgoingState = 'calling';
  /** The SIP code of the outcome (0 while ringing, 200 accepted). */
  code = 0;
  /** The server's message about the outcome. */
  message = '';
  /** The user who accepted, and the session (device) that did. */
  acceptedBy = '';
  acceptedSession = '';
  /** Resolves when the invitation is over, whatever the outcome. */
  readonly done: Promise<OutgoingState>;

  constructor(
    private readonly signaling: InvitationSignaling,
    /** Who was invited, as given. */
    readonly to: string,
    room: string,
    readonly mediatypes: MediaTypes,
    context: Record<string, unknown> = {},
  ) {
    super();
    const r = signaling.start('invitation', { room, mediatypes, context: { contextInfo: context } }, { to });
    this.requestID = r.requestID;
    this.done = r.done.then(
      (f) => {
        this.acceptedBy = String(f.whoAccepted ?? f.from ?? '');
        this.acceptedSession = String(f.session ?? '');
        this.finish('accepted', 200, '');
        return this.state;
      },
      (err: unknown) => {
        const e = err instanceof SignalingError ? err : new SignalingError('invitation', 0, String(err));
        this.finish(outgoingStateOf(e.code), e.code, e.message);
        return this.state;
      },
    );
  }

  /** Whether the invitation still rings. */
  get pending(): boolean {
    return this.state === 'calling' || this.state === 'ringing';
  }

  /** Stops ringing the callee (the outcome becomes `cancelled`). */
  cancel(): void {
    if (this.pending) this.signaling.cancelRequest('invitation', this.requestID);
  }

  /** @internal The server's outgoingInvitation event. */
  update(state: string): void {
    if (state === 'ringing' && this.state === 'calling') {
      this.state = 'ringing';
      this.emit('state', this.state);
    }
  }

  private finish(state: OutgoingState, code: number, message: string): void {
    if (!this.pending) return;
    this.state = state;
    this.code = code;
    this.message = message;
    this.emit('state', state);
  }
}

/** How an incoming request stopped: taken here, refused here, or ended elsewhere. */
export type IncomingState =
  | 'ringing'
  | 'accepted'
  | 'declined'
  | 'answeredElsewhere'
  | 'cancelled'
  | 'timeout'
  | 'failed';

export type IncomingEvents = {
  /** It stopped ringing: answered on another device, cancelled by the caller, timed out. */
  ended: [state: IncomingState, code: number, message: string];
};

/** A request of the server addressed to this user: an invitation or an inviteRequest. */
export abstract class IncomingRequest extends Emitter<IncomingEvents> {
  state: IncomingState = 'ringing';
  readonly requestID: string;
  /** The caller's user id. */
  readonly from: string;
  /** `user`, `anonymous` or `transfer`. */
  readonly fromType: string;
  readonly fromDetails: FromDetails;
  readonly mediatypes: MediaTypes;
  readonly context: Record<string, unknown>;

  constructor(
    protected readonly signaling: InvitationSignaling,
    protected readonly frame: Frame,
  ) {
    super();
    this.requestID = String(frame.requestID);
    this.from = String(frame.from ?? '');
    this.fromType = String(frame.fromType ?? 'user');
    this.fromDetails = (frame.fromDetails as FromDetails) ?? { contactName: this.from, displayName: this.from, username: this.from };
    this.mediatypes = (frame.mediatypes as MediaTypes) ?? { audio: true };
    this.context = ((frame.context as { contextInfo?: Record<string, unknown> })?.contextInfo) ?? {};
  }

  /** The caller's name to show. */
  get callerName(): string {
    return this.fromDetails.displayName || this.fromDetails.username || this.from;
  }

  /** Refuses on this device (603 declined, 486 busy); the caller is told only when every device refused. */
  decline(code = 603): void {
    if (this.state !== 'ringing') return;
    this.signaling.decline(this.frame, code);
    this.end('declined', code, '');
  }

  /** @internal The server cancelled its request (or refused our answer). */
  cancelled(f: Frame): void {
    const code = f.error ?? 0;
    if (code === 400) return; // a refused decline code: it still rings
    const state: IncomingState = code === 200 ? 'answeredElsewhere'
      : code === 487 ? 'cancelled' : code === 408 ? 'timeout' : 'failed';
    if (this.state === 'ringing' || (this.state === 'accepted' && code !== 200)) this.end(state, code, f.message ?? '');
  }

  protected end(state: IncomingState, code: number, message: string): void {
    this.state = state;
    this.emit('ended', state, code, message);
  }
}

/** An invitation to join someone's room: an incoming call. */
export class IncomingInvitation extends IncomingRequest {
  /** The room we are invited into, with our own media grant. */
  readonly room: RoomObject;
  /** The group that was called, when the call came through a hunt group. */
  readonly group: string;

  constructor(signaling: InvitationSignaling, frame: Frame) {
    super(signaling, frame);
    this.room = frame.payload as RoomObject;
    this.group = String(frame.group ?? '');
  }

  /** @internal Tells the server this device takes the call; the others stop ringing. */
  markAccepted(): void {
    this.signaling.answer(this.frame);
    this.state = 'accepted';
  }
}

/** Someone (a visitor of a personal link, say) asks to be invited into one of our rooms. */
export class IncomingInviteRequest extends IncomingRequest {
  /** @internal Lets the requester into the room. */
  markAccepted(room: string): void {
    this.signaling.answer(this.frame, { room });
    this.state = 'accepted';
  }
}
