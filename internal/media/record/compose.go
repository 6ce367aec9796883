package record

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/openwac/wac/internal/store"
)

// Compose geometry: the composed video is a grid of every camera on a
// 1280x720 canvas at 15 frames a second.
const (
	composeW   = 1280
	composeH   = 720
	composeFPS = 15
	maxTiles   = 16
)

// input is one track file placed on the recording's timeline.
type input struct {
	path   string
	track  store.RecordingTrack
	offset int64 // ms from the start of the recording
}

// composeInputs places every track of every segment on the recording's
// timeline.
func composeInputs(rec *store.Recording, local func(key string) string) (audio, video []input, total int64) {
	for _, seg := range rec.Detail.Segments {
		base := seg.Started - rec.Started
		tracks := append([]store.RecordingTrack(nil), seg.Tracks...)
		sortTracks(tracks)
		for _, t := range tracks {
			in := input{path: local(t.Key), track: t, offset: max(base+t.Offset, 0)}
			total = max(total, in.offset+t.Duration)
			if t.Kind == "audio" {
				audio = append(audio, in)
			} else {
				video = append(video, in)
			}
		}
	}
	return audio, video, total
}

// composeArgs builds ffmpeg's arguments: an audio mix of every audio
// track, each delayed to its place, and a grid with one tile per
// publisher (user and feed) where each video shows from its place on the
// timeline, over a black canvas as long as the recording.
func composeArgs(audio, video []input, total int64, out string) []string {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}
	var filters []string
	n := 0
	for _, in := range append(append([]input(nil), audio...), video...) {
		args = append(args, "-i", in.path)
		n++
	}
	secs := fmt.Sprintf("%.3f", float64(total)/1000)
	var maps []string
	if len(audio) > 0 {
		var labels string
		for i, in := range audio {
			filters = append(filters, fmt.Sprintf("[%d:a]aresample=48000:async=1,adelay=%d:all=1,apad=whole_dur=%s[a%d]", i, in.offset, secs, i))
			labels += fmt.Sprintf("[a%d]", i)
		}
		filters = append(filters, fmt.Sprintf("%samix=inputs=%d:duration=longest:normalize=0,atrim=0:%s[aout]", labels, len(audio), secs))
		maps = append(maps, "-map", "[aout]")
	}
	if len(video) > 0 {
		tiles := map[string]int{}
		for _, in := range video {
			k := fmt.Sprintf("%s/%d", in.track.User, in.track.Feed)
			if _, ok := tiles[k]; !ok && len(tiles) < maxTiles {
				tiles[k] = len(tiles)
			}
		}
		cols := int(math.Ceil(math.Sqrt(float64(len(tiles)))))
		rows := (len(tiles) + cols - 1) / cols
		tw, th := composeW/cols&^1, composeH/rows&^1
		filters = append(filters, fmt.Sprintf("color=c=black:s=%dx%d:r=%d:d=%s[bg0]", composeW, composeH, composeFPS, secs))
		bg := 0
		for i, in := range video {
			tile, ok := tiles[fmt.Sprintf("%s/%d", in.track.User, in.track.Feed)]
			if !ok {
				continue
			}
			x, y := tile%cols*tw, tile/cols*th
			idx := len(audio) + i
			filters = append(filters,
				fmt.Sprintf("[%d:v]fps=%d,scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1,setpts=PTS-STARTPTS+%.3f/TB[v%d]",
					idx, composeFPS, tw, th, tw, th, float64(in.offset)/1000, i),
				fmt.Sprintf("[bg%d][v%d]overlay=%d:%d:eof_action=pass:repeatlast=0[bg%d]", bg, i, x, y, bg+1))
			bg++
		}
		filters = append(filters, fmt.Sprintf("[bg%d]format=yuv420p[vout]", bg))
		maps = append(maps, "-map", "[vout]")
	}
	args = append(args, "-filter_complex", strings.Join(filters, ";"))
	args = append(args, maps...)
	if len(video) > 0 {
		args = append(args, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M", "-g", "60")
	}
	if len(audio) > 0 {
		args = append(args, "-c:a", "libopus", "-b:a", "64k")
	}
	return append(args, "-t", secs, "-f", "webm", out)
}

// compose runs ffmpeg over the recording's tracks and returns the
// composed file, written to the local spool.
func (m *Manager) compose(ctx context.Context, rec *store.Recording) (*store.RecordingFile, error) {
	tmp, err := os.MkdirTemp(m.root, ".compose-")
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	defer os.RemoveAll(tmp)
	var fetchErr error
	local := func(key string) string {
		p := m.localPath(key)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		p, err := m.storage.Fetch(ctx, key, tmp)
		if err != nil && fetchErr == nil {
			fetchErr = err
		}
		return p
	}
	audio, video, total := composeInputs(rec, local)
	if fetchErr != nil {
		return nil, fetchErr
	}
	if total <= 0 {
		return nil, fmt.Errorf("the tracks have no duration")
	}
	key := path.Join(recordingPrefix(rec), "recording.webm")
	out := m.localPath(key)
	part := out + ".part"
	cctx, cancel := context.WithTimeout(ctx, m.cfg.ComposeTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, m.ffmpeg, composeArgs(audio, video, total, part)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(part)
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[len(msg)-300:]
		}
		return nil, fmt.Errorf("ffmpeg: %w: %s", err, msg)
	}
	if err := os.Chmod(part, 0o600); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	if err := os.Rename(part, out); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	info, err := os.Stat(out)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return &store.RecordingFile{Key: key, Type: "video/webm", Size: info.Size(), Duration: total}, nil
}
