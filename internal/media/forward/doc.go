// Package forward moves media packets from the sources of a media node to
// their consumers without decoding them: RTP streams and their simulcast
// layers, the down tracks that send them to subscribers, keyframe
// requests, the bitrate rule of published videos, and the codec helpers
// (keyframe detection, codec matching). It knows nothing of rooms, Janus
// or signaling: what it needs it is given at construction.
//
// # The track API
//
// A Forwarder holds what a node's streams share (Options: the keyframe
// rate limit, the bitrate rule, the batching of the shared UDP port) and
// counts packets (Counters). Each source is a Stream:
//
//	s := fwd.NewStream(forward.StreamConfig{Kind: "video", Codec: codec,
//		RIDs: rids, WriteRTCP: pc.WriteRTCP, Cap: 300_000})
//	go s.Forward(track) // a Track: one RTP stream (simulcast layer); returns when it ends
//
// Forward reads each packet once, into memory that is never reused, and
// writes it to every Sink of the stream (AddSink, RemoveSink):
//
//	type Sink interface{ WriteRTP(p *forward.Packet) bool }
//
// on the reading goroutine, so a sink must not block. The packet gives the
// header (valid during the call; CopyHeader keeps it), the payload (a sink
// may keep it), the simulcast layer, whether it starts a keyframe, and its
// arrival time. A sink that needs a keyframe asks its stream
// (RequestKeyframe: at most one PLI per layer per KeyframeInterval
// reaches the source). Once a second the owner of a stream calls Tick,
// which measures the layers and runs a video's bitrate rule; its Report
// says what to tell the publisher (receiving, slow link, the cap for its
// REMB).
//
// DownTrack is the sink of a WebRTC subscriber: a Pion TrackLocal that
// sends one layer of its stream at a time, rewriting SSRC, payload type,
// sequence numbers and timestamps so that simulcast layer changes and
// source switches (Switch) stay one stream; it reads the subscriber's
// RTCP (ReadRTCP: keyframe requests go to the stream, REMB and receiver
// reports choose the layer and feed the bitrate rule). NACKs are answered
// by Pion's responder from the packets the down track wrote.
//
// The VideoRoom (package videoroom) is the consumer of this API today; an
// audio mixer, SIP media and recording are to be siblings of it: a mixer
// or a recorder is a Sink of the streams it takes, and a SIP leg or a
// mixer's output is a source that writes to down tracks through a Stream
// (its Track reads the leg's RTP, or the mixed packets).
//
// # Bitrate
//
// Each published video is capped by REMB at the cap Tick is given
// (media.bitrate, shared under media.roomBitrate), cut by a third on loss
// sustained for media.lossSeconds down to a third of it, and raised back
// when the loss clears for media.recoverSeconds (bitrate.go).
package forward
