package node

import "github.com/openwac/wac/web"

// mountWeb serves the built-in web app at / on the public interface.
func (n *Node) mountWeb() {
	n.Server.Handle("/", web.Handler(web.Options{ConnectSrc: n.Config.HTTP.CSPConnectSrc, MediaURL: n.Config.Media.PublicURL}))
	n.Server.SetStatic(web.IsStatic)
}
