import type { CaptureOptions } from './devices';
import { Emitter } from './emitter';
import { MediaError, SignalingError } from './errors';
import { OutgoingInvitation, type InvitationSignaling } from './invitations';
import type { ConferenceMedia, LocalStream, MediaIdentity, RemoteStream } from './media';
import type { Signaling } from './signaling';
import type { MediaTypes, Participant, RoomObject } from './types';

/**
 * Where a conference is: `idle` before joining, `joining`, `joined`,
 * `reconnecting` while its media is being restored, and the end states
 * `left`, `destroyed`, `expelled`, `transferred` and `ended` (the connection
 * was lost for good).
 */
export type ConferenceStatus =
  | 'idle'
  | 'joining'
  | 'joined'
  | 'reconnecting'
  | 'left'
  | 'destroyed'
  | 'expelled'
  | 'transferred'
  | 'ended';

/** A participant who left: `code` is the SIP code of why (200 hung up, 480 connection lost, 403 expelled). */
export interface ParticipantRemoved {
  participant: string;
  username: string;
  code: number;
  reason: string;
}

/** A participant named in a hold or unhold event. */
export interface ParticipantRef {
  participant: string;
  username: string;
}

/** The events of a conference, with the names of the product's SDK. */
export type ConferenceEvents = {
  /** The list of remote streams changed. */
  remoteStreams: [RemoteStream[]];
  /** An outgoing invitation changed (or one was added). */
  outgoingInvitations: [OutgoingInvitation[]];
  /** We were expelled from the conference. */
  expelled: [{ by: string; username: string }];
  /** The conference was destroyed. */
  destroyed: [{ by: string; reason: string }];
  /** The conference's status changed. */
  status: [ConferenceStatus];
  /** The list of remote participants changed. */
  remoteParticipants: [Participant[]];
  /** A transfer we made failed. */
  transferError: [{ transfer: string; participant: string; code: number }];
  participantAdded: [Participant];
  participantRemoved: [ParticipantRemoved];
  participantHold: [ParticipantRef];
  participantUnhold: [ParticipantRef];
  localStreamAdded: [LocalStream];
  localStreamRemoved: [LocalStream];
  remoteStreamAdded: [RemoteStream];
  remoteStreamRemove: [RemoteStream];
  /** A transfer in this room completed. */
  transferCompleted: [{ transfer: string; participant: string; to: string }];
  /** Another participant asks us to mute. */
  muteRequest: [{ from: string; username: string; mediatypes: MediaTypes }];
  /** A phone in the room pressed a key (`digit`: 0-9, *, #, A-D; `from`: the phone's participant). */
  dtmf: [{ from: string; digit: string }];
  /** The media failed (a stream could not be received, the connection failed). */
  error: [Error];
};

/** What a conference needs from the client that made it. */
export interface ConferenceHost {
  readonly signaling: Pick<Signaling, 'request'> & InvitationSignaling;
  /** The local user and session. */
  identity(): MediaIdentity;
  /** Makes the media of the room; `usernameOf` names the publishers of remote streams. */
  createMedia(room: RoomObject, usernameOf: (user: string) => string): ConferenceMedia;
  /** The conference ended: stop routing its events. */
  forget(conference: Conference): void;
}

const ENDED: ConferenceStatus[] = ['left', 'destroyed', 'expelled', 'transferred', 'ended'];

/** Waits between attempts to restore lost media, in ms. */
const MEDIA_RETRY = [500, 1000, 2000, 4000, 8000];

/**
 * A conference room: its participants, media and invitations. A one-to-one
 * call is a conference of two.
 */
export class Conference extends Emitter<ConferenceEvents> {
  private current: ConferenceStatus = 'idle';
  private participantMap = new Map<string, Participant>();
  private invitations: OutgoingInvitation[] = [];
  private media: ConferenceMedia | null = null;
  private mediaRequest: CaptureOptions | MediaStream = { audio: true, video: true };
  private muted = { audio: false, video: false };
  private onHold = false;

  constructor(
    private readonly host: ConferenceHost,
    /** The room object, with our media grant. */
    public room: RoomObject,
    /** Whether signaling already put us in the room (quickConference answers with the joined room). */
    private inRoom = false,
  ) {
    super();
  }

