// Package wac carries what every copy of OpenWAC must carry besides its
// code: its licence (LICENSE, the Apache License 2.0), its notice (NOTICE,
// which lists the third-party software built into it) and that software's
// licence and notice texts (THIRD_PARTY_LICENSES). `wac licenses` prints
// them. A test keeps NOTICE and THIRD_PARTY_LICENSES in step with go.mod;
// `go test . -update` rewrites both from the module cache.
package wac

import _ "embed"

// License is OpenWAC's licence.
//
//go:embed LICENSE
var License string

// Notice is OpenWAC's notice: its copyright, its licence and the list of
// the third-party software it includes.
//
//go:embed NOTICE
var Notice string

// ThirdPartyLicenses holds the licence and notice files of every Go module
// in go.mod, as each module ships them.
//
//go:embed THIRD_PARTY_LICENSES
var ThirdPartyLicenses string
