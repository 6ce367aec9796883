/**
 * The JavaScript SDK of OpenWAC. See docs/sdk-js.md.
 * @packageDocumentation
 */
export { Api, type ApiEvents, type ApiOptions, type FetchFn } from './api';
export { Conference, type ConferenceEvents, type ConferenceStatus, type ParticipantRef, type ParticipantRemoved, } from './conference';
export { captureScreen, captureUserMedia, listDevices, type CaptureOptions, type DeviceList } from './devices';
export { Emitter, type EventMap, type Listener } from './emitter';
export { ApiError, MediaError, SignalingError, type MediaErrorReason } from './errors';
export { IncomingInvitation, IncomingInviteRequest, IncomingRequest, OutgoingInvitation, outgoingStateOf, type IncomingState, type OutgoingState, } from './invitations';
export { JanusConnection, JanusHandle, type JanusOptions, type PluginAnswer, type PluginData } from './janus';
export { JanusMedia, formatOwner, parseOwner, type ConferenceMedia, type FeedOwner, type LocalStream, type MediaIdentity, type RemoteStream, type StreamKind, } from './media';
export { Signaling, type ConnectionState, type DeviceContext, type Frame, type SignalingOptions, type StartedRequest, type WebSocketFactory, type WebSocketLike, } from './signaling';
export type * from './types';
export { Wac, type AttendedTransferRequest, type OutgoingCall, type WacEvents, type WacOptions } from './wac';
