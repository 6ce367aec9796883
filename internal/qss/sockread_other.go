//go:build !unix

package qss

import "net"

func waitRead(net.Conn) func(*bufferPool) (*[]byte, int, error) { return nil }
