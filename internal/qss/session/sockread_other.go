//go:build !unix

package session

import "net"

func waitRead(net.Conn) func(*bufferPool) (*[]byte, int, error) { return nil }
