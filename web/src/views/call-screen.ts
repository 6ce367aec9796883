// The call screen: remote and local video, the participants, and the call
// controls (mute, camera, screen, hold, add participant, transfer, hang up).
import type { Conference, OutgoingInvitation, Participant, RemoteStream, Wac } from '@openwac/sdk';
import { duration, field, h, replace } from '../dom';
import { callStateText, describeError } from '../messages';

export interface CallScreenOptions {
  /** The client: the room's recording events and requests go through its signaling. */
  wac: Wac;
  /** The title: the callee's or caller's name, or "Conference". */
  title: string;
  /** The quick conference URI, for the link to share. */
  conferenceUri?: string;
  /** The domain whose guests the link lets in without an account (the link names it). */
  guestDomain?: string;
  /** Called with the message to show when the call is over. */
  onEnd: (message: string, kind: 'info' | 'error') => void;
  /** Names of users by id, to name participants before their events arrive. */
  names: Map<string, string>;
}

/** How long a transferred call waits alone for the new participant. */
const TRANSFER_JOIN_MS = 30_000;

/** One call on screen. `attach` gives it its conference once the call is set up. */
export class CallScreen {
  readonly el: HTMLElement;
  private conference: Conference | null = null;
  private status = h('p', { className: 'call-status', role: 'status' }, 'Starting…');
  private timer = h('span', { className: 'call-timer', 'aria-label': 'Call duration' });
  /** Shown while the room is recorded: everyone in it sees it. */
  private recIndicator = h('span', { className: 'rec-indicator', role: 'status', hidden: true, title: 'This call is being recorded' },
    h('span', { className: 'rec-dot', 'aria-hidden': 'true' }), 'Recording');
  private recording = false;
  /** The number phones dial to join the room (its sipUri), once known. */
  private dialIn = h('p', { className: 'dial-in muted', hidden: true });
  private offRecording: (() => void) | null = null;
  private stage = h('div', { className: 'stage' });
  private self = h('video', { className: 'self-view', muted: true, autoplay: true, playsInline: true, 'aria-label': 'Your camera' });
  private panel = h('div', { className: 'call-panel' });
  private tiles = new Map<string, HTMLElement>();
  /** The tile key each remote feed is shown in. */
  private feedTiles = new Map<number, string>();
  private buttons: Record<string, HTMLButtonElement> = {};
  private everConnected = false;
  private startedAt = 0;
  private clock: ReturnType<typeof setInterval> | undefined;
  private done = false;
  private hangingUp = false;
  /** Invitations whose failure the user was told about. */
  private reported = new WeakSet<OutgoingInvitation>();
  /**
   * While someone we were transferred to has not joined yet: the
   * transferor leaves first, and being alone then is not the end.
   */
  private transferee: { id: string; timer: ReturnType<typeof setTimeout> | undefined } | null = null;

  constructor(private readonly opts: CallScreenOptions) {
    const b = (key: string, label: string, onclick: () => void, cls = '') => {
      const btn = h('button', { type: 'button', className: `ctl ${cls}`, onclick, disabled: key !== 'hangup' }, label);
      this.buttons[key] = btn;
      return btn;
    };
    this.el = h('section', { className: 'call', 'aria-label': `Call: ${opts.title}` },
      h('header', { className: 'call-head' },
        h('h2', {}, opts.title),
        this.recIndicator,
        this.status,
        this.timer,
        opts.conferenceUri ? this.shareLink(opts.conferenceUri) : null,
        this.dialIn),
      this.stage,
      this.self,
      this.panel,
      h('div', { className: 'controls', role: 'toolbar', 'aria-label': 'Call controls' },
        b('mute', 'Mute', () => this.toggleMute()),
        b('camera', 'Camera off', () => this.toggleCamera()),
        b('screen', 'Share screen', () => void this.toggleScreen()),
        b('hold', 'Hold', () => void this.toggleHold()),
        b('add', 'Add participant', () => this.showForm('add')),
        b('transfer', 'Transfer', () => this.showForm('transfer')),
        b('record', 'Record', () => void this.toggleRecording()),
        b('hangup', 'Hang up', () => void this.hangUp(), 'danger')));
  }

