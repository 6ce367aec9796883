package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/openwac/wac/internal/config"
)

// Storage keeps the files of recordings. Tracks are always written to a
// local spool directory first (the WebM writer seeks back to write cues
// and the duration); a finished file is committed to the storage.
type Storage interface {
	// Commit stores the finished local file at key. For the local disk the
	// file is already in place; an object store uploads it and removes
	// the local copy.
	Commit(ctx context.Context, key, localPath string) error
	// Open returns the file at key for reading, with its size and time.
	Open(ctx context.Context, key string) (File, error)
	// Fetch returns a local path holding the file at key (itself on the
	// local disk, a downloaded copy in dir for an object store).
	Fetch(ctx context.Context, key, dir string) (string, error)
	// Delete removes every file whose key starts with prefix.
	Delete(ctx context.Context, prefix string) error
	// Kind names the storage in logs and metadata: "disk" or "s3".
	Kind() string
}

// File is an opened recording file.
type File interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// ErrNoFile is returned by Open for a key with no file.
var ErrNoFile = errors.New("no such recording file")

// validKey reports whether a key is a clean relative path (the server
// makes every key; this guards the file system anyway).
func validKey(key string) bool {
	return key != "" && !strings.HasPrefix(key, "/") && path.Clean(key) == key && !strings.HasPrefix(key, "..") &&
		!strings.Contains(key, "/../")
}

// contentType is the media type of a recording file by its name.
func contentType(key string) string {
	switch path.Ext(key) {
	case ".webm":
		return "video/webm"
	case ".mkv":
		return "video/x-matroska"
	case ".jsonl":
		return "application/jsonl"
	}
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Disk is recordings on the local disk (recording.path).
type Disk struct{ Root string }

// Kind implements Storage.
func (d Disk) Kind() string { return "disk" }

// Path is where a key lives on the disk.
func (d Disk) Path(key string) string { return filepath.Join(d.Root, filepath.FromSlash(key)) }

// Commit implements Storage: the file is in place already.
func (d Disk) Commit(ctx context.Context, key, localPath string) error {
	if !validKey(key) {
		return fmt.Errorf("commit recording file: bad key %q", key)
	}
	if p := d.Path(key); p != localPath {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("commit recording file %s: %w", key, err)
		}
		if err := os.Rename(localPath, p); err != nil {
			return fmt.Errorf("commit recording file %s: %w", key, err)
		}
	}
	return nil
}

type diskFile struct {
	*os.File
	info fs.FileInfo
}

func (f diskFile) Size() int64        { return f.info.Size() }
func (f diskFile) ModTime() time.Time { return f.info.ModTime() }

// Open implements Storage.
func (d Disk) Open(ctx context.Context, key string) (File, error) {
	if !validKey(key) {
		return nil, ErrNoFile
	}
	f, err := os.Open(d.Path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoFile
	}
	if err != nil {
		return nil, fmt.Errorf("open recording file: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open recording file: %w", err)
	}
	return diskFile{f, info}, nil
}

// Fetch implements Storage.
func (d Disk) Fetch(ctx context.Context, key, dir string) (string, error) {
	p := d.Path(key)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("fetch recording file %s: %w", key, err)
	}
	return p, nil
}

// Delete implements Storage.
func (d Disk) Delete(ctx context.Context, prefix string) error {
	if !validKey(strings.TrimSuffix(prefix, "/")) {
		return fmt.Errorf("delete recording files: bad prefix %q", prefix)
	}
	if err := os.RemoveAll(d.Path(strings.TrimSuffix(prefix, "/"))); err != nil {
		return fmt.Errorf("delete recording files %s: %w", prefix, err)
	}
	return nil
}

// S3 is recordings in an S3-compatible object store (recording.s3.*).
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// NewS3 connects to the object store of cfg.
func NewS3(cfg config.S3) (*S3, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: !cfg.Insecure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("recording.s3.endpoint %s: %w", cfg.Endpoint, err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: c, bucket: cfg.Bucket, prefix: prefix}, nil
}

// Kind implements Storage.
func (s *S3) Kind() string { return "s3" }

// Check tells whether the bucket exists and answers.
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("recording.s3.bucket %s: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("recording.s3.bucket %s does not exist", s.bucket)
	}
	return nil
}

// Commit implements Storage: it uploads the file and removes it locally.
func (s *S3) Commit(ctx context.Context, key, localPath string) error {
	if !validKey(key) {
		return fmt.Errorf("upload recording file: bad key %q", key)
	}
	if _, err := s.client.FPutObject(ctx, s.bucket, s.prefix+key, localPath, minio.PutObjectOptions{ContentType: contentType(key)}); err != nil {
		return fmt.Errorf("upload recording file %s: %w", key, err)
	}
	if err := os.Remove(localPath); err != nil {
		return fmt.Errorf("remove uploaded recording file %s: %w", key, err)
	}
	return nil
}

type s3File struct {
	*minio.Object
	info minio.ObjectInfo
}

func (f s3File) Size() int64        { return f.info.Size }
func (f s3File) ModTime() time.Time { return f.info.LastModified }

// Open implements Storage: reads and seeks become ranged GETs.
func (s *S3) Open(ctx context.Context, key string) (File, error) {
	if !validKey(key) {
		return nil, ErrNoFile
	}
	o, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("open recording object %s: %w", key, err)
	}
	info, err := o.Stat()
	if err != nil {
		o.Close()
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, ErrNoFile
		}
		return nil, fmt.Errorf("open recording object %s: %w", key, err)
	}
	return s3File{o, info}, nil
}

// Fetch implements Storage: it downloads the object into dir.
func (s *S3) Fetch(ctx context.Context, key, dir string) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("fetch recording object: bad key %q", key)
	}
	p := filepath.Join(dir, filepath.FromSlash(key))
	if err := s.client.FGetObject(ctx, s.bucket, s.prefix+key, p, minio.GetObjectOptions{}); err != nil {
		return "", fmt.Errorf("fetch recording object %s: %w", key, err)
	}
	return p, nil
}

// Delete implements Storage.
func (s *S3) Delete(ctx context.Context, prefix string) error {
	if !validKey(strings.TrimSuffix(prefix, "/")) {
		return fmt.Errorf("delete recording objects: bad prefix %q", prefix)
	}
	objs := s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true})
	for o := range objs {
		if o.Err != nil {
			return fmt.Errorf("list recording objects %s: %w", prefix, o.Err)
		}
		if err := s.client.RemoveObject(ctx, s.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("delete recording object %s: %w", o.Key, err)
		}
	}
	return nil
}
