import { Api, type FetchFn } from './api';
import { Conference, roomOf, type ConferenceHost } from './conference';
import { captureUserMedia, type CaptureOptions } from './devices';
import { Emitter } from './emitter';
import { SignalingError } from './errors';
import { IncomingInvitation, IncomingInviteRequest, type IncomingRequest, type OutgoingInvitation } from './invitations';
import { JanusMedia, type ConferenceMedia, type MediaIdentity } from './media';
import { Signaling, type ConnectionState, type DeviceContext, type Frame, type WebSocketFactory } from './signaling';
import type { MediaTypes, RoomObject, SessionInfo, Tokens } from './types';

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
export class Wac extends Emitter<WacEvents> {
  readonly api: Api;
  readonly signaling: Signaling;
  private conferences = new Map<string, Conference>();
  private incoming = new Map<string, IncomingRequest>();
  private readonly host: ConferenceHost;

  constructor(options: WacOptions = {}) {
    super();
    const server = options.server ?? globalThis.location?.origin ?? '';
    this.api = new Api(server, { fetch: options.fetch });
    this.signaling = new Signaling({
      url: server.replace(/^http/, 'ws') + '/qss',
      token: () => this.api.fresh(),
      device: { platform: 'web', ...options.device },
      requestTimeout: options.requestTimeout,
      webSocket: options.webSocket,
    });
    const createMedia = options.createMedia ?? ((room, me, usernameOf) => new JanusMedia(room, me, usernameOf, options.webSocket));
    this.host = {
      signaling: this.signaling,
      identity: () => this.identity(),
      createMedia: (room, usernameOf) => createMedia(room, this.identity(), usernameOf),
      forget: (c) => {
        if (this.conferences.get(c.id) === c) this.conferences.delete(c.id);
      },
    };
    this.api.on('loggedOut', (reason) => this.emit('loggedOut', reason));
    this.signaling.on('state', (s) => this.emit('connection', s));
    this.signaling.on('event', (name, payload) => this.onEvent(name, payload));
    this.signaling.on('request', (f) => this.onRequest(f));
    this.signaling.on('requestCancelled', (f) => this.incoming.get(String(f.requestID))?.cancelled(f));
    this.signaling.on('session', (info) => {
      if (!info.resumed) this.sessionLost();
    });
    this.signaling.on('ended', (reason) => {
      this.sessionLost();
      this.emit('sessionEnded', reason);
    });
  }

  /** Logs in with a password (`user@domain`). */
  static async login(username: string, password: string, options: WacOptions = {}): Promise<Wac> {
    const wac = new Wac(options);
    await wac.api.login(username, password);
    return wac;
  }

  /** Logs in as an anonymous visitor of a domain that allows it. */
  static async loginAnonymous(domain: string, options: WacOptions = {}): Promise<Wac> {
    const wac = new Wac(options);
    await wac.api.loginAnonymous(domain);
    return wac;
  }

  /** Tokens to keep for {@link Api.restore} (e.g. in sessionStorage). */
  get tokens(): Tokens | null {
    return this.api.tokens;
  }

  /** This session (device), once connected. */
  get session(): SessionInfo | null {
    return this.signaling.session;
  }

  /** The conferences we are in. */
  get activeConferences(): Conference[] {
    return [...this.conferences.values()];
  }

  /** Opens the signaling session. */
  connect(): Promise<SessionInfo> {
    return this.signaling.connect();
  }

  /** Leaves every conference and closes the signaling session. */
  async disconnect(): Promise<void> {
    await Promise.allSettled(this.activeConferences.map((c) => c.leave()));
    this.signaling.close();
  }

  /** Disconnects and ends the login on the server. */
  async logout(): Promise<void> {
    await this.disconnect();
    await this.api.logout();
  }

  /** Creates a room and returns its conference (not joined yet). */
  async createConference(options: { acl?: string[]; record?: boolean } = {}): Promise<Conference> {
    const f = await this.signaling.request('createRoom', options);
    return this.adopt(new Conference(this.host, f.payload as RoomObject));
  }

  /** A conference for a room we are allowed into (join it with {@link Conference.join}). */
  async getConference(room: string): Promise<Conference> {
    const f = await this.signaling.request('getRoom', { room });
    return this.adopt(new Conference(this.host, f.payload as RoomObject));
  }

  /**
   * Calls someone: creates a room, joins it with the media asked, and
   * invites `to` into it. The invitation tells how the call went.
   */
  async call(to: string, media: CaptureOptions = { audio: true, video: true }, context: Record<string, unknown> = {}): Promise<OutgoingCall> {
    // Capture first: a missing camera fails the call before anyone rings.
    const stream = await captureUserMedia(media);
    let conference: Conference;
    try {
      conference = await this.createConference();
      await conference.enter();
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      throw err;
    }
    // Ring as soon as we are in the room; our media comes up meanwhile.
    const invitation = conference.invite(to, { audio: !!media.audio, video: !!media.video }, context);
    try {
      await conference.startMediaOrLeave(stream);
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      invitation.cancel();
      throw err;
    }
    return { conference, invitation };
  }

