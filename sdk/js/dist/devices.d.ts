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
/** Lists the cameras, microphones and speakers (labels appear once capture was allowed). */
export declare function listDevices(): Promise<DeviceList>;
/** Captures the microphone and/or camera; failures are {@link MediaError}s that say what went wrong. */
export declare function captureUserMedia(options: CaptureOptions): Promise<MediaStream>;
/** Captures a screen, window or tab chosen by the user. */
export declare function captureScreen(): Promise<MediaStream>;
/** Turns a getUserMedia failure into a {@link MediaError} with a clear reason. */
export declare function captureError(err: unknown, what: string): MediaError;
