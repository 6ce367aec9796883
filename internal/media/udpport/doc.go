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
