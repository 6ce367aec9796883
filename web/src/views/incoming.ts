// The incoming call dialog: who calls, answer with or without video, decline.
import type { IncomingRequest } from '@openwac/sdk';
import { h } from '../dom';

export interface IncomingChoice {
  /** Answer with the camera (false: audio only). */
  video: boolean;
}

/**
 * Shows an incoming call or inviteRequest; `onAnswer` and `onDecline` are
 * called on the user's choice. The dialog goes away by itself when the
 * request stops ringing (answered on another device, cancelled, timed out).
 */
export function incomingDialog(req: IncomingRequest, kind: 'call' | 'request',
  onAnswer: (c: IncomingChoice) => void, onDecline: () => void): HTMLElement {
  const video = !!req.mediatypes.video;
  const id = `incoming-${req.requestID.replace(/[^a-zA-Z0-9-]/g, '')}`;
  const title = kind === 'call' ? `Incoming ${video ? 'video' : 'audio'} call` : 'Call request';
  const text = kind === 'call'
    ? `${req.callerName} is calling you${req.fromType === 'transfer' ? ' (transferred)' : req.fromType === 'phone' ? ' from a phone' : ''}.`
    : `${req.callerName} asks you to call${req.fromType === 'anonymous' ? ' (a guest)' : ''}.`;
  const answerVideo = h('button', { type: 'button', className: 'accept', onclick: () => onAnswer({ video: true }) }, 'Answer with video');
  const el = h('div', {
    className: 'incoming', role: 'alertdialog', 'aria-modal': 'false', 'aria-labelledby': `${id}-t`, 'aria-describedby': `${id}-d`,
    'data-ringing': 'true',
  },
  h('h2', { id: `${id}-t` }, title),
  h('p', { id: `${id}-d` }, text),
  h('div', { className: 'actions' },
    answerVideo,
    h('button', { type: 'button', className: 'accept', onclick: () => onAnswer({ video: false }) }, 'Answer audio only'),
    h('button', { type: 'button', className: 'danger', onclick: onDecline }, 'Decline')));
  queueMicrotask(() => answerVideo.focus());
  return el;
}