  /** Shows a status line (while the call is being set up). */
  setStatus(text: string): void {
    this.status.textContent = text;
  }

  /** Whether the user asked to hang up before the call was set up. */
  get abandoned(): boolean {
    return this.hangingUp && !this.conference;
  }

  /** Binds the screen to its conference. */
  attach(conference: Conference, invitation?: OutgoingInvitation): void {
    this.conference = conference;
    for (const btn of Object.values(this.buttons)) btn.disabled = false;
    // sip:888<number>@host: a phone dials the user part (docs/sip.md).
    const dial = /^sips?:([^@;]+)@/.exec(conference.room.sipUri ?? '');
    if (dial) {
      this.dialIn.replaceChildren('Phones join by dialling ', h('code', {}, dial[1]), '.');
      this.dialIn.hidden = false;
    }
    this.setRecording(Boolean(conference.room.record));
    // recordingStarted and recordingStopped reach everyone in the room;
    // roomUpdated carries the flag too.
    this.offRecording = this.opts.wac.signaling.on('event', (name, payload) => {
      const p = payload as { room?: string; record?: boolean; reason?: string; username?: string };
      if (p.room !== conference.id) return;
      if (name === 'recordingStarted' || name === 'recordingStopped' || name === 'roomUpdated') {
        const was = this.recording;
        this.setRecording(Boolean(p.record));
        if (name === 'recordingStopped' && was && p.reason && !p.reason.startsWith('stopped by')) {
          this.setStatus(`The recording stopped: ${p.reason}.`);
        }
      }
    });
    for (const l of conference.localStreams) if (l.kind === 'camera') this.self.srcObject = l.stream;
    conference.on('localStreamAdded', (l) => {
      if (l.kind === 'camera') this.self.srcObject = l.stream;
    });
    for (const r of conference.remoteStreams) this.addStream(r);
    conference.on('remoteStreamAdded', (r) => this.addStream(r));
    conference.on('remoteStreamRemove', (r) => {
      this.removeTile(this.tileKey(r));
      this.feedTiles.delete(r.feed);
    });
    const syncParticipants = (list: Participant[]) => {
      for (const p of list) {
        this.opts.names.set(p.id, p.username);
        this.tile(p.id, p.username).classList.toggle('held', p.hold);
      }
      const t = this.transferee;
      if (t && list.some((p) => p.id === t.id || t.id === '')) this.stopWaitingForTransferee();
      for (const key of [...this.tiles.keys()]) {
        if (!key.startsWith('screen:') && !list.some((p) => p.id === key) && !this.hasStream(key)) this.removeTile(key);
      }
      // A feed published without an owner (a phone's, docs/sip.md) moves
      // into its participant's tile once the participant is known.
      for (const r of conference.remoteStreams) if (!r.participant && this.feedTiles.get(r.feed) !== this.tileKey(r)) this.addStream(r);
      if (list.length > 0) this.connected();
      this.updateStatus();
    };
    syncParticipants(conference.remoteParticipants);
    conference.on('remoteParticipants', syncParticipants);
    conference.on('participantHold', (p) => this.setStatus(`${p.username || 'A participant'} put the call on hold.`));
    conference.on('participantUnhold', () => this.updateStatus());
    conference.on('participantRemoved', (p) => {
      this.removeTile(p.participant);
      this.afterDeparture(p.username || this.opts.names.get(p.participant) || 'The other participant', p.code, p.reason);
    });
    conference.on('transferCompleted', (t) => {
      if (conference.remoteParticipants.some((p) => p.id === t.to)) return;
      this.stopWaitingForTransferee();
      this.transferee = { id: t.to, timer: undefined };
    });
    const syncInvitations = (invs: OutgoingInvitation[]) => {
      this.updateStatus();
      for (const inv of invs) {
        if (!inv.pending && inv.state !== 'accepted' && !this.reported.has(inv)) {
          this.reported.add(inv);
          this.afterInvitationFailed(inv);
        }
      }
    };
    conference.on('outgoingInvitations', syncInvitations);
    conference.on('destroyed', (d) => {
      if (this.hangingUp) return; // we destroyed it: hangUp or endAlone tells why
      const who = this.opts.names.get(d.by);
      this.finish(who ? `${who} ended the call.` : 'The call ended.', 'info');
    });
    conference.on('expelled', (e) => this.finish(`${e.username || 'Someone'} removed you from the call.`, 'info'));
    conference.on('transferError', (t) => this.setStatus(`The transfer failed (${t.code}).`));
    conference.on('muteRequest', (m) => {
      if (m.mediatypes.audio !== false && !conference.audioMuted) this.toggleMute();
      this.setStatus(`${m.username} muted you.`);
    });
    conference.on('error', (e) => this.setStatus(describeError(e)));
    conference.on('status', (s) => {
      if (s === 'reconnecting') this.setStatus('The media connection was lost. Reconnecting…');
      else if (s === 'joined') this.updateStatus();
      else if (s === 'ended') this.finish('The connection was lost and the call ended.', 'error');
    });
    if (invitation) invitation.on('state', () => this.updateStatus());
    // An invitation may have ended while the call was being set up.
    syncInvitations(conference.outgoingInvitations);
  }

