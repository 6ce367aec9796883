package node

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/media/record"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/sapi"
	"github.com/openwac/wac/internal/store"
)

// recordingStorage is where recordings are kept: the object store of
// recording.s3, or the local disk (recording.path).
func recordingStorage(cfg *config.Config) (record.Storage, error) {
	if cfg.Recording.S3.Endpoint != "" {
		return record.NewS3(cfg.Recording.S3)
	}
	return record.Disk{Root: cfg.RecordingPath()}, nil
}

// recordingFiles gives the API the recordings' files.
type recordingFiles struct {
	st      store.Store
	storage record.Storage
	root    string
}

func (f recordingFiles) Open(ctx context.Context, key string) (sapi.RecordingFile, error) {
	file, err := f.storage.Open(ctx, key)
	if errors.Is(err, record.ErrNoFile) {
		return nil, fmt.Errorf("%w: %s", sapi.ErrNoFile, key)
	}
	return file, err
}

func (f recordingFiles) Delete(ctx context.Context, rec *store.Recording) error {
	return record.DeleteRecording(ctx, f.st, f.storage, f.root, rec)
}

// mountRecordings serves the recordings' files on the API.
func (n *Node) mountRecordings() error {
	storage, err := recordingStorage(n.Config)
	if err != nil {
		return err
	}
	// The play links are signed with a key of their own, derived from
	// the cluster secret: every API node of the cluster accepts them.
	m := hmac.New(sha256.New, n.Secret)
	m.Write([]byte("openwac recording links"))
	n.API.SetRecordings(recordingFiles{st: n.Store, storage: storage, root: n.Config.RecordingPath()}, m.Sum(nil))
	return nil
}

// newRecorder is the media role's recording manager, nil when
// recording.enabled is off.
func newRecorder(n *Node, nodeID string) (*record.Manager, error) {
	cfg := n.Config
	if !cfg.Recording.Enabled {
		return nil, nil
	}
	storage, err := recordingStorage(cfg)
	if err != nil {
		return nil, err
	}
	return record.NewManager(record.Options{Config: cfg.Recording, Root: cfg.RecordingPath(), Store: n.Store,
		Storage: storage, Node: nodeID, Log: n.Log})
}

// mediaNodeID is the media node's name: media.nodeId, or a random one.
func mediaNodeID(cfg *config.Config) string {
	if cfg.Media.NodeID != "" {
		return cfg.Media.NodeID
	}
	b := make([]byte, 4)
	rand.Read(b)
	return "media-" + hex.EncodeToString(b)
}

func (m qssMedia) StartRecording(ctx context.Context, room string, o qss.RecordingOptions) error {
	return m.d.StartRecording(ctx, room, placement.RecordingOptions{Domain: o.Domain, By: o.By, Users: o.Users})
}

func (m qssMedia) StopRecording(ctx context.Context, room, by string) error {
	return m.d.StopRecording(ctx, room, by)
}
