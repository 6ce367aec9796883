/** A map of event names to the arguments their listeners receive. */
export type EventMap = {
    [name: string]: unknown[];
};
/** A listener of one event of an {@link Emitter}. */
export type Listener<A extends unknown[]> = (...args: A) => void;
/**
 * A small typed event emitter. Listeners run in the order they were added;
 * one that throws does not stop the others (the error is reported with
 * `reportError` where the platform has it).
 */
export declare class Emitter<E extends EventMap> {
    private listeners;
    /** Adds a listener; returns a function that removes it. */
    on<K extends keyof E>(name: K, listener: Listener<E[K]>): () => void;
    /** Adds a listener called at most once. */
    once<K extends keyof E>(name: K, listener: Listener<E[K]>): () => void;
    /** Removes a listener. */
    off<K extends keyof E>(name: K, listener: Listener<E[K]>): void;
    /** Removes every listener. */
    removeAllListeners(): void;
    protected emit<K extends keyof E>(name: K, ...args: E[K]): void;
}
/** The object without its undefined fields, so that spreading it keeps defaults. */
export declare function defined<T extends object>(o: T): Partial<T>;