  /** The room id. */
  get id(): string {
    return this.room.room;
  }

  get status(): ConferenceStatus {
    return this.current;
  }

  /** Whether the conference is over for us. */
  get ended(): boolean {
    return ENDED.includes(this.current);
  }

  /** The other participants in the room now. */
  get remoteParticipants(): Participant[] {
    const me = this.host.identity().user;
    return [...this.participantMap.values()].filter((p) => p.id !== me);
  }

  get remoteStreams(): RemoteStream[] {
    return this.media?.remoteStreams ?? [];
  }

  get localStreams(): LocalStream[] {
    return this.media?.localStreams ?? [];
  }

  get outgoingInvitations(): OutgoingInvitation[] {
    return [...this.invitations];
  }

  /** Whether we put the conference on hold. */
  get held(): boolean {
    return this.onHold;
  }

  get audioMuted(): boolean {
    return this.muted.audio;
  }

  get videoMuted(): boolean {
    return this.muted.video;
  }

  /**
   * Joins the room (signaling) and its media: publishes the microphone and
   * camera as asked (or the given stream) and receives every other
   * participant. Rejects with a {@link SignalingError} (403 not in the ACL,
   * 404 no such room, 486 full) or a {@link MediaError}.
   */
  async join(media: CaptureOptions | MediaStream = { audio: true, video: true }): Promise<void> {
    await this.enter();
    await this.startMediaOrLeave(media);
  }

  /** @internal Joins the room on the signaling side (the first half of {@link join}). */
  async enter(): Promise<void> {
    if (this.current !== 'idle') throw new Error(`cannot join a conference that is ${this.current}`);
    this.setStatus('joining');
    try {
      if (!this.inRoom) {
        const f = await this.host.signaling.request('joinRoom', { room: this.id });
        this.room = f.payload as RoomObject;
        this.inRoom = true;
      }
      await this.loadParticipants();
    } catch (err) {
      await this.finish('left', 200, true);
      throw err;
    }
  }

  /** @internal Starts the media once in the room (the second half of {@link join}). */
  async startMediaOrLeave(media: CaptureOptions | MediaStream): Promise<void> {
    this.mediaRequest = media;
    try {
      await this.startMedia(media);
    } catch (err) {
      await this.finish('left', 200, true);
      throw err;
    }
    if (!this.ended) this.setStatus('joined');
  }

  /** Leaves the room; the others stay (the room lives until destroyed). */
  async leave(code = 200): Promise<void> {
    if (this.ended) return;
    await this.finish('left', code, true);
  }

  /** Destroys the room: everyone in it is told, ringing invitations into it stop. */
  async destroy(): Promise<void> {
    if (this.ended) return;
    try {
      await this.host.signaling.request('destroyRoom', { room: this.id });
    } finally {
      await this.finish('destroyed', 200, false);
    }
  }

  /**
   * Invites someone into the room: a user id, username, `user@domain`,
   * alias, group, or `username/<session>` for one device.
   */
  invite(to: string, mediatypes: MediaTypes = { audio: true, video: true }, context: Record<string, unknown> = {}): OutgoingInvitation {
    const inv = new OutgoingInvitation(this.host.signaling, to, this.id, mediatypes, context);
    this.invitations.push(inv);
    inv.on('state', () => this.emit('outgoingInvitations', this.outgoingInvitations));
    this.emit('outgoingInvitations', this.outgoingInvitations);
    return inv;
  }

  /** Puts the call on hold: we stop sending and receiving media, and the others are told. */
  async hold(): Promise<void> {
    await this.host.signaling.request('hold', { room: this.id });
    this.onHold = true;
    await this.media?.setHold(true);
  }

  async unhold(): Promise<void> {
    await this.host.signaling.request('unhold', { room: this.id });
    this.onHold = false;
    await this.media?.setHold(false);
  }

  /** Mutes or unmutes our microphone. */
  muteAudio(muted: boolean): void {
    this.muted.audio = muted;
    this.media?.setMuted('audio', muted);
  }

  /** Turns our camera off or on (the others see black frames). */
  muteVideo(muted: boolean): void {
    this.muted.video = muted;
    this.media?.setMuted('video', muted);
  }

