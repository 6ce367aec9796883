// The records of the REST API and of the signaling protocol, with the
// field names the server uses (see docs/api.md and docs/protocol.md).

/** An answer of POST /sapi/o/token. */
export interface Tokens {
  access_token: string;
  /** Absent for anonymous logins, which cannot be refreshed. */
  refresh_token?: string;
  /** Seconds the access token is valid. */
  expires_in: number;
  token_type: string;
}

/** Audio, video and screen flags of a call, as invitations carry them. */
export interface MediaTypes {
  audio?: boolean;
  video?: boolean;
  screen?: boolean;
}

/** An ICE server for RTCPeerConnection, as the room object lists them. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** The room object the server answers createRoom, joinRoom and invitations with. */
export interface RoomObject {
  id: string;
  uuid: string;
  /** The room's id in every signaling request. */
  room: string;
  owner: string;
  record: boolean;
  /** The numeric Janus VideoRoom room id, as a string. */
  number: string;
  sipUri: string;
  bitrate: number;
  serverUuid: string;
  /** The media node's Janus API: `wss` WebSocket, `https` HTTP. */
  server: { https: string; wss: string };
  timestamp: number;
  participantsLimit: number;
  ice: IceServer[];
  /** This user's grant for the room's media. */
  token: string;
  /** The room's ACL (user ids). */
  participants: string[];
  /** Users in the room now. */
  joined?: string[];
  participantsDetails?: Participant[];
}

/** A user in a room. */
export interface Participant {
  id: string;
  username: string;
  domain: string;
  sessions: string[];
  joined: number;
  hold: boolean;
}

/** Who placed an invitation, as the server describes the caller. */
export interface FromDetails {
  contactName: string;
  displayName: string;
  username: string;
}

/** The server's "session" event: which session (device) this connection is. */
export interface SessionInfo {
  session: string;
  user: string;
  username: string;
  domain: string;
  role: 'admin' | 'user' | 'anonymous';
  node: string;
  resumed: boolean;
  removeAfter: number;
}

export interface Domain {
  id: string;
  parent: string | null;
  domain: string;
  origins: string[];
  enableAnonymous: boolean;
  anonymousExpiration: number;
  anonymousCapabilities: string[];
  services: Record<string, string[]>;
  created: number;
  updated: number;
}

export interface User {
  id: string;
  domain: string;
  username: string;
  email?: string;
  role: 'admin' | 'user' | 'anonymous';
  capabilities?: string[];
  mobilePhone?: string[];
  landLineNumber?: string;
  alias?: string;
  created?: number;
  lastLogin?: number;
  uri: string;
}

/** The fields of POST /sapi/users and PATCH /sapi/users/{id}. */
export interface UserInput {
  domain?: string;
  username?: string;
  email?: string;
  role?: 'admin' | 'user';
  capabilities?: string[];
  mobilePhone?: string[];
  landLineNumber?: string;
  alias?: string;
  /** POST only: also creates the user's password credential. */
  password?: string;
}

export interface Group {
  id: string;
  name: string;
  domain: string;
  owner: string;
  participants: string[];
  /** `wac-group:<id>`, callable with an invitation. */
  uri: string;
  created: number;
  updated: number;
}

/** A meeting participant: exactly one of user, email and phone. */
export interface MeetingParticipant {
  type?: 'user' | 'email' | 'phone';
  /** A user id (in requests also a username, username@domain or alias). */
  user?: string;
  username?: string;
  email?: string;
  phone?: string;
}

/** A scheduled meeting (GET /sapi/meetings). */
export interface Meeting {
  id: string;
  name: string;
  description: string;
  domain: string;
  /** The owner's user id. */
  user: string;
  validSince: number;
  validUntil: number;
  language: string;
  participants: MeetingParticipant[];
  users: string[];
  /** The link that opens the meeting in the web app. */
  url: string;
  /** `wac-meeting:<id>`, for Wac.joinMeeting. */
  uri: string;
  ddi?: { extension: string; pin: string };
  sequence: number;
  created: number;
  updated: number;
}

/** What scheduling or changing a meeting sends. */
export interface MeetingInput {
  name?: string;
  description?: string;
  validSince?: number;
  validUntil?: number;
  language?: string;
  participants?: MeetingParticipant[];
}

export interface Credential {
  id: string;
  source: string;
  type: string;
  context: Record<string, unknown>;
  domain: string;
  user: string | null;
  holder?: string;
  data: Record<string, unknown>;
  lease: number;
  created: number;
  updated: number;
}

export interface CredentialInput {
  source?: string;
  type: string;
  context?: Record<string, unknown>;
  domain?: string;
  user?: string;
  data?: Record<string, unknown>;
  lease?: number;
}

/** A live signaling session (a device). */
export interface Session {
  id: string;
  user: string;
  username: string;
  domain: string;
  role: string;
  node: string;
  connected: boolean;
  created: number;
  userAgent: string;
  language: string;
  location: string;
  platform: string;
  deviceId: string;
}

export interface Alarm {
  id: string;
  type: string;
  domain: string;
  user: string;
  message: string;
  data: Record<string, unknown>;
  created: number;
}

export interface Capabilities {
  domain: string[];
  user: string[];
  capabilities: string[];
}

export interface Permission {
  receiveCalls: { enabled: boolean; inherited?: boolean };
}

/** The record of one room: GET /sapi/calls. */
export interface CallRecord {
  id: string;
  room: string;
  /** The room's owner; empty when rooms have no owner (rooms.setOwner false, quick conferences). */
  owner: string;
  /** The id of the user who created the room: who started the call or the conference. */
  creator: string;
  created: number;
  /** 0 while the room exists. */
  finished: number;
  domains: string[];
  participants: { user: string; session: string; joined: number; left: number; code: number }[];
  invites: {
    id: string;
    kind: string;
    /** The caller's user id. */
    from: string;
    /** The user ids of those rung, comma-separated. */
    to: string;
    /** What the caller dialled (a username, alias, number or group): not a user id. */
    target: string;
    state: 'ringing' | 'accepted' | 'completed' | 'declined' | 'cancelled' | 'timeout' | 'failed';
    code: number;
    by: string;
    created: number;
    ended: number;
  }[];
  transfers: { id: string; kind: 'blind' | 'attended'; by: string; participant: string; to: string; state: string }[];
}