  /** Hangs up: a call of two (or one ringing) is destroyed, a conference is left. */
  async hangUp(): Promise<void> {
    this.hangingUp = true;
    const c = this.conference;
    if (!c) {
      this.finish('', 'info');
      return;
    }
    try {
      if (this.opts.conferenceUri || c.remoteParticipants.length > 1) await c.leave();
      else await c.destroy();
    } catch (err) {
      this.finish(`The call ended, but the server was not told: ${describeError(err)}`, 'error');
      return;
    }
    this.finish('', 'info');
  }

  /** Removes the screen and tells why (an empty message: nothing to tell). */
  finish(message: string, kind: 'info' | 'error'): void {
    if (this.done) return;
    this.done = true;
    this.offRecording?.();
    clearInterval(this.clock);
    this.stopWaitingForTransferee();
    if (this.conference && !this.conference.ended) void this.conference.leave().catch(() => undefined);
    for (const v of this.el.querySelectorAll('video')) v.srcObject = null;
    this.el.remove();
    this.opts.onEnd(message, kind);
  }

  /** Shows whether the room is recorded, on the indicator and the button. */
  private setRecording(on: boolean): void {
    this.recording = on;
    this.recIndicator.hidden = !on;
    const btn = this.buttons.record;
    if (btn) {
      btn.textContent = on ? 'Stop recording' : 'Record';
      btn.setAttribute('aria-pressed', String(on));
    }
  }

  /** Starts or stops the room's recording (the recording capability). */
  private async toggleRecording(): Promise<void> {
    const c = this.conference;
    if (!c) return;
    const btn = this.buttons.record;
    btn.disabled = true;
    try {
      await this.opts.wac.signaling.request(this.recording ? 'stopRecording' : 'startRecording', { room: c.id });
    } catch (err) {
      this.setStatus(`The recording could not be ${this.recording ? 'stopped' : 'started'}: ${describeError(err)}`);
    } finally {
      btn.disabled = false;
    }
  }

  private shareLink(uri: string): HTMLElement {
    const guests = this.opts.guestDomain ? `?domain=${encodeURIComponent(this.opts.guestDomain)}` : '';
    const url = uri.startsWith('wac-meeting:')
      ? `${location.origin}/meeting/${uri.slice('wac-meeting:'.length)}${guests}`
      : `${location.origin}/conference/${uri}${guests}`;
    return h('p', { className: 'share' }, 'Invite others with this link: ',
      h('a', { href: url, target: '_blank', rel: 'noopener' }, url));
  }

  private connected(): void {
    if (this.everConnected) return;
    this.everConnected = true;
    this.startedAt = Date.now();
    this.clock = setInterval(() => {
      this.timer.textContent = duration(Date.now() - this.startedAt);
    }, 1000);
  }

