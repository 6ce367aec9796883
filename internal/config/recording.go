package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Recording configures the recording of rooms (the seeds' rec-worker): where
// the media role writes the tracks, the compose job and how long
// recordings are kept.
type Recording struct {
	Enabled bool   `yaml:"enabled" doc:"rooms may be recorded (createRoom/updateRoom record, startRecording); off: those requests are refused with 403"`
	Path    string `yaml:"path" doc:"directory the media role writes recordings to (with S3, the spool they are uploaded from); empty = <dataDir>/recordings"`
	FFmpeg  string `yaml:"ffmpeg" doc:"ffmpeg program that composes one file per recording, audio mix and camera grid (a name on PATH or a path); empty or not found = the per-track files are kept uncomposed"`

	ComposeTimeout time.Duration `yaml:"composeTimeout" unit:"s" doc:"seconds a compose job may run before it is stopped (the tracks are kept)"`
	Jitter         time.Duration `yaml:"jitterMillis" unit:"ms" doc:"milliseconds a track's packets are held to put them back in order before they are written"`
	MinFreeMB      int           `yaml:"minFreeMB" doc:"free space (MiB) under which the recording disk counts as full: recordings stop cleanly and an alarm is raised"`
	ResumeWindow   time.Duration `yaml:"resumeSeconds" unit:"s" doc:"seconds within which a recording cut by a media-node restart continues, as its next segment, when the room records again"`

	LinkTTL time.Duration `yaml:"linkSeconds" unit:"s" doc:"seconds a signed play link of a recording file (playUrl, for a <video> element, which cannot send a token) stays valid"`

	RetentionDays  int           `yaml:"retentionDays" doc:"days a recording is kept when its domain sets no recordingRetentionDays, 0 = until deleted"`
	RetentionCheck time.Duration `yaml:"retentionCheckSeconds" unit:"s" doc:"seconds between two runs of the job that deletes expired recordings"`

	S3 S3 `yaml:"s3"`
}

// S3 is an S3-compatible object store for recordings.
type S3 struct {
	Endpoint  string `yaml:"endpoint" doc:"host[:port] of an S3-compatible object store for recordings; empty = local disk only"`
	Bucket    string `yaml:"bucket" doc:"bucket that holds the recordings"`
	Region    string `yaml:"region" doc:"region of the bucket (empty = the store's default)"`
	AccessKey string `yaml:"accessKey" doc:"access key of the object store"`
	SecretKey string `yaml:"secretKey" doc:"secret key of the object store (WAC_RECORDING_S3_SECRET_KEY keeps it out of files)"`
	Insecure  bool   `yaml:"insecure" doc:"talk plain HTTP to the object store (tests, a store on loopback); off = HTTPS"`
	Prefix    string `yaml:"prefix" doc:"key prefix of every object (a folder in the bucket)"`
}

func defaultRecording() Recording {
	return Recording{
		Enabled:        true,
		FFmpeg:         "ffmpeg",
		ComposeTimeout: time.Hour,
		Jitter:         200 * time.Millisecond,
		MinFreeMB:      512,
		ResumeWindow:   10 * time.Minute,
		RetentionCheck: time.Hour,
		LinkTTL:        10 * time.Minute,
	}
}

// RecordingPath is the directory of recordings: recording.path, or
// <dataDir>/recordings.
func (c *Config) RecordingPath() string {
	if c.Recording.Path != "" {
		return c.Recording.Path
	}
	return filepath.Join(c.DataDir, "recordings")
}

// validateRecording checks the recording keys.
func (c *Config) validateRecording(bad func(key, format string, args ...any)) {
	r := &c.Recording
	if r.ComposeTimeout <= 0 {
		bad("recording.composeTimeout", "must be positive")
	}
	if r.Jitter < 0 || r.Jitter > 2*time.Second {
		bad("recording.jitterMillis", "%s is not between 0 and 2s", r.Jitter)
	}
	if r.MinFreeMB < 0 {
		bad("recording.minFreeMB", "must not be negative")
	}
	if r.ResumeWindow < 0 {
		bad("recording.resumeSeconds", "must not be negative")
	}
	if r.LinkTTL < time.Second || r.LinkTTL > 24*time.Hour {
		bad("recording.linkSeconds", "%s is not between 1s and 24h", r.LinkTTL)
	}
	if r.RetentionDays < 0 {
		bad("recording.retentionDays", "must not be negative (0 = until deleted)")
	}
	if r.RetentionCheck <= 0 {
		bad("recording.retentionCheckSeconds", "must be positive")
	}
	if s := r.S3; s.Endpoint != "" {
		if strings.Contains(s.Endpoint, "/") {
			bad("recording.s3.endpoint", "%q must be host[:port], without a scheme or path", s.Endpoint)
		}
		if s.Bucket == "" {
			bad("recording.s3.bucket", "is required with recording.s3.endpoint")
		}
	}
}
