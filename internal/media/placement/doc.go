// Package placement places media rooms on media nodes: the dispatcher on
// signaling nodes, the directory it shares with the media nodes, and the
// agent that makes a media node part of it. It knows nothing of WebRTC:
// a media node is a Host (videoroom.SFU is one: SFU.PlacementHost).
//
// # What signaling uses
//
// Signaling creates a media room with each QSS room and destroys it with
// the room, through a Dispatcher:
//
//	info, err := d.CreateRoom(ctx, roomUUID, placement.RoomOptions{Bitrate: 300})
//	// info.Number, info.Server.HTTPS, info.Server.WSS, info.ServerUUID go
//	// into the room object; the room's token is a grant.Grant signed with
//	// the cluster secret, which the SFU checks when a client joins.
//	err = d.DestroyRoom(ctx, roomUUID)
//	d.OnRoomEnded(func(roomID, reason string) { ... }) // node died or left
//
// The ICE servers of the room object come from turn.ICEServers (package
// internal/turn).
//
// CreateRoom picks the least loaded live media node: nodes report their
// peers, rooms and capacity through a Directory every heartbeat (RunAgent
// does it for a Host); a node silent for longer than the dispatcher's
// timeout is dead and its rooms are reported ended, as are the rooms of a
// node that leaves and the rooms a node ends by itself. LocalDirectory is
// the Directory inside one process (a single node, and tests with several
// media nodes); BusDirectory is the one of a cluster, over its message bus.
package placement
