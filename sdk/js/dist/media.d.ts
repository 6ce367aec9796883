import { type CaptureOptions } from './devices';
import { Emitter } from './emitter';
import { MediaError } from './errors';
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
/**
 * A participant's media in one room of the SFU, over the Janus VideoRoom
 * API: one Janus session with a publisher handle for the camera and
 * microphone, one for a shared screen, and one subscriber handle per
 * remote publication.
 */
export declare class JanusMedia extends Emitter<MediaEvents> implements ConferenceMedia {
    private readonly room;
    private readonly me;
    /** The username of a user id (from the conference's participants). */
    private readonly usernameOf;
    private readonly webSocket?;
    private conn;
    private camera;
    private screen;
    private subs;
    private ownFeeds;
    private muted;
    private held;
    private closed;
    constructor(room: RoomObject, me: MediaIdentity, 
    /** The username of a user id (from the conference's participants). */
    usernameOf: (user: string) => string, webSocket?: WebSocketFactory | undefined);
    get localStreams(): LocalStream[];
    get remoteStreams(): RemoteStream[];
    start(capture: CaptureOptions | MediaStream): Promise<void>;
    setMuted(kind: 'audio' | 'video', muted: boolean): void;
    setHold(hold: boolean): Promise<void>;
    shareScreen(): Promise<LocalStream>;
    stopScreenShare(): void;
    switchInput(kind: 'audio' | 'video', deviceId: string): Promise<void>;
    close(keepCapture?: boolean): void;
    private applyEnabled;
    private joinAsPublisher;
    private roomNumber;
    private peerConnection;
    private publish;
    private endPublication;
    private onRoomEvent;
    private subscribe;
    private answer;
    private failSubscription;
    private unsubscribe;
}
/**
 * The Janus display of a publication: `kind/user/session`. The media
 * server keeps at most 64 characters of a display, so the username is not
 * in it; the conference knows it from the participant list.
 */
export declare function formatOwner(o: FeedOwner): string;
/** Reads the owner of a feed from its Janus display (another client's plain name gives null). */
export declare function parseOwner(display: string | undefined): FeedOwner | null;
