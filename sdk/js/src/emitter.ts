/** A map of event names to the arguments their listeners receive. */
export type EventMap = { [name: string]: unknown[] };

/** A listener of one event of an {@link Emitter}. */
export type Listener<A extends unknown[]> = (...args: A) => void;

/**
 * A small typed event emitter. Listeners run in the order they were added;
 * one that throws does not stop the others (the error is reported with
 * `reportError` where the platform has it).
 */
export class Emitter<E extends EventMap> {
  private listeners = new Map<keyof E, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(name: K, listener: Listener<E[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(name, listener);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof E>(name: K, listener: Listener<E[K]>): () => void {
    const off = this.on(name, (...args) => {
      off();
      listener(...args);
    });
    return off;
  }

  /** Removes a listener. */
  off<K extends keyof E>(name: K, listener: Listener<E[K]>): void {
    this.listeners.get(name)?.delete(listener as Listener<never>);
  }

  /** Removes every listener. */
  removeAllListeners(): void {
    this.listeners.clear();
  }

  protected emit<K extends keyof E>(name: K, ...args: E[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as Listener<E[K]>)(...args);
      } catch (err) {
        if (typeof reportError === 'function') reportError(err);
        else setTimeout(() => { throw err; });
      }
    }
  }
}

/** The object without its undefined fields, so that spreading it keeps defaults. */
export function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