  private updateStatus(): void {
    const c = this.conference;
    if (!c || this.done) return;
    const pending = c.outgoingInvitations.filter((i) => i.pending);
    if (c.held) this.setStatus('You put the call on hold.');
    else if (c.remoteParticipants.some((p) => p.hold)) this.setStatus('On hold.');
    else if (c.remoteParticipants.length > 0) this.setStatus(`In call with ${c.remoteParticipants.map((p) => p.username).join(', ')}`);
    else if (pending.length > 0) this.setStatus(callStateText(pending[0]!.state, pending[0]!.to));
    else this.setStatus(this.opts.conferenceUri ? 'Waiting for others to join…' : 'Connected.');
  }

  private afterDeparture(name: string, code: number, reason: string): void {
    const c = this.conference;
    if (!c || this.opts.conferenceUri) return;
    if (c.remoteParticipants.length === 0 && (this.transferee || reason === 'transferred')) {
      // Transferred: wait a while for the new participant to join.
      const who = this.transferee ? this.opts.names.get(this.transferee.id) : undefined;
      this.setStatus(`${name} transferred the call; waiting for ${who ?? 'the other person'} to join…`);
      this.transferee ??= { id: '', timer: undefined };
      clearTimeout(this.transferee.timer);
      this.transferee.timer = setTimeout(() => {
        if (this.conference?.remoteParticipants.length === 0 && !this.hangingUp) void this.endAlone(`${name} transferred the call, but nobody joined.`);
      }, TRANSFER_JOIN_MS);
      return;
    }
    if (c.remoteParticipants.length === 0 && !c.outgoingInvitations.some((i) => i.pending)) {
      void this.endAlone(code === 480 ? `${name}'s connection was lost.` : `${name} hung up.`);
    }
  }

  private stopWaitingForTransferee(): void {
    if (!this.transferee) return;
    clearTimeout(this.transferee.timer);
    this.transferee = null;
  }

  private afterInvitationFailed(inv: OutgoingInvitation): void {
    const c = this.conference;
    const text = callStateText(inv.state, inv.to);
    if (!c || this.opts.conferenceUri || c.remoteParticipants.length > 0 || c.outgoingInvitations.some((i) => i.pending)) {
      if (inv.state !== 'cancelled') this.setStatus(text);
      return;
    }
    if (!this.hangingUp) void this.endAlone(text, inv.state === 'failed' || inv.state === 'unreachable' ? 'error' : 'info');
  }

  /** Nobody else is left in a call: destroy the room and close. */
  private async endAlone(message: string, kind: 'info' | 'error' = 'info'): Promise<void> {
    this.hangingUp = true;
    await this.conference?.destroy().catch(() => undefined);
    this.finish(message, kind);
  }

  private tileKey(r: RemoteStream): string {
    return streamTileKey(r, this.conference?.remoteParticipants ?? []);
  }

  private hasStream(user: string): boolean {
    return this.conference?.remoteStreams.some((r) => r.participant === user && r.kind === 'camera') ?? false;
  }

  private tile(key: string, name: string): HTMLElement {
    let t = this.tiles.get(key);
    if (!t) {
      const video = h('video', { autoplay: true, playsInline: true });
      t = h('figure', { className: 'tile', 'data-key': key },
        video,
        h('figcaption', {}, name, h('span', { className: 'badge' }, 'on hold')));
      this.tiles.set(key, t);
      this.stage.append(t);
      this.stage.dataset.count = String(this.tiles.size);
    }
    return t;
  }

  private addStream(r: RemoteStream): void {
    const name = r.username || this.opts.names.get(r.participant) || 'Guest';
    const key = this.tileKey(r);
    const before = this.feedTiles.get(r.feed);
    if (before && before !== key) this.removeTile(before);
    this.feedTiles.set(r.feed, key);
    const t = this.tile(key, r.kind === 'screen' ? `${name} (screen)` : name);
    const video = t.querySelector('video') as HTMLVideoElement;
    video.srcObject = r.stream;
    video.play().catch(() => this.setStatus('Click anywhere to hear the call.'));
    t.classList.toggle('audio-only', r.stream.getVideoTracks().length === 0);
  }

