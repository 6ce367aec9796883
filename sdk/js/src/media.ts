import { captureError, captureScreen, captureUserMedia, type CaptureOptions } from './devices';
import { Emitter } from './emitter';
import { MediaError } from './errors';
import { JanusConnection, type JanusHandle, type PluginData } from './janus';
import type { WebSocketFactory } from './signaling';
import type { RoomObject } from './types';

/** Whether a stream carries a camera (with the microphone) or a shared screen. */
export type StreamKind = 'camera' | 'screen';

/** Who publishes a feed: sent as the Janus `display` of each publication. */
export interface FeedOwner {
  /** The user id. */
  user: string;
  /** The signaling session (device). */
  session: string;
  kind: StreamKind;
}

/** A stream captured here and sent to the room. */
export interface LocalStream {
  kind: StreamKind;
  stream: MediaStream;
}

/** A stream received from another participant of the room. */
export interface RemoteStream {
  /** The Janus feed id of the publication. */
  feed: number;
  /** The publisher's user id ("" for a publisher that is not an OpenWAC client). */
  participant: string;
  /** The publisher's username (its Janus display for a publisher that is not an OpenWAC client). */
  username: string;
  kind: StreamKind;
  stream: MediaStream;
  /** Statistics of the PeerConnection that receives the stream. */
  getStats(): Promise<RTCStatsReport>;
}

export type MediaEvents = {
  localStreamAdded: [LocalStream];
  localStreamRemoved: [LocalStream];
  remoteStreamAdded: [RemoteStream];
  remoteStreamRemoved: [RemoteStream];
  /** The connection to the media server was lost: the session must be started again. */
  lost: [reason: string];
  /** A publication or subscription failed. */
  error: [MediaError];
};

/** The media of one participant in one room, as a conference drives it. */
export interface ConferenceMedia {
  readonly localStreams: LocalStream[];
  readonly remoteStreams: RemoteStream[];
  on<K extends keyof MediaEvents>(name: K, listener: (...args: MediaEvents[K]) => void): () => void;
  /** Connects, publishes what is captured (or the given stream) and subscribes to every publisher. */
  start(capture: CaptureOptions | MediaStream): Promise<void>;
  setMuted(kind: 'audio' | 'video', muted: boolean): void;
  setHold(hold: boolean): Promise<void>;
  shareScreen(): Promise<LocalStream>;
  stopScreenShare(): void;
  switchInput(kind: 'audio' | 'video', deviceId: string): Promise<void>;
  /** Ends publications and subscriptions; `keepCapture` leaves the local tracks running for a new session. */
  close(keepCapture?: boolean): void;
}

/** Everything about the local participant a media session needs. */
export interface MediaIdentity {
  user: string;
  username: string;
  session: string;
}

interface Publisher {
  id: number;
  display?: string;
}

interface Publication {
  handle: JanusHandle;
  pc: RTCPeerConnection;
  local: LocalStream;
}

interface Subscription {
  handle: JanusHandle;
  pc: RTCPeerConnection;
  remote: RemoteStream | null;
}

/**
 * A participant's media in one room of the SFU, over the Janus VideoRoom
 * API: one Janus session with a publisher handle for the camera and
 * microphone, one for a shared screen, and one subscriber handle per
 * remote publication.
 */
export class JanusMedia extends Emitter<MediaEvents> implements ConferenceMedia {
  private conn: JanusConnection | null = null;
  private camera: Publication | null = null;
  private screen: Publication | null = null;
  private subs = new Map<number, Subscription>();
  private ownFeeds = new Set<number>();
  private muted = { audio: false, video: false };
  private held = false;
  private closed = false;

  constructor(
    private readonly room: RoomObject,
    private readonly me: MediaIdentity,
    /** The username of a user id (from the conference's participants). */
    private readonly usernameOf: (user: string) => string,
    private readonly webSocket?: WebSocketFactory,
  ) {
    super();
  }

  get localStreams(): LocalStream[] {
    return [this.camera?.local, this.screen?.local].filter((l): l is LocalStream => !!l);
  }

  get remoteStreams(): RemoteStream[] {
    return [...this.subs.values()].map((s) => s.remote).filter((r): r is RemoteStream => !!r);
  }

  async start(capture: CaptureOptions | MediaStream): Promise<void> {
    if (!this.room.server?.wss) throw new MediaError('media-server', 'this server has no media server for the room');
    const stream = capture instanceof MediaStream ? capture : await captureUserMedia(capture);
    try {
      this.conn = await JanusConnection.connect({ url: this.room.server.wss, token: this.room.token, webSocket: this.webSocket });
      this.conn.on('closed', (reason) => {
        if (!this.closed) this.emit('lost', reason);
      });
      const { handle, publishers } = await this.joinAsPublisher('camera');
      handle.on('event', (data) => this.onRoomEvent(data));
      for (const p of publishers) void this.subscribe(p);
      if (stream.getTracks().length > 0) {
        this.camera = await this.publish(handle, { kind: 'camera', stream });
      } else {
        this.camera = null;
      }
    } catch (err) {
      const given = capture instanceof MediaStream;
      if (!given) stream.getTracks().forEach((t) => t.stop());
      this.close(given);
      throw err;
    }
    if (this.camera) this.emit('localStreamAdded', this.camera.local);
    this.applyEnabled();
  }

