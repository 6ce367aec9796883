package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SeedKey is a key of the seeds' own configuration files (the QSS
// config.json, wac.ini and default.toml of the product they document) that
// OpenWAC does not read under that name. A configuration written the seeds'
// way is accepted: an alias is read as its OpenWAC key, an ignored key is
// dropped with a warning that says why it has no effect, and a key that asks
// for a service OpenWAC does not have stops start-up saying so.
type SeedKey struct {
	// Path is the key as the seeds write it.
	Path string
	// Alias is the OpenWAC key it is read as, in the same section.
	Alias string
	// Ignored says why the key has no effect here.
	Ignored string
	// Refused says why the key stops start-up.
	Refused string
	// refuse, on an ignored key, says why a value cannot be honoured
	// ("" = the value is fine).
	refuse func(v *yaml.Node) string
}

// Warning is a key of the configuration file that was accepted but has no
// effect.
type Warning struct {
	Key    string
	Reason string
}

func (w Warning) String() string { return "config key " + w.Key + " has no effect: " + w.Reason }

const noTrunk = "OpenWAC has no parallel SIP: it does not fork invitations through the phone network (phones reach rooms through the sip role: invitations to tel: numbers, and dial-in to a room's sipUri)"

// SeedKeys lists the seeds' keys OpenWAC reads otherwise, in the order of
// the table in docs/configuration.md.
func SeedKeys() []SeedKey {
	return []SeedKey{
		{Path: "rooms.updateRoomOnwerWhenLeaves", Alias: "rooms.updateRoomOwnerWhenLeaves"},
		{Path: "rooms.updateRoomWhenOwnerLeaves", Alias: "rooms.updateRoomOwnerWhenLeaves"},
		{Path: "invites.basic.wac", Ignored: "the invites service runs inside OpenWAC and reads users, groups and " +
			"devices from its own store: it calls no sippo-server API, so it needs no address or admin credentials"},
		{Path: "invites.parallelSip", Ignored: "parallel SIP forks a call to the PSTN, and " + noTrunk +
			"; false, the seeds' default, is what OpenWAC does", refuse: refuseTrue(noTrunk)},
		{Path: "io.websockets.protocol", Ignored: "the QSS WebSocket speaks one protocol, the seeds' JT frames " +
			"(docs/protocol.md)", refuse: refuseUnless("jt", "the QSS WebSocket speaks only the seeds' JT frames")},
		{Path: "rooms.collectionType", Ignored: "OpenWAC keeps rooms in its own state (the node, or the cluster's " +
			"bus) and places their media itself; there is no dispatcher or Mongo collection to choose"},
		{Path: "rooms.janusAddress", Ignored: "the SFU dispatcher is built in: media nodes (the media role) " +
			"register themselves with the signaling nodes, so there is no dispatcher URL to give"},
		{Path: "oauth2provider.wiface", Ignored: "the OAuth2 endpoints (/sapi/o/...) are served on every " +
			"interface that serves the API (wiface.public)"},
		{Path: "log.relativePaths", Ignored: "OpenWAC's log lines carry no source file paths"},
		{Path: "oauth2client.wiface", Ignored: "the OAuth2 client's callback (/sapi/o/federation/callback) is served on " +
			"every interface that serves the API (wiface.public)"},
		{Path: "oauth2client.secure", Ignored: "the callback is served on the API's interfaces, plain or TLS as they " +
			"are configured (wiface.public.port_secure); put TLS in front in production"},
		{Path: "meeting", Ignored: "meeting signaling (joinMeeting, wac-meeting:<id>, and dial-in by PIN to " +
			"meetings.pstnExtension through the sip role) is built in and needs no configuration"},
		{Path: "meetings.linkFormat", Ignored: "the seeds dropped it: meeting links are always <linkHost>/meeting/<id>"},
		{Path: "meetings.shortenerToken", Ignored: "meeting links are not shortened (the server calls no bit.ly)"},
		{Path: "meetings.languagesTemplates", Ignored: "the templates are checked when they load, at start-up, whatever their language"},
		{Path: "mailer.pooled", Ignored: "each mail job opens its own SMTP connection"},
		{Path: "audiomixersio", Ignored: "the seeds' audio mixers (Asterisk) are built in: the sip role bridges calls " +
			"to rooms and mixes a room's audio for its phones itself, so there are no mixers to list"},
	}
}

