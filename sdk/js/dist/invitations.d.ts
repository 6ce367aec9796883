import { Emitter } from './emitter';
import type { Frame, Signaling } from './signaling';
import type { FromDetails, MediaTypes, RoomObject } from './types';
/** The signaling calls invitations make. */
export type InvitationSignaling = Pick<Signaling, 'start' | 'cancelRequest' | 'answer' | 'decline'>;
/**
 * The state of an invitation we sent: `calling` until the server says it
 * rings, then `ringing`, and one of the outcomes.
 */
export type OutgoingState = 'calling' | 'ringing' | 'accepted' | 'declined' | 'busy' | 'unreachable' | 'notFound' | 'forbidden' | 'timeout' | 'cancelled' | 'failed';
/** The outcome state of a SIP code in a cancel or a rejection. */
export declare function outgoingStateOf(code: number): OutgoingState;
export type OutgoingInvitationEvents = {
    /** The state changed. */
    state: [OutgoingState];
};
/** An invitation we sent: someone asked to join our room (a call). */
export declare class OutgoingInvitation extends Emitter<OutgoingInvitationEvents> {
    private readonly signaling;
    /** Who was invited, as given. */
    readonly to: string;
    readonly mediatypes: MediaTypes;
    /** The request id that names the invitation. */
    readonly requestID: string;
    state: OutgoingState;
    /** The SIP code of the outcome (0 while ringing, 200 accepted). */
    code: number;
    /** The server's message about the outcome. */
    message: string;
    /** The user who accepted, and the session (device) that did. */
    acceptedBy: string;
    acceptedSession: string;
    /** Resolves when the invitation is over, whatever the outcome. */
    readonly done: Promise<OutgoingState>;
    constructor(signaling: InvitationSignaling, 
    /** Who was invited, as given. */
    to: string, room: string, mediatypes: MediaTypes, context?: Record<string, unknown>);
    /** Whether the invitation still rings. */
    get pending(): boolean;
    /** Stops ringing the callee (the outcome becomes `cancelled`). */
    cancel(): void;
    private finish;
}
/** How an incoming request stopped: taken here, refused here, or ended elsewhere. */
export type IncomingState = 'ringing' | 'accepted' | 'declined' | 'answeredElsewhere' | 'cancelled' | 'timeout' | 'failed';
export type IncomingEvents = {
    /** It stopped ringing: answered on another device, cancelled by the caller, timed out. */
    ended: [state: IncomingState, code: number, message: string];
};
/** A request of the server addressed to this user: an invitation or an inviteRequest. */
export declare abstract class IncomingRequest extends Emitter<IncomingEvents> {
    protected readonly signaling: InvitationSignaling;
    protected readonly frame: Frame;
    state: IncomingState;
    readonly requestID: string;
    /** The caller's user id. */
    readonly from: string;
    /** `user`, `anonymous` or `transfer`. */
    readonly fromType: string;
    readonly fromDetails: FromDetails;
    readonly mediatypes: MediaTypes;
    readonly context: Record<string, unknown>;
    constructor(signaling: InvitationSignaling, frame: Frame);
    /** The caller's name to show. */
    get callerName(): string;
    /** Refuses on this device (603 declined, 486 busy); the caller is told only when every device refused. */
    decline(code?: number): void;
    protected end(state: IncomingState, code: number, message: string): void;
}
/** An invitation to join someone's room: an incoming call. */
export declare class IncomingInvitation extends IncomingRequest {
    /** The room we are invited into, with our own media grant. */
    readonly room: RoomObject;
    /** The group that was called, when the call came through a hunt group. */
    readonly group: string;
    constructor(signaling: InvitationSignaling, frame: Frame);
}
/** Someone (a visitor of a personal link, say) asks to be invited into one of our rooms. */
export declare class IncomingInviteRequest extends IncomingRequest {
}
