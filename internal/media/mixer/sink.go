package mixer

import "github.com/openwac/wac/internal/media/forward"

// WriteRTP makes a leg a forward.Sink: added to a room's published audio
// stream (forward.Stream.AddSink), the stream's packets reach the mix.
// It never counts as forwarded.
func (l *Leg) WriteRTP(p *forward.Packet) bool {
	l.Write(p.Header.SequenceNumber, p.Payload)
	return false
}
