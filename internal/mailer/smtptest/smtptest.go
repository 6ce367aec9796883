// Package smtptest runs an SMTP server on loopback for tests
// (github.com/emersion/go-smtp), keeping the mails it receives, and reads
// their MIME parts.
package smtptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one received mail.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// Server is the SMTP server and what it received.
type Server struct {
	Host string
	Port int

	mu     sync.Mutex
	mails  []Mail
	notify chan struct{}
	// Reject, when set, answers a recipient with a permanent error.
	Reject func(to string) bool
	// Fail, when set, answers DATA with a temporary error.
	Fail func() bool
}

// Start runs a server on 127.0.0.1 until t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{notify: make(chan struct{}, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 10 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return s
}

// Mails returns what was received so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait returns once n mails arrived, or fails t after 10 s.
func (s *Server) Wait(t testing.TB, n int) []Mail {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := s.Mails(); len(m) >= n {
			return m
		}
		select {
		case <-s.notify:
		case <-deadline:
			t.Fatalf("%d mails arrived, want %d", len(s.Mails()), n)
		}
	}
}

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if x.s.Reject != nil && x.s.Reject(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if x.s.Fail != nil && x.s.Fail() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	x.s.mu.Lock()
	x.s.mails = append(x.s.mails, Mail{From: x.from, To: x.to, Data: data})
	x.s.mu.Unlock()
	select {
	case x.s.notify <- struct{}{}:
	default:
	}
	return nil
}

// Part is a leaf MIME part of a mail, decoded.
type Part struct {
	ContentType string
	Params      map[string]string
	Disposition string
	Filename    string
	Body        string
}

// Parsed is a mail's headers and leaf parts.
type Parsed struct {
	Header mail.Header
	Parts  []Part
}

// Parse reads a mail's headers and walks its MIME tree.
func Parse(data []byte) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read the mail: %w", err)
	}
	p := &Parsed{Header: msg.Header}
	err = walk(msg.Header, msg.Body, &p.Parts)
	return p, err
}

type header interface{ Get(string) string }

func walk(h header, body io.Reader, out *[]Part) error {
	ct, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("content type %q: %w", h.Get("Content-Type"), err)
	}
	if strings.HasPrefix(ct, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(part.Header, part, out); err != nil {
				return err
			}
		}
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	decoded, err := decode(h.Get("Content-Transfer-Encoding"), raw)
	if err != nil {
		return err
	}
	p := Part{ContentType: ct, Params: params, Body: decoded}
	if d, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		p.Disposition, p.Filename = d, dp["filename"]
	}
	*out = append(*out, p)
	return nil
}

func decode(cte string, raw []byte) (string, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		b, err := io.ReadAll(qpReader(raw))
		return string(b), err
	case "base64":
		b, err := io.ReadAll(base64Reader(raw))
		return string(b), err
	}
	return string(raw), nil
}

// Find returns the first part of a content type.
func (p *Parsed) Find(contentType string) *Part {
	for i := range p.Parts {
		if p.Parts[i].ContentType == contentType {
			return &p.Parts[i]
		}
	}
	return nil
}

// Attachment returns the part with a file name.
func (p *Parsed) Attachment(name string) *Part {
	for i := range p.Parts {
		if p.Parts[i].Filename == name {
			return &p.Parts[i]
		}
	}
	return nil
}

// Subject decodes the Subject header (RFC 2047).
func (p *Parsed) Subject() string {
	dec := new(mime.WordDecoder)
	s, err := dec.DecodeHeader(p.Header.Get("Subject"))
	if err != nil {
		return p.Header.Get("Subject")
	}
	return s
}
