package server

import "time"

// SetDrainTimeout shortens the shutdown drain for tests.
func SetDrainTimeout(s *Server, d time.Duration) { s.drainTimeout = d }

// SetReadTimeout shortens http.readTimeout for tests.
func SetReadTimeout(s *Server, d time.Duration) { s.mw.readTimeout = d }