  /** Asks another participant to mute (their app decides). */
  async requestMute(participant: string, mediatypes: MediaTypes = { audio: true }): Promise<void> {
    await this.host.signaling.request('mute', { room: this.id, participant, mediatypes });
  }

  /**
   * Sends keypad digits (0-9, *, #, A-D, at most 32) to the phones in the
   * room as DTMF, each lasting `duration` ms (40-2000; the server's 100
   * when absent). Resolves once the server queued them.
   */
  async sendDTMF(digits: string, duration?: number): Promise<void> {
    const payload: { room: string; digits: string; duration?: number } = { room: this.id, digits };
    if (duration !== undefined) payload.duration = duration;
    await this.host.signaling.request('sendDTMF', payload);
  }

  /** Expels a participant (who leaves the room and its ACL). */
  async expel(participant: string): Promise<void> {
    await this.host.signaling.request('expel', { room: this.id, participant });
  }

  /**
   * Blind transfer: `to` is invited into the room on our behalf; when they
   * accept, we leave. Rejects with the code that stopped it (603 declined).
   */
  async transfer(participant: string, to: string): Promise<void> {
    await this.host.signaling.request('transfer', { room: this.id, participant, to }, undefined, 0);
    await this.finish('transferred', 200, false);
  }

  /** Attended transfer: moves a participant into `targetRoom`, where we talk with the target. */
  async attendedTransfer(participant: string, targetRoom: string): Promise<void> {
    await this.host.signaling.request('transfer', { room: this.id, participant, targetRoom }, undefined, 0);
    await this.finish('transferred', 200, false);
  }

  /** Shares a screen, window or tab as a second stream. */
  async shareScreen(): Promise<LocalStream> {
    if (!this.media) throw new MediaError('media-server', 'join the conference first');
    return this.media.shareScreen();
  }

  stopScreenShare(): void {
    this.media?.stopScreenShare();
  }

  /** Switches to another camera or microphone without renegotiating. */
  async switchInput(kind: 'audio' | 'video', deviceId: string): Promise<void> {
    if (!this.media) throw new MediaError('media-server', 'join the conference first');
    await this.media.switchInput(kind, deviceId);
  }

  /** @internal A signaling event about this room. */
  handleEvent(name: string, p: Record<string, unknown>): void {
    switch (name) {
      case 'participantAdded': {
        const part = p.participant as Participant;
        this.participantMap.set(part.id, part);
        if (part.id !== this.host.identity().user) this.emit('participantAdded', part);
        this.emit('remoteParticipants', this.remoteParticipants);
        break;
      }
      case 'remoteParticipants':
        this.participantMap = new Map((p.participants as Participant[]).map((x) => [x.id, x]));
        this.emit('remoteParticipants', this.remoteParticipants);
        break;
      case 'participantRemoved': {
        const removed: ParticipantRemoved = {
          participant: String(p.participant), username: String(p.username ?? ''),
          code: Number(p.code ?? 200), reason: String(p.reason ?? ''),
        };
        this.participantMap.delete(removed.participant);
        this.emit('participantRemoved', removed);
        this.emit('remoteParticipants', this.remoteParticipants);
        break;
      }
      case 'participantHold':
      case 'participantUnhold': {
        const ref = { participant: String(p.participant), username: String(p.username ?? '') };
        const part = this.participantMap.get(ref.participant);
        if (part) part.hold = name === 'participantHold';
        this.emit(name, ref);
        break;
      }
      case 'expelled':
        void this.finish('expelled', 403, false).then(() =>
          this.emit('expelled', { by: String(p.by ?? ''), username: String(p.username ?? '') }));
        break;
      case 'destroyed':
        void this.finish('destroyed', 200, false).then(() =>
          this.emit('destroyed', { by: String(p.by ?? ''), reason: String(p.reason ?? '') }));
        break;
      case 'transferError':
        this.emit('transferError', { transfer: String(p.transfer), participant: String(p.participant), code: Number(p.code) });
        break;
      case 'transferCompleted':
        this.emit('transferCompleted', { transfer: String(p.transfer), participant: String(p.participant), to: String(p.to) });
        break;
      case 'outgoingInvitation': {
        const inv = this.invitations.find((i) => i.requestID === p.requestID);
        inv?.update(String(p.state));
        break;
      }
      case 'dtmf':
        this.emit('dtmf', { from: String(p.from), digit: String(p.digit) });
        break;
      case 'mute-request':
        this.emit('muteRequest', {
          from: String(p.from), username: String(p.username ?? ''), mediatypes: (p.mediatypes as MediaTypes) ?? { audio: true },
        });
        break;
      default:
        break;
    }
  }

