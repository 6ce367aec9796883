import { MediaError } from './errors';

/** What to capture: true, false, or a device id to use. */
export interface CaptureOptions {
  audio: boolean | string;
  video: boolean | string;
}

/** The media devices of the machine, by kind. */
export interface DeviceList {
  audioInputs: MediaDeviceInfo[];
  videoInputs: MediaDeviceInfo[];
  audioOutputs: MediaDeviceInfo[];
}

function mediaDevices(): MediaDevices {
  if (typeof navigator === 'undefined' || !navigator.mediaDevices) {
    throw new MediaError('unsupported', 'this browser cannot capture media (a secure origin, https or localhost, is needed)');
  }
  return navigator.mediaDevices;
}

/** Lists the cameras, microphones and speakers (labels appear once capture was allowed). */
export async function listDevices(): Promise<DeviceList> {
  const all = await mediaDevices().enumerateDevices();
  return {
    audioInputs: all.filter((d) => d.kind === 'audioinput'),
    videoInputs: all.filter((d) => d.kind === 'videoinput'),
    audioOutputs: all.filter((d) => d.kind === 'audiooutput'),
  };
}

function constraint(c: boolean | string): boolean | MediaTrackConstraints {
  return typeof c === 'string' ? { deviceId: { exact: c } } : c;
}

/** Captures the microphone and/or camera; failures are {@link MediaError}s that say what went wrong. */
export async function captureUserMedia(options: CaptureOptions): Promise<MediaStream> {
  if (!options.audio && !options.video) return new MediaStream();
  try {
    return await mediaDevices().getUserMedia({ audio: constraint(options.audio), video: constraint(options.video) });
  } catch (err) {
    throw captureError(err, options.video ? 'camera or microphone' : 'microphone');
  }
}

/** Captures a screen, window or tab chosen by the user. */
export async function captureScreen(): Promise<MediaStream> {
  const md = mediaDevices();
  if (!md.getDisplayMedia) throw new MediaError('unsupported', 'this browser cannot share the screen');
  try {
    return await md.getDisplayMedia({ video: true, audio: false });
  } catch (err) {
    throw captureError(err, 'screen');
  }
}

/** Turns a getUserMedia failure into a {@link MediaError} with a clear reason. */
export function captureError(err: unknown, what: string): MediaError {
  if (err instanceof MediaError) return err;
  const name = (err as { name?: string }).name ?? '';
  switch (name) {
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new MediaError('no-device', `no ${what} was found`);
    case 'NotAllowedError':
    case 'SecurityError':
      return new MediaError('permission-denied', `permission to use the ${what} was denied`);
    case 'NotReadableError':
    case 'AbortError':
      return new MediaError('device-in-use', `the ${what} cannot be started (another application may be using it)`);
    default:
      return new MediaError('unsupported', `the ${what} cannot be used: ${(err as Error).message ?? String(err)}`);
  }
}