  setMuted(kind: 'audio' | 'video', muted: boolean): void {
    this.muted[kind] = muted;
    this.applyEnabled();
  }

  async setHold(hold: boolean): Promise<void> {
    this.held = hold;
    this.applyEnabled();
    await Promise.all([...this.subs.values()].map((s) =>
      s.handle.request({ request: hold ? 'pause' : 'start' }).catch((err: Error) => {
        this.emit('error', err instanceof MediaError ? err : new MediaError('media-server', err.message));
      })));
  }

  async shareScreen(): Promise<LocalStream> {
    if (this.screen) return this.screen.local;
    if (!this.conn) throw new MediaError('media-server', 'the media session is not started');
    const stream = await captureScreen();
    try {
      const { handle } = await this.joinAsPublisher('screen');
      this.screen = await this.publish(handle, { kind: 'screen', stream });
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      throw err;
    }
    for (const t of stream.getVideoTracks()) t.addEventListener('ended', () => this.stopScreenShare());
    this.emit('localStreamAdded', this.screen.local);
    return this.screen.local;
  }

  stopScreenShare(): void {
    const s = this.screen;
    if (!s) return;
    this.screen = null;
    this.endPublication(s, false);
    this.emit('localStreamRemoved', s.local);
  }

  async switchInput(kind: 'audio' | 'video', deviceId: string): Promise<void> {
    const pub = this.camera;
    if (!pub) throw new MediaError('media-server', 'nothing is published');
    let fresh: MediaStream;
    try {
      fresh = await navigator.mediaDevices.getUserMedia(kind === 'audio'
        ? { audio: { deviceId: { exact: deviceId } } }
        : { video: { deviceId: { exact: deviceId } } });
    } catch (err) {
      throw captureError(err, kind === 'audio' ? 'microphone' : 'camera');
    }
    const track = kind === 'audio' ? fresh.getAudioTracks()[0] : fresh.getVideoTracks()[0];
    if (!track) throw new MediaError('no-device', `the ${kind === 'audio' ? 'microphone' : 'camera'} gave no track`);
    const sender = pub.pc.getSenders().find((s) => s.track?.kind === kind);
    if (!sender) {
      track.stop();
      throw new MediaError('unsupported', `the call was started without ${kind}`);
    }
    const old = sender.track;
    await sender.replaceTrack(track);
    if (old) {
      pub.local.stream.removeTrack(old);
      old.stop();
    }
    pub.local.stream.addTrack(track);
    this.applyEnabled();
  }

  close(keepCapture = false): void {
    if (this.closed) return;
    this.closed = true;
    for (const feed of [...this.subs.keys()]) this.unsubscribe(feed);
    if (this.screen) this.endPublication(this.screen, false);
    if (this.camera) this.endPublication(this.camera, keepCapture);
    this.conn?.close();
    this.conn = null;
  }

  private applyEnabled(): void {
    const cam = this.camera?.local.stream;
    if (!cam) return;
    for (const t of cam.getAudioTracks()) t.enabled = !this.muted.audio && !this.held;
    for (const t of cam.getVideoTracks()) t.enabled = !this.muted.video && !this.held;
  }

  private async joinAsPublisher(kind: StreamKind): Promise<{ handle: JanusHandle; publishers: Publisher[] }> {
    const conn = this.conn as JanusConnection;
    const handle = await conn.attach();
    const { data } = await handle.request({
      request: 'join',
      ptype: 'publisher',
      room: this.roomNumber(),
      display: formatOwner({ user: this.me.user, session: this.me.session, kind }),
      token: this.room.token,
    });
    if (typeof data.id === 'number') this.ownFeeds.add(data.id);
    return { handle, publishers: (data.publishers as Publisher[] | undefined) ?? [] };
  }

  private roomNumber(): number | string {
    const n = Number(this.room.number);
    return Number.isSafeInteger(n) && n > 0 ? n : this.room.room;
  }