// refuseTrue refuses a boolean key set to true (or to something that is not
// a boolean), saying why.
func refuseTrue(why string) func(v *yaml.Node) string {
	return func(v *yaml.Node) string {
		var b bool
		if err := v.Decode(&b); err != nil {
			return fmt.Sprintf("%q is not a boolean", v.Value)
		}
		if b {
			return "true cannot be honoured: " + why
		}
		return ""
	}
}

// refuseUnless refuses any value of a key but want, saying why.
func refuseUnless(want, why string) func(v *yaml.Node) string {
	return func(v *yaml.Node) string {
		if v.Kind == yaml.ScalarNode && strings.EqualFold(v.Value, want) {
			return ""
		}
		return fmt.Sprintf("%q cannot be honoured: %s", v.Value, why)
	}
}

// seedMatch is a seeds' key found in a configuration file: where, so that
// the strict decoder's complaint about it can be dropped.
type seedMatch struct {
	line int
	name string
}

// seedRewrite reads the seeds' keys in the document node: it renames aliases
// to their OpenWAC keys, removes ignored keys, and returns the warnings, the
// refusals and where each key was.
func seedRewrite(doc *yaml.Node) (warnings []Warning, refusals []error, found []seedMatch) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, nil, nil
	}
	byPath := map[string]SeedKey{}
	for _, k := range SeedKeys() {
		byPath[k.Path] = k
	}
	var walk func(m *yaml.Node, prefix string)
	walk = func(m *yaml.Node, prefix string) {
		if m.Kind != yaml.MappingNode {
			return
		}
		pathOf := func(key *yaml.Node) string {
			if prefix == "" {
				return key.Value
			}
			return prefix + "." + key.Value
		}
		// The keys of m by the OpenWAC key they are read as, to refuse a
		// key given twice under two spellings.
		spellings := map[string][]*yaml.Node{}
		for i := 0; i+1 < len(m.Content); i += 2 {
			key := m.Content[i]
			name := pathOf(key)
			if alias := byPath[name].Alias; alias != "" {
				name = alias
			}
			spellings[name] = append(spellings[name], key)
		}
		kept := m.Content[:0:0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			key, val := m.Content[i], m.Content[i+1]
			path := pathOf(key)
			sk, ok := byPath[path]
			if !ok {
				walk(val, path)
				kept = append(kept, key, val)
				continue
			}
			found = append(found, seedMatch{line: key.Line, name: key.Value})
			switch {
			case sk.Alias != "":
				for _, other := range spellings[sk.Alias] {
					if other != key {
						refusals = append(refusals, fmt.Errorf("config key %s: the same key as %s (line %d); keep one of them",
							path, pathOf(other), other.Line))
						break
					}
				}
				_, key.Value = cutLast(sk.Alias)
				kept = append(kept, key, val)
			case sk.Refused != "":
				refusals = append(refusals, fmt.Errorf("config key %s: %s", path, sk.Refused))
			default:
				if sk.refuse != nil {
					if why := sk.refuse(val); why != "" {
						refusals = append(refusals, fmt.Errorf("config key %s: %s", path, why))
						continue
					}
				}
				warnings = append(warnings, Warning{Key: path, Reason: sk.Ignored})
			}
		}
		m.Content = kept
	}
	walk(doc.Content[0], "")
	return warnings, refusals, found
}

// cutLast splits a key path into its section and its last name.
func cutLast(path string) (section, name string) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", path
	}
	return path[:i], path[i+1:]
}