  private removeTile(key: string): void {
    this.tiles.get(key)?.remove();
    this.tiles.delete(key);
    this.stage.dataset.count = String(this.tiles.size);
  }

  private toggleMute(): void {
    const c = this.conference;
    if (!c) return;
    c.muteAudio(!c.audioMuted);
    this.press('mute', c.audioMuted, 'Unmute', 'Mute');
  }

  private toggleCamera(): void {
    const c = this.conference;
    if (!c) return;
    c.muteVideo(!c.videoMuted);
    this.press('camera', c.videoMuted, 'Camera on', 'Camera off');
    this.self.classList.toggle('off', c.videoMuted);
  }

  private async toggleScreen(): Promise<void> {
    const c = this.conference;
    if (!c) return;
    const sharing = c.localStreams.some((l) => l.kind === 'screen');
    try {
      if (sharing) {
        c.stopScreenShare();
      } else {
        const local = await c.shareScreen();
        local.stream.getVideoTracks()[0]?.addEventListener('ended', () => this.press('screen', false, 'Stop sharing', 'Share screen'));
      }
      this.press('screen', !sharing, 'Stop sharing', 'Share screen');
    } catch (err) {
      this.setStatus(describeError(err));
    }
  }

  private async toggleHold(): Promise<void> {
    const c = this.conference;
    if (!c) return;
    try {
      if (c.held) await c.unhold();
      else await c.hold();
      this.press('hold', c.held, 'Resume', 'Hold');
      this.updateStatus();
    } catch (err) {
      this.setStatus(describeError(err));
    }
  }

  private press(key: string, pressed: boolean, on: string, off: string): void {
    const btn = this.buttons[key];
    if (!btn) return;
    btn.setAttribute('aria-pressed', String(pressed));
    btn.textContent = pressed ? on : off;
  }

  /** The inline form of "Add participant" and "Transfer". */
  private showForm(kind: 'add' | 'transfer'): void {
    const c = this.conference;
    if (!c) return;
    const input = h('input', { type: 'text', required: true, autocomplete: 'off', placeholder: 'username, user@domain or number' });
    const others = c.remoteParticipants;
    const who = h('select', {}, ...others.map((p) => h('option', { value: p.id }, p.username)));
    const cancel = () => replace(this.panel);
    const form = h('form', {
      className: 'inline-form',
      'aria-label': kind === 'add' ? 'Add a participant' : 'Transfer the call',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const to = input.value.trim();
        if (!to) return;
        cancel();
        if (kind === 'add') {
          c.invite(to, { audio: true, video: true });
          this.updateStatus();
        } else {
          this.setStatus(`Transferring to ${to}…`);
          c.transfer(who.value, to).then(
            () => this.finish(`The call was transferred to ${to}.`, 'info'),
            (err: unknown) => this.setStatus(`The transfer failed: ${describeError(err)}`));
        }
      },
    },
    kind === 'transfer' ? field('Participant to transfer', who) : null,
    field(kind === 'add' ? 'Invite' : 'Transfer to', input),
    h('button', { type: 'submit' }, kind === 'add' ? 'Invite' : 'Transfer'),
    h('button', { type: 'button', onclick: cancel }, 'Cancel'));
    if (kind === 'transfer' && others.length === 0) {
      this.setStatus('There is nobody to transfer.');
      return;
    }
    replace(this.panel, form);
    input.focus();
  }
}

/**
 * The tile of a remote stream: a screen's own, else its publisher's. A feed
 * without an owner in its Janus display (a phone, which publishes under its
 * number) goes to the participant of that username, when there is one.
 */
function streamTileKey(r: RemoteStream, participants: Participant[]): string {
  if (r.kind === 'screen') return `screen:${r.feed}`;
  if (r.participant) return r.participant;
  return participants.find((p) => p.username === r.username)?.id ?? `feed:${r.feed}`;
}
