import type { CaptureOptions } from './devices';
import { Emitter } from './emitter';
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
export type ConferenceStatus = 'idle' | 'joining' | 'joined' | 'reconnecting' | 'left' | 'destroyed' | 'expelled' | 'transferred' | 'ended';
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
    expelled: [{
        by: string;
        username: string;
    }];
    /** The conference was destroyed. */
    destroyed: [{
        by: string;
        reason: string;
    }];
    /** The conference's status changed. */
    status: [ConferenceStatus];
    /** The list of remote participants changed. */
    remoteParticipants: [Participant[]];
    /** A transfer we made failed. */
    transferError: [{
        transfer: string;
        participant: string;
        code: number;
    }];
    participantAdded: [Participant];
    participantRemoved: [ParticipantRemoved];
    participantHold: [ParticipantRef];
    participantUnhold: [ParticipantRef];
    localStreamAdded: [LocalStream];
    localStreamRemoved: [LocalStream];
    remoteStreamAdded: [RemoteStream];
    remoteStreamRemove: [RemoteStream];
    /** A transfer in this room completed. */
    transferCompleted: [{
        transfer: string;
        participant: string;
        to: string;
    }];
    /** Another participant asks us to mute. */
    muteRequest: [{
        from: string;
        username: string;
        mediatypes: MediaTypes;
    }];
    /** A phone in the room pressed a key (`digit`: 0-9, *, #, A-D; `from`: the phone's participant). */
    dtmf: [{
        from: string;
        digit: string;
    }];
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
/**
 * A conference room: its participants, media and invitations. A one-to-one
 * call is a conference of two.
 */
export declare class Conference extends Emitter<ConferenceEvents> {
    private readonly host;
    /** The room object, with our media grant. */
    room: RoomObject;
    /** Whether signaling already put us in the room (quickConference answers with the joined room). */
    private inRoom;
    private current;
    private participantMap;
    private invitations;
    private media;
    private mediaRequest;
    private muted;
    private onHold;
    constructor(host: ConferenceHost, 
    /** The room object, with our media grant. */
    room: RoomObject, 
    /** Whether signaling already put us in the room (quickConference answers with the joined room). */
    inRoom?: boolean);
    /** The room id. */
    get id(): string;
    get status(): ConferenceStatus;
    /** Whether the conference is over for us. */
    get ended(): boolean;
    /** The other participants in the room now. */
    get remoteParticipants(): Participant[];
    get remoteStreams(): RemoteStream[];
    get localStreams(): LocalStream[];
    get outgoingInvitations(): OutgoingInvitation[];
    /** Whether we put the conference on hold. */
    get held(): boolean;
    get audioMuted(): boolean;
    get videoMuted(): boolean;
    /**
     * Joins the room (signaling) and its media: publishes the microphone and
     * camera as asked (or the given stream) and receives every other
     * participant. Rejects with a {@link SignalingError} (403 not in the ACL,
     * 404 no such room, 486 full) or a {@link MediaError}.
     */
    join(media?: CaptureOptions | MediaStream): Promise<void>;
    /** Leaves the room; the others stay (the room lives until destroyed). */
    leave(code?: number): Promise<void>;
    /** Destroys the room: everyone in it is told, ringing invitations into it stop. */
    destroy(): Promise<void>;
    /**
     * Invites someone into the room: a user id, username, `user@domain`,
     * alias, group, or `username/<session>` for one device.
     */
    invite(to: string, mediatypes?: MediaTypes, context?: Record<string, unknown>): OutgoingInvitation;
    /** Puts the call on hold: we stop sending and receiving media, and the others are told. */
    hold(): Promise<void>;
    unhold(): Promise<void>;
    /** Mutes or unmutes our microphone. */
    muteAudio(muted: boolean): void;
    /** Turns our camera off or on (the others see black frames). */
    muteVideo(muted: boolean): void;
    /** Asks another participant to mute (their app decides). */
    requestMute(participant: string, mediatypes?: MediaTypes): Promise<void>;
    /**
     * Sends keypad digits (0-9, *, #, A-D, at most 32) to the phones in the
     * room as DTMF, each lasting `duration` ms (40-2000; the server's 100
     * when absent). Resolves once the server queued them.
     */
    sendDTMF(digits: string, duration?: number): Promise<void>;
    /** Expels a participant (who leaves the room and its ACL). */
    expel(participant: string): Promise<void>;
    /**
     * Blind transfer: `to` is invited into the room on our behalf; when they
     * accept, we leave. Rejects with the code that stopped it (603 declined).
     */
    transfer(participant: string, to: string): Promise<void>;
    /** Attended transfer: moves a participant into `targetRoom`, where we talk with the target. */
    attendedTransfer(participant: string, targetRoom: string): Promise<void>;
    /** Shares a screen, window or tab as a second stream. */
    shareScreen(): Promise<LocalStream>;
    stopScreenShare(): void;
    /** Switches to another camera or microphone without renegotiating. */
    switchInput(kind: 'audio' | 'video', deviceId: string): Promise<void>;
    private loadParticipants;
    private startMedia;
    /** The media server connection dropped: start the media again with the same capture. */
    private restoreMedia;
    private finish;
    private setStatus;
}
