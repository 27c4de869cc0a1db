package api

// maxUnixPath is the longest socket path Linux's sockaddr_un holds, 108
// bytes with the terminating NUL, as the configuration checks it.
const maxUnixPath = 107

// checkUnixPath returns nginx's complaint about the path of a unix-domain
// server address, or "".
func checkUnixPath(path string) string {
	switch {
	case path == "":
		return "no path in the unix domain socket"
	case len(path) > maxUnixPath:
		return "too long path in the unix domain socket"
	}
	return ""
}