  private peerConnection(handle: JanusHandle): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: this.room.ice ?? [] });
    pc.onicecandidate = (ev) => handle.trickle(ev.candidate ? ev.candidate.toJSON() : null);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' && !this.closed) {
        this.emit('error', new MediaError('connection-failed', 'the media connection failed (a firewall may block it)'));
      }
    };
    return pc;
  }

  private async publish(handle: JanusHandle, local: LocalStream): Promise<Publication> {
    const pc = this.peerConnection(handle);
    for (const track of local.stream.getTracks()) {
      pc.addTransceiver(track, { direction: 'sendonly', streams: [local.stream] });
    }
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const { jsep } = await handle.request({
        request: 'publish',
        audio: local.stream.getAudioTracks().length > 0,
        video: local.stream.getVideoTracks().length > 0,
      }, offer);
      if (!jsep) throw new MediaError('media-server', 'the media server did not answer the publication');
      await pc.setRemoteDescription(jsep);
    } catch (err) {
      pc.close();
      handle.detach();
      throw err;
    }
    return { handle, pc, local };
  }

  private endPublication(p: Publication, keepCapture: boolean): void {
    p.pc.close();
    p.handle.request({ request: 'leave' }).catch(() => {
      // The session may already be gone.
    }).finally(() => p.handle.detach());
    if (!keepCapture) p.local.stream.getTracks().forEach((t) => t.stop());
  }

  private onRoomEvent(data: PluginData): void {
    if (Array.isArray(data.publishers)) {
      for (const p of data.publishers as Publisher[]) void this.subscribe(p);
    }
    for (const key of ['unpublished', 'leaving'] as const) {
      const feed = data[key];
      if (typeof feed === 'number') this.unsubscribe(feed);
    }
  }

  private async subscribe(p: Publisher): Promise<void> {
    if (this.closed || this.ownFeeds.has(p.id) || this.subs.has(p.id) || !this.conn) return;
    const owner = parseOwner(p.display);
    if (owner?.session === this.me.session) return;
    try {
      const handle = await this.conn.attach();
      if (this.closed || this.subs.has(p.id)) {
        handle.detach();
        return;
      }
      const pc = this.peerConnection(handle);
      const sub: Subscription = { handle, pc, remote: null };
      this.subs.set(p.id, sub);
      const stream = new MediaStream();
      pc.ontrack = (ev) => {
        if (!stream.getTrackById(ev.track.id)) stream.addTrack(ev.track);
      };
      handle.on('event', (_data, jsep) => {
        if (jsep?.type === 'offer') {
          this.answer(sub, jsep).catch((err: Error) => this.failSubscription(p.id, err));
        }
      });
      const { jsep } = await handle.request({
        request: 'join',
        ptype: 'subscriber',
        room: this.roomNumber(),
        streams: [{ feed: p.id }],
        token: this.room.token,
      });
      if (!jsep) throw new MediaError('media-server', 'the media server offered no stream to subscribe to');
      await this.answer(sub, jsep);
      if (this.subs.get(p.id) !== sub) return; // unpublished meanwhile
      sub.remote = {
        feed: p.id,
        participant: owner?.user ?? '',
        username: owner ? this.usernameOf(owner.user) : p.display ?? '',
        kind: owner?.kind ?? 'camera',
        stream,
        getStats: () => pc.getStats(),
      };
      if (this.held) await handle.request({ request: 'pause' });
      this.emit('remoteStreamAdded', sub.remote);
    } catch (err) {
      if (this.closed) return;
      this.failSubscription(p.id, err as Error);
    }
  }

  private async answer(sub: Subscription, offer: RTCSessionDescriptionInit): Promise<void> {
    await sub.pc.setRemoteDescription(offer);
    const answer = await sub.pc.createAnswer();
    await sub.pc.setLocalDescription(answer);
    await sub.handle.request({ request: 'start', room: this.roomNumber() }, answer);
  }

  private failSubscription(feed: number, err: Error): void {
    this.unsubscribe(feed);
    this.emit('error', err instanceof MediaError ? err : new MediaError('media-server', `a remote stream cannot be received: ${err.message}`));
  }

  private unsubscribe(feed: number): void {
    const sub = this.subs.get(feed);
    if (!sub) return;
    this.subs.delete(feed);
    sub.pc.close();
    sub.handle.detach();
    for (const t of sub.remote?.stream.getTracks() ?? []) t.stop();
    if (sub.remote) this.emit('remoteStreamRemoved', sub.remote);
  }
}

/**
 * The Janus display of a publication: `kind/user/session`. The media
 * server keeps at most 64 characters of a display, so the username is not
 * in it; the conference knows it from the participant list.
 */
export function formatOwner(o: FeedOwner): string {
  return `${o.kind}/${o.user}/${o.session}`;
}

/** Reads the owner of a feed from its Janus display (another client's plain name gives null). */
export function parseOwner(display: string | undefined): FeedOwner | null {
  const m = /^(camera|screen)\/([^/]+)\/([^/]+)$/.exec(display ?? '');
  if (!m) return null;
  return { kind: m[1] as StreamKind, user: m[2] as string, session: m[3] as string };
}
