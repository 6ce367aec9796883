// The ringtone: a two-tone ring (440 Hz + 480 Hz, two seconds on, four off)
// generated with WebAudio, so the app ships no sound file.

let ctx: AudioContext | null = null;

/** Prepares audio during a user gesture (a click), as browsers require. */
export function unlockAudio(): void {
  if (!ctx && typeof AudioContext !== 'undefined') ctx = new AudioContext();
  if (ctx?.state === 'suspended') void ctx.resume().catch(() => undefined);
}

/** A ringing sound that plays until stopped. */
export class Ringtone {
  private gain: GainNode | null = null;
  private oscillators: OscillatorNode[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;

  /** Whether it is ringing. */
  get playing(): boolean {
    return this.gain !== null;
  }

  start(): void {
    if (this.gain) return;
    unlockAudio();
    if (!ctx) return;
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    this.oscillators = [440, 480].map((f) => {
      const o = (ctx as AudioContext).createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
      return o;
    });
    this.gain = gain;
    const ring = () => {
      if (!ctx || !this.gain) return;
      const t = ctx.currentTime;
      this.gain.gain.setValueAtTime(0.12, t);
      this.gain.gain.setValueAtTime(0, t + 2);
    };
    ring();
    this.timer = setInterval(ring, 6000);
  }

  stop(): void {
    clearInterval(this.timer);
    for (const o of this.oscillators) o.stop();
    this.oscillators = [];
    this.gain?.disconnect();
    this.gain = null;
  }
}