  /** Joins (creating it if needed) the quick conference of a URI such as `wac-conf12345678901234567890`. */
  async quickConference(conferenceUri: string, media: CaptureOptions | MediaStream = { audio: true, video: true }): Promise<Conference> {
    const f = await this.signaling.request('quickConference', { conferenceUri });
    const conference = this.adopt(new Conference(this.host, f.payload as RoomObject, true));
    await conference.join(media);
    return conference;
  }

  /**
   * Joins the room of a meeting (`wac-meeting:<id>` or the id) inside its
   * window; the first to come creates it.
   */
  async joinMeeting(meeting: string, media: CaptureOptions | MediaStream = { audio: true, video: true }): Promise<Conference> {
    const meetingUri = meeting.startsWith('wac-meeting:') ? meeting : `wac-meeting:${meeting}`;
    const f = await this.signaling.request('joinMeeting', { meetingUri });
    const conference = this.adopt(new Conference(this.host, f.payload as RoomObject, true));
    await conference.join(media);
    return conference;
  }

  /** A new quick conference URI (`wac-conf` and 20 random digits). */
  static newConferenceUri(): string {
    const digits = new Uint8Array(20);
    crypto.getRandomValues(digits);
    return 'wac-conf' + Array.from(digits, (d) => String(d % 10)).join('');
  }

  /**
   * Asks a user to invite us into one of their rooms (the anonymous
   * visitor's call); resolves with the joined conference once they accept.
   */
  async inviteRequest(to: string, media: CaptureOptions = { audio: true, video: true }, context: Record<string, unknown> = {}): Promise<Conference> {
    const mediatypes: MediaTypes = { audio: !!media.audio, video: !!media.video };
    const f = await this.signaling.request('inviteRequest', { mediatypes, context: { contextInfo: context } }, { to }, 0);
    const conference = this.adopt(new Conference(this.host, f.payload as RoomObject));
    await conference.join(media);
    return conference;
  }

  /** Accepts an incoming invitation on this device and joins its room. */
  async accept(invitation: IncomingInvitation, media: CaptureOptions | MediaStream = { audio: true, video: true }): Promise<Conference> {
    if (invitation.state !== 'ringing') throw new SignalingError('invitation', 487, `the call is ${invitation.state}`);
    invitation.markAccepted();
    this.incoming.delete(invitation.requestID);
    const conference = this.adopt(new Conference(this.host, invitation.room));
    await conference.join(media);
    return conference;
  }

  /** Accepts an inviteRequest: creates a room, joins it, and lets the requester in. */
  async acceptInviteRequest(request: IncomingInviteRequest, media: CaptureOptions | MediaStream = { audio: true, video: true }): Promise<Conference> {
    const conference = await this.createConference();
    await conference.join(media);
    request.markAccepted(conference.id);
    this.incoming.delete(request.requestID);
    return conference;
  }

  private adopt(c: Conference): Conference {
    this.conferences.set(c.id, c);
    this.emit('conference', c);
    return c;
  }

  private identity(): MediaIdentity {
    const s = this.signaling.session;
    return { user: s?.user ?? '', username: s?.username ?? '', session: s?.session ?? '' };
  }

  private onEvent(name: string, payload: unknown): void {
    const p = (payload ?? {}) as Record<string, unknown>;
    this.conferences.get(roomOf(p))?.handleEvent(name, p);
  }

  private onRequest(f: Frame): void {
    switch (f.request) {
      case 'invitation': {
        const inv = new IncomingInvitation(this.signaling, f);
        this.track(inv);
        this.emit('invitation', inv);
        break;
      }
      case 'inviteRequest': {
        const req = new IncomingInviteRequest(this.signaling, f);
        this.track(req);
        this.emit('inviteRequest', req);
        break;
      }
      case 'transferring-attended-transfer': {
        const p = f.payload as { previousRoom: string; room: RoomObject };
        this.emit('attendedTransfer', {
          previousRoom: p.previousRoom,
          room: p.room,
          from: String(f.from ?? ''),
          accept: async (media) => {
            this.signaling.answer(f);
            await this.conferences.get(p.previousRoom)?.leave();
            const c = this.adopt(new Conference(this.host, p.room));
            await c.join(media);
            return c;
          },
        });
        break;
      }
      default:
        this.signaling.decline(f, 405);
    }
  }

  private track(req: IncomingRequest): void {
    this.incoming.set(req.requestID, req);
    req.on('ended', () => this.incoming.delete(req.requestID));
  }

  private sessionLost(): void {
    for (const c of this.activeConferences) c.connectionLost();
    for (const r of this.incoming.values()) r.cancelled({ cancel: 'invitation', error: 487, message: 'the connection was lost' });
    this.incoming.clear();
  }
}
