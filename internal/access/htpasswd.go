package access

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/limpet-lb/limpet/internal/config"
	"golang.org/x/crypto/bcrypt"
)

// userFile is an htpasswd file as read at start.
type userFile struct {
	users map[string][]byte // bcrypt hash by user name
	dummy []byte            // a hash of the users' cost, nil without users
}

// bcryptOnly ends every complaint about a password format.
const bcryptOnly = `limpet supports only bcrypt ($2y$, $2a$, $2b$): regenerate it with "htpasswd -B"`

// readUsers reads the htpasswd file path, named by auth_basic_user_file
// at pos, in nginx's format: one "user:password[:comment]" a line, lines
// starting with "#" and empty lines skipped, the first line of a user
// winning. Every password must be a bcrypt hash.
func readUsers(path string, pos config.Pos) (*userFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &config.Error{Pos: pos, Msg: sysError("open", path, err)}
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, &config.Error{Pos: pos, Msg: sysError("read", path, err)}
	}

	uf, cost, err := parseUsers(path, pos, data)
	if err != nil {
		return nil, err
	}
	if len(uf.users) > 0 {
		if uf.dummy, err = bcrypt.GenerateFromPassword([]byte(rand.Text()), cost); err != nil {
			return nil, &config.Error{Pos: pos, Msg: fmt.Sprintf(`auth_basic_user_file "%s": %v`, path, err)}
		}
	}
	return uf, nil
}

// parseUsers reads the content of the htpasswd file path (see readUsers)
// and returns its users, without the dummy hash, and the highest bcrypt
// cost among them. It is apart from readUsers so that it can be fuzzed
// without files and without bcrypt's deliberate slowness.
func parseUsers(path string, pos config.Pos, data []byte) (*userFile, int, error) {
	uf := &userFile{users: map[string][]byte{}}
	var firstBad string // the complaint about the first non-bcrypt entry
	cost := 0
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		where := fmt.Sprintf("line %d", n+1)
		user, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, 0, &config.Error{Pos: pos, Msg: fmt.Sprintf(`auth_basic_user_file "%s": %s has no ":" after the user name`, path, where)}
		}
		hash, _, _ := strings.Cut(rest, ":") // a third field is a comment
		where = fmt.Sprintf("user %q on %s", user, where)
		format := hashFormat(hash)
		if format != "" {
			if firstBad == "" {
				firstBad = fmt.Sprintf("%s has a password in %s format", where, format)
			}
			continue
		}
		c, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, 0, &config.Error{Pos: pos, Msg: fmt.Sprintf(`auth_basic_user_file "%s": %s has a malformed bcrypt hash`, path, where)}
		}
		cost = max(cost, c)
		if _, dup := uf.users[user]; !dup {
			uf.users[user] = []byte(hash)
		}
	}
	switch {
	case firstBad != "" && len(uf.users) == 0:
		return nil, 0, &config.Error{Pos: pos, Msg: fmt.Sprintf(`auth_basic_user_file "%s" has no bcrypt passwords (%s); %s`, path, firstBad, bcryptOnly)}
	case firstBad != "":
		return nil, 0, &config.Error{Pos: pos, Msg: fmt.Sprintf(`auth_basic_user_file "%s": %s; %s`, path, firstBad, bcryptOnly)}
	}
	return uf, cost, nil
}

// hashFormat returns "" for a bcrypt hash, else the name of the format
// of hash, for the error message.
func hashFormat(hash string) string {
	for _, p := range []string{"$2y$", "$2a$", "$2b$"} {
		if strings.HasPrefix(hash, p) {
			return ""
		}
	}
	for _, f := range []struct{ prefix, name string }{
		{"$apr1$", "MD5 ($apr1$)"},
		{"$1$", "MD5-crypt ($1$)"},
		{"$5$", "SHA-256-crypt ($5$)"},
		{"$6$", "SHA-512-crypt ($6$)"},
		{"{SHA}", "SHA-1 ({SHA})"},
		{"{SSHA}", "salted SHA-1 ({SSHA})"},
		{"{PLAIN}", "plain text ({PLAIN})"},
	} {
		if strings.HasPrefix(hash, f.prefix) {
			return f.name
		}
	}
	return "crypt or plain text"
}

// sysError words a failed system call on path as nginx does:
// `open() "/etc/limpet/htpasswd" failed (2: No such file or directory)`.
func sysError(call, path string, err error) string {
	reason := err.Error()
	var errno syscall.Errno
	if errors.As(err, &errno) {
		text := errno.Error()
		if text != "" {
			text = strings.ToUpper(text[:1]) + text[1:] // strerror's capital
		}
		reason = fmt.Sprintf("%d: %s", int(errno), text)
	}
	return fmt.Sprintf(`%s() "%s" failed (%s)`, call, path, reason)
}
