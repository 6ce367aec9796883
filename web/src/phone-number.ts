// Phone numbers: what the app sends to the phone network (the server's
// trunk, docs/sip.md) and how it names phones in the history.

/** The characters a dial pad has. */
export const DIAL_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

/**
 * The number a text is, when it looks like a phone number: an optional
 * leading +, then digits, * and # (at least one digit, at most 32), with
 * spaces, dashes, dots and parentheses allowed and dropped. A tel: URI
 * counts by its number. Anything else (a name, user@domain) is null.
 */
export function phoneNumber(text: string): string | null {
  const n = text.trim().replace(/^tel:/i, '').replace(/[\s\-.()]/g, '');
  return /^\+?[0-9*#]{1,32}$/.test(n) && /[0-9]/.test(n) ? n : null;
}

/** The invitation target of a number: tel:<number>. */
export function telUri(number: string): string {
  return `tel:${number}`;
}

/**
 * The participant id the server gives a phone number ("phone-" and the
 * number, a leading + as 00; the number's hex when it holds more than
 * digits), as internal/qss/invites.PhoneUser makes it.
 */
export function phoneUserId(number: string): string {
  let id = number.startsWith('+') ? `00${number.slice(1)}` : number;
  if (!/^[0-9]+$/.test(id)) id = 'x' + Array.from(new TextEncoder().encode(number), (b) => b.toString(16).padStart(2, '0')).join('');
  return `phone-${id}`;
}

/**
 * The number an invitation's tel: target dials, as the server reads it
 * (without the scheme, an @host or ;parameters), or null for another target.
 */
export function numberOfTarget(target: string): string | null {
  if (!/^tel:/i.test(target)) return null;
  const n = target.slice(4).split('@')[0].split(';')[0];
  return n || null;
}

/** Whether a participant or caller id is a phone's. */
export function isPhoneId(id: string): boolean {
  return id.startsWith('phone-');
}

/** The number of a phone's participant id (the inverse of phoneUserId; + reads 00). */
export function numberOfPhoneId(id: string): string {
  const rest = id.slice('phone-'.length);
  if (!rest.startsWith('x')) return rest;
  const bytes = rest.slice(1).match(/../g)?.map((b) => parseInt(b, 16)) ?? [];
  return new TextDecoder().decode(new Uint8Array(bytes));
}
