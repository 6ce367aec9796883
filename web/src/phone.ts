// The phone: places calls, rings for incoming ones (on every device of the
// user), and shows the call screen of the call in progress.
import {
  MediaError, type Conference, type IncomingInvitation, type IncomingInviteRequest, type IncomingRequest,
  type IncomingState, type OutgoingCall, type Wac,
} from '@openwac/sdk';
import { describeError } from './messages';
import { Ringtone } from './ringtone';
import { CallScreen } from './views/call-screen';
import { incomingDialog } from './views/incoming';

export class Phone {
  private screen: CallScreen | null = null;
  private ringing = new Map<IncomingRequest, HTMLElement>();
  private ringtone = new Ringtone();
  private names = new Map<string, string>();

  constructor(
    private readonly wac: Wac,
    /** Where the call screen and incoming dialogs go. */
    private readonly layer: HTMLElement,
    private readonly notify: (message: string, kind?: 'info' | 'error') => void,
    /** The domain guests may join conferences of (enableAnonymous), if any. */
    private readonly guestDomain?: string,
  ) {
    wac.on('invitation', (inv) => this.ring(inv, 'call'));
    wac.on('inviteRequest', (req) => this.ring(req, 'request'));
    wac.on('attendedTransfer', (t) => {
      const screen = this.open('Transferred call');
      t.accept({ audio: true, video: true }).then((c) => screen.attach(c), (err: unknown) => screen.finish(describeError(err), 'error'));
    });
  }

  /** Whether a call is on screen. */
  get busy(): boolean {
    return this.screen !== null;
  }

  /** Calls someone by name, alias, number or group. */
  async call(to: string, video: boolean): Promise<void> {
    if (this.screen) {
      this.notify('Hang up the current call first.', 'error');
      return;
    }
    const label = to.startsWith('tel:') ? to.slice(4) : to;
    const screen = this.open(label);
    screen.setStatus(`Calling ${label}…`);
    let placed: OutgoingCall;
    try {
      placed = await this.wac.call(to, { audio: true, video });
    } catch (err) {
      if (video && err instanceof MediaError && err.reason === 'no-device' && !screen.abandoned) {
        this.notify('No camera was found: calling with audio only.');
        try {
          placed = await this.wac.call(to, { audio: true, video: false });
        } catch (err2) {
          screen.finish(describeError(err2), 'error');
          return;
        }
      } else {
        screen.finish(screen.abandoned ? '' : describeError(err), 'error');
        return;
      }
    }
    if (screen.abandoned) {
      await placed.conference.destroy().catch(() => undefined);
      return;
    }
    screen.attach(placed.conference, placed.invitation);
  }

  /** Joins the quick conference of a URI. */
  async joinConference(uri: string): Promise<void> {
    if (this.screen) {
      this.notify('Hang up the current call first.', 'error');
      return;
    }
    const meeting = uri.startsWith('wac-meeting:');
    const screen = this.open(meeting ? 'Meeting' : 'Conference', uri);
    screen.setStatus(meeting ? 'Joining the meeting…' : 'Joining the conference…');
    let conference: Conference;
    try {
      conference = await this.joinWithFallback((media) => meeting ? this.wac.joinMeeting(uri, media) : this.wac.quickConference(uri, media));
    } catch (err) {
      screen.finish(describeError(err), 'error');
      return;
    }
    if (screen.abandoned) {
      await conference.leave().catch(() => undefined);
      return;
    }
    screen.attach(conference);
  }

  private open(title: string, conferenceUri?: string): CallScreen {
    const screen = new CallScreen({
      wac: this.wac,
      title,
      conferenceUri,
      guestDomain: this.guestDomain,
      names: this.names,
      onEnd: (message, kind) => {
        if (this.screen === screen) this.screen = null;
        document.body.classList.remove('in-call');
        if (message) this.notify(message, kind);
      },
    });
    this.screen = screen;
    document.body.classList.add('in-call');
    this.layer.prepend(screen.el);
    return screen;
  }

  /** Joins with the camera, or with the microphone only when there is no camera. */
  private async joinWithFallback<T>(join: (media: { audio: boolean; video: boolean }) => Promise<T>, video = true): Promise<T> {
    try {
      return await join({ audio: true, video });
    } catch (err) {
      if (!video || !(err instanceof MediaError) || err.reason !== 'no-device') throw err;
      this.notify('No camera was found: joining with audio only.');
      return join({ audio: true, video: false });
    }
  }

  private ring(req: IncomingInvitation | IncomingInviteRequest, kind: 'call' | 'request'): void {
    this.names.set(req.from, req.callerName);
    const answer = async (video: boolean) => {
      this.stopRinging(req);
      if (this.screen) await this.screen.hangUp();
      const screen = this.open(req.callerName);
      screen.setStatus('Answering…');
      try {
        const conference = await this.joinWithFallback((media) => kind === 'call'
          ? this.wac.accept(req as IncomingInvitation, media)
          : this.wac.acceptInviteRequest(req as IncomingInviteRequest, media), video);
        screen.attach(conference);
      } catch (err) {
        screen.finish(describeError(err), 'error');
      }
    };
    const dialog = incomingDialog(req, kind, (c) => void answer(c.video), () => {
      req.decline(603);
      this.stopRinging(req);
    });
    req.on('ended', (state) => {
      if (!this.ringing.has(req)) return;
      this.stopRinging(req);
      const text = endedText(state, req.callerName);
      if (text) this.notify(text);
    });
    this.ringing.set(req, dialog);
    this.layer.append(dialog);
    this.ringtone.start();
  }

  private stopRinging(req: IncomingRequest): void {
    this.ringing.get(req)?.remove();
    this.ringing.delete(req);
    if (this.ringing.size === 0) this.ringtone.stop();
  }
}

function endedText(state: IncomingState, caller: string): string {
  switch (state) {
    case 'answeredElsewhere':
      return `The call from ${caller} was answered on another device.`;
    case 'cancelled':
    case 'timeout':
      return `Missed call from ${caller}.`;
    case 'failed':
      return `The call from ${caller} could not be answered.`;
    default:
      return '';
  }
}
