// Meetings: schedule one (name, start, length, participants), list those
// one owns or is invited to, copy a meeting's link, join, cancel.
import type { Meeting, MeetingParticipant } from '@openwac/sdk';
import type { App } from '../app';
import { dateTime, field, h, replace } from '../dom';
import { describeError } from '../messages';
import { navigate } from '../router';

/** Reads "bob, ana@example.org, +34600000001" as participants. */
export function parseParticipants(text: string): MeetingParticipant[] {
  return text.split(/[,;\n]/).map((s) => s.trim()).filter(Boolean).map((s) => {
    if (/^\+?[0-9 ]{6,}$/.test(s)) return { phone: s.replace(/ /g, '') };
    if (/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(s)) return { email: s };
    return { user: s };
  });
}

/** A datetime-local value for a time. */
function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export function meetingsView(app: App): HTMLElement {
  const name = h('input', { type: 'text', required: true, maxLength: 128, autocomplete: 'off' });
  const start = h('input', { type: 'datetime-local', required: true, value: localInput(Date.now() + 5 * 60000) });
  const minutes = h('input', { type: 'number', required: true, min: '5', max: '10080', step: '5', value: '60' });
  const who = h('textarea', { rows: 2, placeholder: 'bob, ana@example.org, +34600000001' });
  const language = h('select', {}, h('option', { value: '' }, 'English'), h('option', { value: 'es' }, 'Español'));
  const list = h('div', { 'aria-busy': 'true' }, h('p', { className: 'muted' }, 'Loading…'));
  const load = () => {
    app.wac.api.meetings.list({ from: Date.now() - 24 * 3600000 }).then((ms) => {
      list.removeAttribute('aria-busy');
      if (ms.length === 0) {
        replace(list, h('p', { className: 'muted' }, 'No meetings to come.'));
        return;
      }
      replace(list, h('ul', { className: 'meetings', 'aria-label': 'Meetings' }, ...ms.map((m) => row(app, m, load))));
    }, (err: unknown) => {
      list.removeAttribute('aria-busy');
      replace(list, h('p', { className: 'error', role: 'alert' }, `The meetings cannot be loaded: ${describeError(err)}`));
    });
  };
  const form = h('form', {
    className: 'card',
    'aria-labelledby': 'schedule-title',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      const since = new Date(start.value).getTime();
      if (Number.isNaN(since)) {
        app.notify('Give the meeting a start.', 'error');
        return;
      }
      app.wac.api.meetings.create({
        name: name.value.trim(), validSince: since, validUntil: since + Number(minutes.value) * 60000,
        language: language.value, participants: parseParticipants(who.value),
      }).then((m) => {
        app.notify(`Meeting “${m.name}” scheduled; the participants with an email get an invitation.`);
        name.value = '';
        who.value = '';
        load();
      }, (err: unknown) => app.notify(`The meeting was not scheduled: ${describeError(err)}`, 'error'));
    },
  },
  h('h2', { id: 'schedule-title' }, 'Schedule a meeting'),
  field('Name', name),
  field('Starts', start),
  field('Minutes', minutes),
  field('Participants (users, emails, phone numbers)', who),
  field('Invitation language', language),
  h('button', { type: 'submit', className: 'primary' }, 'Schedule'));
  load();
  return h('div', { className: 'columns' }, form,
    h('section', { className: 'card', 'aria-labelledby': 'meetings-title' }, h('h2', { id: 'meetings-title' }, 'Meetings'), list));
}

function row(app: App, m: Meeting, reload: () => void): HTMLElement {
  const now = Date.now();
  const open = now >= m.validSince && now < m.validUntil;
  const link = m.url.startsWith('http') ? m.url : location.origin + m.url;
  const people = m.participants.map((p) => p.username ?? p.email ?? p.phone ?? '').filter(Boolean).join(', ');
  return h('li', { className: 'meeting' },
    h('div', {},
      h('strong', {}, m.name), ' ',
      h('small', {}, `${dateTime(m.validSince)} – ${new Date(m.validUntil).toLocaleTimeString()}`),
      people ? h('div', { className: 'muted' }, people) : null,
      m.ddi ? h('div', { className: 'muted' }, `Dial ${m.ddi.extension}, PIN ${m.ddi.pin}`) : null),
    h('div', { className: 'actions' },
      h('button', {
        type: 'button', 'aria-label': `Copy the link of ${m.name}`,
        onclick: () => void navigator.clipboard.writeText(link).then(() => app.notify('Link copied.'), () => app.notify(link)),
      }, 'Copy link'),
      h('button', {
        type: 'button', className: 'primary', disabled: !open, 'aria-label': `Join ${m.name}`,
        title: open ? '' : 'Opens at the meeting\'s start', onclick: () => navigate(`/meeting/${m.id}`),
      }, 'Join'),
      m.user === app.me.id || app.isAdmin ? h('button', {
        type: 'button', className: 'danger', 'aria-label': `Cancel ${m.name}`,
        onclick: () => {
          if (!confirm(`Cancel “${m.name}”? The participants get a cancellation.`)) return;
          app.wac.api.meetings.remove(m.id).then(reload, (err: unknown) => app.notify(describeError(err), 'error'));
        },
      }, 'Cancel') : null));
}
