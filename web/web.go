// Package web is OpenWAC's built-in web app (webphone and admin pages),
// embedded in the binary. Its sources are in web/src and its build in
// web/build.mjs; docs/web.md describes both.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// Handler serves the app: its files, and index.html for every other path
// (the app routes in the browser).
func Handler() http.Handler {
	root, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embedded tree always has dist
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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

// IsStatic reports whether a request path is one of the app's files, which
// the rate limiter counts under http.rpsHigh.
func IsStatic(p string) bool {
	return !strings.HasPrefix(p, "/sapi/") && !strings.HasPrefix(p, "/qss") && !strings.HasPrefix(p, "/janus") &&
		p != "/metrics" && p != "/healthz" && p != "/readyz"
}
