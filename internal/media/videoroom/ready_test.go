package videoroom_test

import (
	"strconv"
	"strings"
	"testing"
)

// The media server's ready line says where it takes media, in words, for
// each way of setting its ports: no empty address, no 0-0 range.
func TestReadyLineSaysWhereMediaIsTaken(t *testing.T) {
	one := testMediaConfig(t)
	perPeer := testMediaConfig(t)
	perPeer.UDPPort = 0
	ranged := testMediaConfig(t)
	ranged.UDPPort, ranged.WebRTCStartPort, ranged.WebRTCEndPort, ranged.WebRTCIP = 0, 40000, 40010, "203.0.113.7"
	for _, c := range []struct {
		name string
		n    *testNode
		want []string
	}{
		{"media.udpPort", startSFU(t, one), []string{
			`udp="127.0.0.1:` + strconv.Itoa(one.UDPPort) + ` (one port for every peer connection, media.udpPort)"`,
			`ice_tcp="off (media.tcpPort 0)"`, `candidates="127.0.0.1 (the interfaces' addresses`}},
		{"no port set", startSFU(t, perPeer), []string{
			`udp="127.0.0.1, one port per peer connection, any the system gives (set media.udpPort`}},
		{"a port range", startSFU(t, ranged), []string{
			`udp="127.0.0.1, one port per peer connection from 40000-40010 (media.webRtcStartPort-webRtcEndPort)"`,
			`candidates="203.0.113.7 (media.webRtcIp)"`}},
	} {
		var line string
		for _, l := range strings.Split(c.n.logs.String(), "\n") {
			if strings.Contains(l, `msg="media server ready"`) {
				line = l
			}
		}
		if line == "" {
			t.Errorf("%s: no ready line in\n%s", c.name, c.n.logs.String())
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: the ready line does not say %s:\n%s", c.name, w, line)
			}
		}
		for _, bad := range []string{`=""`, "0-0", "port_range"} {
			if strings.Contains(line, bad) {
				t.Errorf("%s: the ready line has %s:\n%s", c.name, bad, line)
			}
		}
	}
}
