//go:build !unix

package procs

import "time"

// processCPU is not available here: the controller leaves GOMAXPROCS alone.
func processCPU() (time.Duration, bool) { return 0, false }
