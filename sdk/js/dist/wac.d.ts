import { Api, type FetchFn } from './api';
import { Conference } from './conference';
import { type CaptureOptions } from './devices';
import { Emitter } from './emitter';
import { IncomingInvitation, IncomingInviteRequest, type OutgoingInvitation } from './invitations';
import { type ConferenceMedia, type MediaIdentity } from './media';
import { Signaling, type ConnectionState, type DeviceContext, type WebSocketFactory } from './signaling';
import type { RoomObject, SessionInfo, Tokens } from './types';
export interface WacOptions {
    /** The server's base URL, e.g. `http://127.0.0.1:8000` (default: the page's origin). */
    server?: string;
    /** The device context the server keeps with the session. */
    device?: DeviceContext;
    /** Milliseconds a signaling request waits for its answer (default 10000). */
    requestTimeout?: number;
    fetch?: FetchFn;
    webSocket?: WebSocketFactory;
    /** Makes the media of a conference (tests replace it). */
    createMedia?: (room: RoomObject, me: MediaIdentity, usernameOf: (user: string) => string) => ConferenceMedia;
}
/** An incoming attended transfer: we are moved into another room. */
export interface AttendedTransferRequest {
    /** The room we are in now. */
    previousRoom: string;
    /** The room to move to, with our grant. */
    room: RoomObject;
    from: string;
    /** Takes the transfer: leaves the previous conference and joins the new room. */
    accept(media?: CaptureOptions | MediaStream): Promise<Conference>;
}
export type WacEvents = {
    /** The signaling connection changed state (connecting, connected, reconnecting, closed). */
    connection: [ConnectionState];
    /** An incoming call. */
    invitation: [IncomingInvitation];
    /** Someone asks us to invite them (an anonymous visitor of a personal link). */
    inviteRequest: [IncomingInviteRequest];
    /** Someone transfers us into another room. */
    attendedTransfer: [AttendedTransferRequest];
    /** A conference was started or joined. */
    conference: [Conference];
    /** The session ended for good (ended by an admin, a login elsewhere, or lost). */
    sessionEnded: [reason: string];
    /** The login ended (logout, or the tokens could not be refreshed). */
    loggedOut: [reason: string];
};
/** A call we placed: its conference and the invitation that rings the callee. */
export interface OutgoingCall {
    conference: Conference;
    invitation: OutgoingInvitation;
}
/**
 * The OpenWAC client: a login (REST API), its signaling session, and the
 * calls and conferences made through it.
 *
 * ```ts
 * const wac = await Wac.login('alice@quobis', 'secret', { server: 'http://127.0.0.1:8000' });
 * await wac.connect();
 * wac.on('invitation', (inv) => inv.accept({ audio: true, video: true }));
 * const { conference, invitation } = await wac.call('bob', { audio: true, video: true });
 * ```
 */
export declare class Wac extends Emitter<WacEvents> {
    readonly api: Api;
    readonly signaling: Signaling;
    private conferences;
    private incoming;
    private readonly host;
    constructor(options?: WacOptions);
    /** Logs in with a password (`user@domain`). */
    static login(username: string, password: string, options?: WacOptions): Promise<Wac>;
    /** Logs in as an anonymous visitor of a domain that allows it. */
    static loginAnonymous(domain: string, options?: WacOptions): Promise<Wac>;
    /** Tokens to keep for {@link Api.restore} (e.g. in sessionStorage). */
    get tokens(): Tokens | null;
    /** This session (device), once connected. */
    get session(): SessionInfo | null;
    /** The conferences we are in. */
    get activeConferences(): Conference[];
    /** Opens the signaling session. */
    connect(): Promise<SessionInfo>;
    /** Leaves every conference and closes the signaling session. */
    disconnect(): Promise<void>;
    /** Disconnects and ends the login on the server. */
    logout(): Promise<void>;
    /** Creates a room and returns its conference (not joined yet). */
    createConference(options?: {
        acl?: string[];
        record?: boolean;
    }): Promise<Conference>;
    /** A conference for a room we are allowed into (join it with {@link Conference.join}). */
    getConference(room: string): Promise<Conference>;
    /**
     * Calls someone: creates a room, joins it with the media asked, and
     * invites `to` into it. The invitation tells how the call went.
     */
    call(to: string, media?: CaptureOptions, context?: Record<string, unknown>): Promise<OutgoingCall>;
    /** Joins (creating it if needed) the quick conference of a URI such as `wac-conf12345678901234567890`. */
    quickConference(conferenceUri: string, media?: CaptureOptions | MediaStream): Promise<Conference>;
    /**
     * Joins the room of a meeting (`wac-meeting:<id>` or the id) inside its
     * window; the first to come creates it.
     */
    joinMeeting(meeting: string, media?: CaptureOptions | MediaStream): Promise<Conference>;
    /** A new quick conference URI (`wac-conf` and 20 random digits). */
    static newConferenceUri(): string;
    /**
     * Asks a user to invite us into one of their rooms (the anonymous
     * visitor's call); resolves with the joined conference once they accept.
     */
    inviteRequest(to: string, media?: CaptureOptions, context?: Record<string, unknown>): Promise<Conference>;
    /** Accepts an incoming invitation on this device and joins its room. */
    accept(invitation: IncomingInvitation, media?: CaptureOptions | MediaStream): Promise<Conference>;
    /** Accepts an inviteRequest: creates a room, joins it, and lets the requester in. */
    acceptInviteRequest(request: IncomingInviteRequest, media?: CaptureOptions | MediaStream): Promise<Conference>;
    private adopt;
    private identity;
    private onEvent;
    private onRequest;
    private track;
    private sessionLost;
}
