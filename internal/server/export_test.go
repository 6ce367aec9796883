package server

import "time"

// SetDrainTimeout shortens the shutdown drain for tests.
func SetDrainTimeout(s *Server, d time.Duration) { s.drainTimeout = d }
