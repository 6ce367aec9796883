package videoroom

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// headerOnce is the innermost interceptor of a publisher's streams. The
// interceptors above it (NACK generator, receiver reports, transport-cc)
// each want the packet's RTP header, which interceptor.Attributes parses
// once per packet and keeps; but the reader Pion starts the chain with
// has no Attributes, so the first of them made a map and a header for
// every packet: two allocations per packet, most of the memory a busy
// media server took in (and the page faults of its growing heap). This
// one parses the header into memory reused for the stream's next packet
// and hands it up in a map reused the same way. Attributes that come from
// below already made are left alone.
//
// The header and the map are valid until the stream's next read, which
// the stream's one reading goroutine makes after the chain and the
// forwarding have finished with them; Pion keeps a peeked packet's
// Attributes until it returns that packet, which it does before reading
// again.
//
// With the direct receive (direct.go), it also puts the direct receive's
// reader of an audio stream in place of Pion's read stream.
type headerOnce struct {
	direct *directPeer // the connection's direct receive; nil = none
}

// NewInterceptor implements interceptor.Factory.
func (h headerOnce) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &headerOnceInterceptor{direct: h.direct}, nil
}

type headerOnceInterceptor struct {
	interceptor.NoOp
	direct *directPeer
}

// BindRemoteStream implements interceptor.Interceptor.
func (h *headerOnceInterceptor) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if h.direct != nil {
		r = h.direct.reader(info.SSRC, isAudio(info.MimeType), r)
	}
	s := &headerStream{attr: interceptor.Attributes{}}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, got, err := r.Read(b, a)
		if err != nil || got != nil {
			return n, got, err
		}
		if err := s.parse(b[:n]); err != nil {
			return 0, nil, err
		}
		return n, s.attr, nil
	})
}

// headerStream is one stream's reused header and Attributes.
type headerStream struct {
	attr interceptor.Attributes
	// key is the key Attributes.GetRTPHeader keeps the header under (an
	// unexported value of the interceptor package, learnt from the
	// stream's first packet) and hdr the header stored there; nil until
	// then, or if the map did not look as expected (then every packet
	// is parsed by GetRTPHeader, as without this interceptor).
	key any
	hdr *rtp.Header
}

// parse puts b's header in s.attr, where GetRTPHeader finds it.
func (s *headerStream) parse(b []byte) error {
	clear(s.attr)
	if s.key == nil {
		h, err := s.attr.GetRTPHeader(b)
		if err != nil {
			return err
		}
		if len(s.attr) == 1 {
			for k, v := range s.attr {
				if v == any(h) {
					s.key, s.hdr = k, h
				}
			}
		}
		return nil
	}
	if _, err := s.hdr.Unmarshal(b); err != nil {
		return err
	}
	s.attr[s.key] = s.hdr
	return nil
}
