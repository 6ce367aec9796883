// Package record writes the media of rooms to files: a sibling of package
// forward, whose track API it consumes. A Track is a forward.Sink of one
// published audio or video: it takes the stream's RTP packets without
// blocking, puts them back in order (a small jitter buffer), rebuilds
// frames (Opus, VP8, H.264) and writes them as they arrive, without
// transcoding, to a WebM file (Matroska for H.264) whose segment and
// clusters have unknown sizes, so that a file cut short by a crash still
// plays; the cues and the duration are written at close.
//
// A Session is one segment of one recording on this media node: its
// tracks, the room's events (an append-only log next to the tracks), and
// its row in the store. A Manager starts sessions, keeps their rows alive,
// stops them cleanly on storage errors (with an alarm), recovers the
// recordings of a node that died (their files as they are, the recording
// "interrupted", continued as a next segment if the room records again),
// composes one playable file per recording with ffmpeg when it is there,
// uploads to S3-compatible storage when configured, and deletes expired
// recordings.
package record
