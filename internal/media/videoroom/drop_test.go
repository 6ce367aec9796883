package videoroom_test

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// Dropper is an interceptor factory that drops RTP packets for which a
// predicate holds: outgoing ones (Out) before they reach the network, or
// incoming ones (In) before the NACK generator sees them. Registered
// first, it sits next to the network, so the NACK machinery above it sees
// a real loss.
type Dropper struct {
	// Out and In decide per packet; nil keeps every packet.
	Out func(h *rtp.Header) bool
	In  func(h *rtp.Header) bool
}

// NewInterceptor implements interceptor.Factory.
func (d *Dropper) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropper{d: d}, nil
}

type dropper struct {
	interceptor.NoOp
	d *Dropper
}

func (x *dropper) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if x.d.Out == nil {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if x.d.Out(h) {
			return len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}

func (x *dropper) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if x.d.In == nil {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			var h rtp.Header
			if _, err := h.Unmarshal(b[:n]); err == nil && x.d.In(&h) {
				continue
			}
			return n, attr, nil
		}
	})
}
