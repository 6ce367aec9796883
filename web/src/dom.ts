// A small helper to build DOM trees without a framework.

export type Child = Node | string | number | null | undefined | false | Child[];
export type Props = Record<string, unknown>;

/**
 * Makes an element: props that are properties of the element (value,
 * checked, disabled, className ...) are set as such, `on<event>` functions
 * become listeners, everything else (aria-*, data-*, for) an attribute.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
    } else if (k in el && !k.includes('-')) {
      (el as unknown as Record<string, unknown>)[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(typeof c === 'number' ? String(c) : c);
  }
}

/** Replaces the children of an element. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A labelled form field: a label and its input, select or textarea. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint = ''): HTMLElement {
  control.id ||= 'f-' + Math.random().toString(36).slice(2, 9);
  return h('div', { className: 'field' },
    h('label', { htmlFor: control.id }, label),
    control,
    hint ? h('small', {}, hint) : null);
}

/** Formats unix milliseconds as a local date and time. */
export function dateTime(ms: number): string {
  return ms ? new Date(ms).toLocaleString() : '';
}

/** Formats a duration in ms as m:ss or h:mm:ss. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}
