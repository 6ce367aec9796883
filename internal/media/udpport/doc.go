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
// there, ahead of the ICE mux. take runs on the port's receiving
// goroutines (one per core, udpsteer_linux.go), concurrently for
// different datagrams but in order for the datagrams of one RTP stream
// that s steers; it must not block, and must copy what it keeps of b. A
// datagram it takes (true) is not returned by the read. s says which
// datagrams take is likely to take: those are received on sockets of
// their own, spread over the cores. take == nil stops it.
type Diverter interface {
	Divert(take func(b []byte, from netip.AddrPort) bool, s Steer) error
}

// Steer says which datagrams the divert function is likely to take.
type Steer struct {
	// PayloadTypes are the RTP payload types (version 2 packets) to steer
	// to the receivers; none steers nothing.
	PayloadTypes []uint8
}
