package smtptest

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
)

func qpReader(raw []byte) io.Reader { return quotedprintable.NewReader(bytes.NewReader(raw)) }

func base64Reader(raw []byte) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r"), nil), []byte("\n"), nil)))
}
