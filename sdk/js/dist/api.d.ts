import { Emitter } from './emitter';
import type { Alarm, CallRecord, Capabilities, Credential, CredentialInput, Domain, Group, Meeting, MeetingInput, Permission, Session, Tokens, User, UserInput } from './types';
/** The fetch function the client uses (the global one by default). */
export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;
export type ApiEvents = {
    /** New tokens: after a login or a refresh (apps may keep them to restore the login). */
    tokens: [Tokens];
    /** The login ended: logged out, or the tokens expired and could not be refreshed. */
    loggedOut: [reason: string];
};
/** Options of {@link Api}. */
export interface ApiOptions {
    fetch?: FetchFn;
    /** Refresh this many seconds before the access token expires (default 60). */
    refreshMargin?: number;
}
/**
 * The REST API (SAPI) of one server for one login: tokens (password and
 * anonymous logins, refresh before expiry, logout) and typed calls of every
 * resource.
 */
export declare class Api extends Emitter<ApiEvents> {
    /** The server's base URL, e.g. `http://127.0.0.1:8000`. */
    readonly server: string;
    private readonly fetchFn;
    private readonly refreshMargin;
    private current;
    private refreshTimer;
    private refreshing;
    private expiresAt;
    constructor(server: string, options?: ApiOptions);
    /** The current tokens (null before login and after logout). */
    get tokens(): Tokens | null;
    /** The current access token, or "" when logged out. */
    get accessToken(): string;
    /** Logs in with a password; `username` is `user@domain` (a bare name means the default domain). */
    login(username: string, password: string): Promise<Tokens>;
    /** Logs in as an anonymous visitor of a domain that allows it. */
    loginAnonymous(domain: string): Promise<Tokens>;
    /** Uses tokens kept from an earlier login (refreshing them at once if they expired). */
    restore(tokens: Tokens, obtainedAt: number): Promise<void>;
    /** Exchanges the refresh token for new tokens (the signaling session stays). */
    refresh(): Promise<void>;
    /** Makes sure the access token is valid for a while, refreshing it if needed. */
    fresh(): Promise<string>;
    /** Ends the login on the server (the grant and its sessions end too). */
    logout(): Promise<void>;
    /**
     * Calls the REST API with the access token. Errors are {@link ApiError}s;
     * a 401 is retried once after a refresh.
     */
    request<T>(method: string, path: string, body?: unknown): Promise<T>;
    private grant;
    private doRefresh;
    private setTokens;
    private drop;
    private send;
    private decode;
    /** Users: the directory of one's domain (users), or the users an admin administers. */
    readonly users: {
        list: (query?: {
            search?: string;
            domain?: string;
            role?: string;
            limit?: number;
            offset?: number;
        }) => Promise<User[]>;
        me: () => Promise<User>;
        get: (id: string) => Promise<User>;
        resolve: (target: string) => Promise<User>;
        create: (user: UserInput) => Promise<User>;
        update: (id: string, fields: UserInput) => Promise<User>;
        remove: (id: string) => Promise<void>;
    };
    readonly domains: {
        list: () => Promise<Domain[]>;
        get: (id: string) => Promise<Domain>;
        create: (domain: Partial<Domain> & {
            domain: string;
        }) => Promise<Domain>;
        replace: (id: string, domain: Partial<Domain> & {
            domain: string;
        }) => Promise<Domain>;
        remove: (id: string) => Promise<void>;
    };
    /** Hunt groups (usersGroup). */
    readonly groups: {
        list: (mine?: boolean) => Promise<Group[]>;
        get: (id: string) => Promise<Group>;
        create: (group: {
            name: string;
            domain?: string;
            participants?: string[];
        }) => Promise<Group>;
        update: (id: string, group: {
            name?: string;
            owner?: string;
            participants?: string[];
        }) => Promise<Group>;
        addParticipants: (id: string, participants: string[]) => Promise<Group>;
        removeParticipants: (id: string, participants: string[]) => Promise<Group>;
        leave: (id: string) => Promise<void>;
        remove: (id: string) => Promise<void>;
    };
    /** Scheduled meetings: those one owns or is invited to (admins: their domains'). */
    readonly meetings: {
        list: (query?: {
            user?: string;
            from?: number;
            to?: number;
            limit?: number;
            offset?: number;
        }) => Promise<Meeting[]>;
        get: (id: string) => Promise<Meeting>;
        create: (meeting: MeetingInput & {
            name: string;
            validSince: number;
            validUntil: number;
        }) => Promise<Meeting>;
        update: (id: string, meeting: MeetingInput) => Promise<Meeting>;
        remove: (id: string) => Promise<void>;
    };
    /** Call history. */
    readonly calls: {
        list: (query?: {
            user?: string;
            limit?: number;
            offset?: number;
        }) => Promise<CallRecord[]>;
        get: (id: string) => Promise<CallRecord>;
    };
    /** Live signaling sessions (devices). */
    readonly sessions: {
        list: (user?: string) => Promise<Session[]>;
        end: (id: string) => Promise<void>;
    };
    readonly credentials: {
        list: (user?: string) => Promise<Credential[]>;
        create: (credential: CredentialInput) => Promise<Credential>;
        replace: (id: string, credential: CredentialInput) => Promise<Credential>;
        remove: (id: string) => Promise<void>;
    };
    /** The receiveCalls permission of users and domains. */
    readonly permissions: {
        user: (id: string) => Promise<Permission>;
        setUser: (id: string, receiveCalls: boolean) => Promise<Permission>;
        domain: (id: string) => Promise<Permission>;
        setDomain: (id: string, receiveCalls: boolean) => Promise<Permission>;
    };
    readonly capabilities: () => Promise<Capabilities>;
    readonly alarms: {
        list: (query?: {
            limit?: number;
            offset?: number;
        }) => Promise<Alarm[]>;
    };
}
