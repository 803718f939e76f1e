// Package safeurl is the bot's one rule for where it may send anything over
// HTTP: https, or plain http only to a loopback host (a local fake, a
// proxy on the same machine), so that nothing secret crosses a network in
// clear text.
package safeurl

import (
	"net"
	"net/url"
	"strings"
)

// Loopback reports whether host is localhost or a loopback address.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Allowed reports whether u has a host and is https, or http to a
// loopback host.
func Allowed(u *url.URL) bool {
	return u != nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http" && Loopback(u.Hostname()))
}
