package rtpleg

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/mixer"
	"github.com/openwac/wac/internal/media/tone"
	"github.com/openwac/wac/internal/testenv"
)

// TestFFmpegPhone puts ffmpeg's RTP stack on one leg: one ffmpeg sends a
// 700 Hz tone in PCMU RTP to the leg, another receives the leg's mix
// (described by an SDP file) and decodes it. A Go phone on a PCMA leg
// sends 1500 Hz. ffmpeg must hear 1500 Hz and not its own 700; the Go
// phone the reverse.
func TestFFmpegPhone(t *testing.T) {
	testenv.NeedPrograms(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := mixer.New(ctx, mixer.Config{})
	defer m.Close()

	// A free even port for ffmpeg's receiver (and the odd one above it,
	// which ffmpeg takes for RTCP).
	probe, err := bind(loopback, 41000, 49000)
	if err != nil {
		t.Fatal(err)
	}
	rxPort := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	dir := t.TempDir()
	sdp := filepath.Join(dir, "mix.sdp")
	if err := os.WriteFile(sdp, []byte(fmt.Sprintf("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=mix\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", rxPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	ffLeg, err := Open(ctx, Config{Name: "ffmpeg", IP: loopback, PortMin: 20000, PortMax: 40000,
		Remote: netip.AddrPortFrom(loopback, uint16(rxPort)), Codec: audiocodec.PCMU()}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer ffLeg.Close()
	goPhone := newPhone(t, audiocodec.PCMA(), 8, 1500)
	goLeg, err := Open(ctx, Config{Name: "go", IP: loopback, PortMin: 20000, PortMax: 40000,
		Remote: goPhone.addr(), Codec: audiocodec.PCMA()}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer goLeg.Close()

	// The receiver first, so that it hears the start.
	var rxOut, rxErr bytes.Buffer
	rx := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp",
		"-i", sdp, "-t", "2.5", "-f", "s16le", "-ar", "48000", "-ac", "1", "-")
	rx.Stdout, rx.Stderr = &rxOut, &rxErr
	if err := rx.Start(); err != nil {
		t.Fatal(err)
	}
	var receiving, sending sync.WaitGroup
	receiving.Go(func() { goPhone.receive(101) })
	sending.Go(func() { goPhone.send(ctx, goLeg.LocalAddr(), 175) })
	tx := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "sine=frequency=700:sample_rate=8000:duration=3.5:samples_per_frame=160",
		"-af", "volume=0.75", "-ac", "1", "-c:a", "pcm_mulaw", "-f", "rtp",
		fmt.Sprintf("rtp://127.0.0.1:%d?pkt_size=172", ffLeg.LocalAddr().Port()))
	if out, err := tx.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg sender: %v: %s", err, out)
	}
	if err := rx.Wait(); err != nil {
		t.Fatalf("ffmpeg receiver: %v: %s", err, rxErr.String())
	}
	sending.Wait()
	goPhone.conn.Close()
	receiving.Wait()

	t.Logf("ffmpeg's leg: %+v", ffLeg.Stats())
	pcm := make([]int16, rxOut.Len()/2)
	if err := binary.Read(&rxOut, binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	if len(pcm) < 2*audiocodec.Rate {
		t.Fatalf("ffmpeg decoded %d samples of the mix", len(pcm))
	}
	body := pcm[audiocodec.Rate/2 : 2*audiocodec.Rate]
	goLevel := 6000.0 * 6000 / 2
	if db := tone.DB(tone.Power(body, 1500, audiocodec.Rate), goLevel); db < -6 {
		t.Errorf("ffmpeg hears the Go phone at %.1f dB", db)
	}
	if db := tone.DB(tone.Power(body, 700, audiocodec.Rate), goLevel); db > -25 {
		t.Errorf("ffmpeg hears itself at %.1f dB", db)
	}
	// ffmpeg's sine is 1/8 of full scale, at 0.75: about 3070.
	heard := goPhone.pcm[audiocodec.Rate/2 : 2*audiocodec.Rate]
	ffLevel := 3070.0 * 3070 / 2
	if db := tone.DB(tone.Power(heard, 700, audiocodec.Rate), ffLevel); db < -6 {
		t.Errorf("the Go phone hears ffmpeg at %.1f dB", db)
	}
	if db := tone.DB(tone.Power(heard, 1500, audiocodec.Rate), goLevel); db > -25 {
		t.Errorf("the Go phone hears itself at %.1f dB", db)
	}
	t.Logf("ffmpeg hears 1500 Hz at %.1f dB, 700 Hz at %.1f dB; the Go phone 700 Hz at %.1f dB, 1500 Hz at %.1f dB",
		tone.DB(tone.Power(body, 1500, audiocodec.Rate), goLevel), tone.DB(tone.Power(body, 700, audiocodec.Rate), goLevel),
		tone.DB(tone.Power(heard, 700, audiocodec.Rate), ffLevel), tone.DB(tone.Power(heard, 1500, audiocodec.Rate), goLevel))
}
