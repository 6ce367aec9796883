// Package udpport is a media node's shared UDP port: the one socket (on
// Linux, a pair of them) that the ICE UDP mux of every peer connection
// reads and writes when media.udpPort is set.
//
// Listen opens it. On Linux the port it returns batches: it receives up
// to 16 datagrams with one recvmmsg (udprecv_linux.go), and it has Cork
// and Uncork methods, between which what is written leaves with one
// sendmmsg (udpbatch_linux.go); a forwarder that writes one packet to
// many subscribers corks the port around that loop. Elsewhere it is one
// ordinary socket without them. Its buffers are mediaSocketBuffer bytes
// (udpbuf.go).
package udpport

import "net/netip"

// Diverter is a port whose datagrams a function can take before they are
// read (the port of Listen on Linux): the media node's direct SRTP
// receive (package videoroom) takes the RTP of established publishers
// there, ahead of the ICE mux. take runs on the reading goroutine, one
// datagram at a time, must not block, and must copy what it keeps of b;
// a datagram it takes (true) is not returned by the read. It is not asked
// while the port's reader is behind (its recvmmsg came back full several
// times in a row): the datagrams then all go to the read. nil stops it.
type Diverter interface {
	Divert(take func(b []byte, from netip.AddrPort) bool)
}
