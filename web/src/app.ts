// What every view gets: the logged-in client and the app's services.
import type { User, Wac } from '@openwac/sdk';

export interface App {
  wac: Wac;
  /** The logged-in user (for anonymous guests, what the session says). */
  me: User;
  anonymous: boolean;
  isAdmin: boolean;
  /** Shows a message in the notice area; errors are announced at once. */
  notify(message: string, kind?: 'info' | 'error'): void;
  /** The users of one's domain by id (cached), to name ids in calls and history. */
  directory(): Promise<Map<string, User>>;
  call(to: string, video: boolean): void;
  joinConference(uri: string): void;
}