  /** @internal The signaling session was lost: the room is left for us. */
  connectionLost(): void {
    void this.finish('ended', 480, false);
  }

  private async loadParticipants(): Promise<void> {
    const f = await this.host.signaling.request('getRoom', { room: this.id });
    const details = (f.payload as RoomObject).participantsDetails ?? [];
    this.participantMap = new Map(details.map((x) => [x.id, x]));
    this.emit('remoteParticipants', this.remoteParticipants);
  }

  private async startMedia(capture: CaptureOptions | MediaStream): Promise<void> {
    const media = this.host.createMedia(this.room, (user) => this.participantMap.get(user)?.username ?? '');
    this.media = media;
    media.on('localStreamAdded', (l) => this.emit('localStreamAdded', l));
    media.on('localStreamRemoved', (l) => this.emit('localStreamRemoved', l));
    media.on('remoteStreamAdded', (r) => {
      this.emit('remoteStreamAdded', r);
      this.emit('remoteStreams', this.remoteStreams);
    });
    media.on('remoteStreamRemoved', (r) => {
      this.emit('remoteStreamRemove', r);
      this.emit('remoteStreams', this.remoteStreams);
    });
    media.on('error', (e) => this.emit('error', e));
    media.on('lost', () => void this.restoreMedia(media));
    await media.start(capture);
    if (this.muted.audio) media.setMuted('audio', true);
    if (this.muted.video) media.setMuted('video', true);
    if (this.onHold) await media.setHold(true);
  }

  /** The media server connection dropped: start the media again with the same capture. */
  private async restoreMedia(lost: ConferenceMedia): Promise<void> {
    if (this.media !== lost || this.ended) return;
    const camera = lost.localStreams.find((l) => l.kind === 'camera')?.stream;
    for (const r of lost.remoteStreams) this.emit('remoteStreamRemove', r);
    lost.close(true);
    this.media = null;
    this.emit('remoteStreams', []);
    this.setStatus('reconnecting');
    for (let attempt = 0; !this.ended; attempt++) {
      await new Promise((r) => setTimeout(r, MEDIA_RETRY[Math.min(attempt, MEDIA_RETRY.length - 1)]));
      if (this.ended) return;
      try {
        const f = await this.host.signaling.request('getRoom', { room: this.id });
        this.room = { ...this.room, ...(f.payload as RoomObject) };
        await this.startMedia(camera ?? this.mediaRequest);
        this.setStatus('joined');
        return;
      } catch (err) {
        if (err instanceof SignalingError && (err.code === 403 || err.code === 404)) {
          await this.finish('ended', 480, false);
          return;
        }
        (this.media as ConferenceMedia | null)?.close(true);
        this.media = null;
      }
    }
  }

  private async finish(status: ConferenceStatus, code: number, leaveRoom: boolean): Promise<void> {
    if (this.ended) return;
    this.setStatus(status);
    for (const inv of this.invitations) inv.cancel();
    const media = this.media;
    this.media = null;
    if (media) {
      const locals = media.localStreams;
      media.close();
      for (const l of locals) this.emit('localStreamRemoved', l);
    }
    this.host.forget(this);
    if (leaveRoom && this.inRoom) {
      try {
        await this.host.signaling.request('leaveRoom', { room: this.id, code });
      } catch (err) {
        // 403: we were no longer in the room's ACL, which is what leaving wants.
        if (!(err instanceof SignalingError) || (err.code !== 403 && err.code !== 404 && err.code !== 0)) throw err;
      }
    }
  }

  private setStatus(status: ConferenceStatus): void {
    if (status === this.current) return;
    this.current = status;
    this.emit('status', status);
  }
}

/** @internal The room a signaling event is about. */
export function roomOf(payload: unknown): string {
  return String((payload as { room?: unknown } | null)?.room ?? '');
}
