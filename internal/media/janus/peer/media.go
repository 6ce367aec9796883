package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// Media is real encoded media for a publisher to send: VP8 frames (a
// keyframe every second) and 20 ms Opus packets, made by ffmpeg from its
// test sources. The recording tests need media that decodes.
type Media struct {
	FPS    int
	Video  [][]byte // VP8 frames
	Keys   []bool   // which frames are keyframes
	Audio  [][]byte // Opus packets of 20 ms
	Length time.Duration
}

// MakeMedia encodes seconds of a test picture (320x240, 15 fps, VP8) and a
// tone of freq Hz (48 kHz stereo Opus) with the ffmpeg program into dir
// and loads them.
func MakeMedia(ctx context.Context, ffmpeg, dir string, seconds, freq int) (*Media, error) {
	ivf := filepath.Join(dir, fmt.Sprintf("video-%d.ivf", freq))
	ogg := filepath.Join(dir, fmt.Sprintf("audio-%d.ogg", freq))
	dur := fmt.Sprint(seconds)
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, ffmpeg, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("ffmpeg %v: %w: %s", args, err, stderr.String())
		}
		return nil
	}
	if err := run("-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-t", dur, "-c:v", "libvpx", "-g", "15",
		"-keyint_min", "15", "-b:v", "250k", "-deadline", "realtime", "-cpu-used", "8", "-f", "ivf", ivf); err != nil {
		return nil, err
	}
	if err := run("-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000", freq), "-t", dur, "-ac", "2",
		"-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", ogg); err != nil {
		return nil, err
	}
	m := &Media{FPS: 15, Length: time.Duration(seconds) * time.Second}
	if err := m.loadIVF(ivf); err != nil {
		return nil, err
	}
	if err := m.loadOgg(ogg); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Media) loadIVF(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		m.Video = append(m.Video, frame)
		m.Keys = append(m.Keys, len(frame) > 0 && frame[0]&1 == 0)
	}
}

// loadOgg reads the Opus packets of an Ogg file written one packet a page.
func (m *Media) loadOgg(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		m.Audio = append(m.Audio, page)
	}
}

// NewVideoPacketizer and NewAudioPacketizer make the packetizers of the
// media's tracks.
func NewVideoPacketizer() rtp.Packetizer {
	return rtp.NewPacketizer(1200, 96, 1, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
}

func NewAudioPacketizer() rtp.Packetizer {
	return rtp.NewPacketizer(1200, 111, 2, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
}

// SendMedia sends the media in real time until ctx ends, looping it: the
// VP8 frames on the video track, the Opus packets on the audio track. A
// keyframe request is answered at the next keyframe of the file (one a
// second).
func (p *Publisher) SendMedia(ctx context.Context, m *Media) {
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		pk := NewVideoPacketizer()
		tick := time.NewTicker(time.Second / time.Duration(m.FPS))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, pkt := range pk.Packetize(m.Video[i%len(m.Video)], uint32(90000/m.FPS)) {
				if err := p.Video.WriteRTP(pkt); err != nil {
					return
				}
				p.SentVideo.Add(1)
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		pk := NewAudioPacketizer()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, pkt := range pk.Packetize(m.Audio[i%len(m.Audio)], 960) {
				if err := p.Audio.WriteRTP(pkt); err != nil {
					return
				}
				p.SentAudio.Add(1)
			}
		}
	}()
}
