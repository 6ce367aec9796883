// Package web is OpenWAC's built-in web app (webphone and admin pages),
// embedded in the binary. Its sources are in web/src and its build in
// web/build.mjs; docs/web.md describes both.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// Options adjust how the app is served.
type Options struct {
	// ConnectSrc are more sources the app may connect to besides its own
	// origin (http.cspConnectSrc): the media nodes' WebSocket URLs when
	// they are on other hosts.
	ConnectSrc []string
	// MediaURL is this node's media.publicUrl, if set: its host is added
	// to connect-src.
	MediaURL string
}

// Handler serves the app: its files, and index.html for every other path
// (the app routes in the browser), under a Content-Security-Policy that
// allows only the app's own files and connections to its server and
// media nodes.
func Handler(opts Options) http.Handler {
	root, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embedded tree always has dist
	}
	files := http.FileServerFS(root)
	connect := append(mediaSources(opts.MediaURL), opts.ConnectSrc...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", ContentSecurityPolicy(r.Host, connect))
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p == "" || p == "." {
			p = "index.html"
		}
		if _, err := fs.Stat(root, p); err != nil {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/"
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r2)
			return
		}
		switch {
		case p == "index.html":
			w.Header().Set("Cache-Control", "no-cache")
		case strings.HasPrefix(p, "assets/"):
			// Named by content hash: a new build has new names.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}

// ContentSecurityPolicy is the app's policy when served to host (the
// request's Host): scripts, styles, fonts and images from its own origin
// only (no inline code: the build has none), media from blobs (camera
// previews), connections to its own origin, the WebSockets of its host
// (signaling at /qss, media at /janus) and connect's sources, and no
// framing.
func ContentSecurityPolicy(host string, connect []string) string {
	src := []string{"'self'"}
	if validHost(host) {
		// 'self' covers ws: and wss: of the same host in CSP 3 only.
		src = append(src, "ws://"+host, "wss://"+host)
	}
	src = append(src, connect...)
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"media-src 'self' blob:; connect-src " + strings.Join(src, " ") + "; object-src 'none'; " +
		"base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
}

// validHost reports whether a Host header can go into the policy as it is:
// a name or address and a port, nothing that could end the directive.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)
		if !ok {
			return false
		}
	}
	return true
}

// mediaSources are the connect-src sources of a media node's public URL
// (http(s)://host[:port]): its HTTP and WebSocket origins.
func mediaSources(publicURL string) []string {
	u, err := url.Parse(publicURL)
	if err != nil || !validHost(u.Host) {
		return nil
	}
	switch u.Scheme {
	case "https":
		return []string{"https://" + u.Host, "wss://" + u.Host}
	case "http":
		return []string{"http://" + u.Host, "ws://" + u.Host}
	}
	return nil
}

// IsStatic reports whether a request path is one of the app's files, which
// the rate limiter counts under http.rpsHigh.
func IsStatic(p string) bool {
	return !strings.HasPrefix(p, "/sapi/") && !strings.HasPrefix(p, "/qss") && !strings.HasPrefix(p, "/janus") &&
		p != "/metrics" && p != "/healthz" && p != "/readyz"
}
