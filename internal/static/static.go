// Package static serves a location's files as nginx's static, index and
// try_files handlers do: a URI mapped to a path under root (or alias),
// the index file of a directory, the first existing file of try_files,
// and the file itself with its type, Last-Modified, ETag, ranges and
// conditional requests.
//
// The package answers for the file system only. What becomes of an error
// status (an error_page, an internal redirect) is the proxy's business: a
// Result says what to do, and the proxy does it.
package static

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/errpage"
	"github.com/limpet-lb/limpet/internal/vars"
)

// Files serves the static files of one level (a location, or a server's
// requests that match no location). It is immutable and shared by every
// request.
type Files struct {
	root        string // without a trailing slash, except for alias "dir/"
	inside      string // root cleaned, with a slash: every path must start with it
	alias       bool
	aliasPrefix string
	aliasWhole  bool // an alias in a regex location: the file itself
	// rootT is root (or alias) when it holds variables, expanded per
	// request (then root and inside are unused); prefix is what a
	// relative expansion is joined to.
	rootT       *vars.Template
	prefix      string
	index       []indexFile
	try         []tryFile
	tryFallback *vars.Template
	tryCode     int
	types       map[string]string
	defaultType string
	etag        bool
	ims         string
	symlinks    config.Symlinks
}

// indexFile is one FILE of index: its name, or its template when it
// holds variables.
type indexFile struct {
	name string
	t    *vars.Template
}

// tryFile is one FILE of try_files. dir is set for a FILE written with
// a trailing "/" ("$uri/"): that slash is cut off, as nginx cuts it, and
// the name must be a directory; any other must be a file.
type tryFile struct {
	t   *vars.Template
	dir bool
}

// New compiles the static settings of a level. The variables of
// try_files are checked here: an unknown one is an error at its line.
func New(s *config.Static, g *vars.Registry) (*Files, error) {
	f := &Files{
		root:        s.Root,
		alias:       s.Alias,
		aliasPrefix: s.AliasPrefix,
		aliasWhole:  s.AliasWhole,
		types:       s.Types,
		defaultType: s.DefaultType,
		etag:        s.ETag,
		ims:         s.IfModifiedSince,
		symlinks:    s.Symlinks,
	}
	if f.symlinks != config.SymlinksFollow && !canRefuseSymlinks {
		return nil, errors.New(`"disable_symlinks on" is not supported by limpet on this system`)
	}
	if s.RootVars {
		t, err := g.Compile(s.Root)
		if err != nil {
			return nil, &config.Error{Pos: s.RootPos, Msg: err.Error()}
		}
		f.rootT, f.prefix = t, s.Prefix
		if f.aliasWhole {
			f.inside = aliasInside(s.Root)
		}
	} else {
		f.root, f.inside = f.base(s.Root)
	}
	for _, name := range s.Index {
		t, err := g.Compile(name)
		if err != nil {
			return nil, &config.Error{Pos: s.IndexPos, Msg: err.Error()}
		}
		ix := indexFile{name: name}
		if _, static := t.Static(); !static {
			ix.t = t
		}
		f.index = append(f.index, ix)
	}
	if tf := s.TryFiles; tf != nil {
		for _, name := range tf.Files {
			dir := strings.HasSuffix(name, "/")
			if dir {
				name = name[:len(name)-1]
			}
			t, err := g.Compile(name)
			if err != nil {
				return nil, &config.Error{Pos: tf.Pos, Msg: err.Error()}
			}
			f.try = append(f.try, tryFile{t: t, dir: dir})
		}
		f.tryCode = tf.Code
		t, err := g.Compile(tf.Fallback)
		if err != nil {
			return nil, &config.Error{Pos: tf.Pos, Msg: err.Error()}
		}
		f.tryFallback = t
	}
	return f, nil
}

// base returns the root to put before a URI and the directory every
// path must stay in ("/srv/www/"), for root or alias as written or
// expanded.
func (f *Files) base(r string) (root, inside string) {
	inside = filepath.Clean(r)
	if !strings.HasSuffix(inside, "/") {
		inside += "/"
	}
	if !f.alias && len(r) > 1 {
		r = strings.TrimSuffix(r, "/")
	}
	return r, inside
}

// aliasInside is the directory an alias with variables in a regex
// location must stay in: that of its literal part before the first
// variable ("/srv/u/" for "/srv/u/$1", "/srv/" for "/srv/img$1"), or ""
// when it starts with a variable or is relative, which bounds nothing.
func aliasInside(alias string) string {
	lit, _, _ := strings.Cut(alias, "$")
	if !filepath.IsAbs(lit) {
		return ""
	}
	dir := lit
	if !strings.HasSuffix(dir, "/") {
		dir = filepath.Dir(dir)
	}
	dir = filepath.Clean(dir)
	if dir != "/" {
		dir += "/"
	}
	return dir
}

// hasDotDot reports whether path holds a ".." segment, which an alias
// built from a request's values must not: captures come from the
// normalized URI, but another variable ($arg_f) need not.
func hasDotDot(path string) bool {
	for path != "" {
		seg, rest, _ := strings.Cut(path, "/")
		if seg == ".." {
			return true
		}
		path = rest
	}
	return false
}

// Path maps a URI to the file it names: root followed by the URI, or,
// with alias, the alias in place of the location's prefix. ok is false
// when the path would leave the root (alias "/srv/x/" in "location /x"
// maps "/x../etc" outside it, which nginx serves and limpet refuses).
// vr expands a root with variables (a relative result is under the
// prefix); it may be nil otherwise.
func (f *Files) Path(uri string, vr *vars.Request) (path string, ok bool) {
	path, _, ok = f.resolve(uri, vr)
	return path, ok
}

// resolve is Path, with the root (or alias) the path is under.
func (f *Files) resolve(uri string, vr *vars.Request) (path, root string, ok bool) {
	return f.resolveURI(uri, vr, vr != nil && vr.AddURIToAlias)
}

// resolveURI is resolve; addURI puts the URI after an alias of a regex
// location instead of the alias naming the file (nginx's
// add_uri_to_alias, which try_files sets).
func (f *Files) resolveURI(uri string, vr *vars.Request, addURI bool) (path, root string, ok bool) {
	root, inside := f.root, f.inside
	if f.rootT != nil {
		r := f.rootT.Expand(vr)
		if r == "" {
			return "", "", false
		}
		if !filepath.IsAbs(r) {
			slash := strings.HasSuffix(r, "/")
			r = filepath.Join(f.prefix, r)
			if slash {
				r += "/"
			}
		}
		root, inside = f.base(r)
	}
	if f.aliasWhole {
		// The alias names the file. Written without variables, its
		// directory is what it may not leave, which it cannot; built
		// from captures ("alias /srv/$1"), it must stay in the
		// directory its literal part names, and hold no ".." segment.
		if strings.IndexByte(root, 0) >= 0 {
			return "", "", false
		}
		if f.rootT != nil && (hasDotDot(root) || f.inside != "" && !strings.HasPrefix(filepath.Clean(root), f.inside)) {
			return "", "", false
		}
		if !addURI {
			// The whole path is the root: from=$document_root has
			// nothing under it to check, as in nginx.
			return root, filepath.Clean(root), true
		}
		inside = filepath.Clean(root)
		if inside != "/" {
			inside += "/"
		}
	}
	if f.aliasWhole {
		path = root + uri
	} else if f.alias {
		rest := ""
		if len(uri) > len(f.aliasPrefix) {
			rest = uri[len(f.aliasPrefix):]
		}
		path = root + rest
	} else if root == "/" {
		path = uri
	} else {
		path = root + uri
	}
	if strings.IndexByte(path, 0) >= 0 {
		return "", "", false
	}
	clean := filepath.Clean(path)
	if clean+"/" != inside && !strings.HasPrefix(clean, inside) {
		return "", "", false
	}
	return path, root, true
}

// open opens a file of the level, refusing symlinks as disable_symlinks
// says; root is the level's root (or alias) for from=$document_root.
func (f *Files) open(path, root string) (*os.File, error) {
	switch f.symlinks {
	case config.SymlinksRefuse:
		return openNoFollow(path, "")
	case config.SymlinksRefuseUnderRoot:
		if path == root {
			// An alias in a regex location: the path is the root.
			return os.Open(path)
		}
		return openNoFollow(path, root)
	}
	return os.Open(path)
}

// stat is os.Stat through open, so that it refuses what open refuses.
func (f *Files) stat(path, root string) (fs.FileInfo, error) {
	if f.symlinks == config.SymlinksFollow {
		return os.Stat(path)
	}
	fd, err := f.open(path, root)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	return fd.Stat()
}

// HasTryFiles reports whether the level has try_files.
func (f *Files) HasTryFiles() bool { return f.try != nil }

// Try runs try_files: the URI of the first FILE that exists (one
// written with a trailing "/" must be a directory, any other a file; a
// directory found becomes the URI without that slash, so the static
// handler redirects to it with one, as nginx), or, when none does, found
// false and the fallback: a URI or "@name" to redirect to, or a code.
func (f *Files) Try(vr *vars.Request) (uri string, found bool, fallback string, code int) {
	for _, tf := range f.try {
		name := tf.t.Expand(vr)
		if name == "" || name[0] != '/' {
			name = "/" + name
		}
		// In a regex location, the FILE goes after the alias, as in
		// nginx.
		p, root, ok := f.resolveURI(name, vr, f.aliasWhole)
		if !ok {
			continue
		}
		fi, err := f.stat(p, root)
		if err != nil || fi.IsDir() != tf.dir {
			continue
		}
		if f.aliasWhole {
			// nginx keeps the URI when a directory was found, and
			// otherwise serves the file the test found: the alias
			// followed by the new URI.
			if tf.dir {
				return vr.URI, true, "", 0
			}
			vr.AddURIToAlias = true
		}
		return name, true, "", 0
	}
	if f.tryCode != 0 {
		return "", false, "", f.tryCode
	}
	// The fallback may hold variables ($uri, $args).
	return "", false, f.tryFallback.Expand(vr), 0
}

// Result is what Serve asks of its caller when it did not answer.
type Result struct {
	// Status is an error to answer: 404, 403, 405, 500, or 301 with
	// Location set (a directory asked for without its slash).
	Status int
	// Location is the target of a 301, relative ("/dir/?a=b"); the
	// caller makes it absolute as nginx does.
	Location string
	// Redirect is a URI to redirect to internally (an index file).
	Redirect string
	// Log is the error log message of Status in nginx's words
	// (`open() "/srv/x" failed (...)`), or "".
	Log string
}

// failed is the Result of a file that could not be opened.
func failed(path string, err error) Result {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return Result{Status: openStatus(err), Log: `open() "` + path + `" failed (` + err.Error() + ")"}
}

// Serve answers a request for vr.URI (the current URI, normalized) from
// the files, or returns what the caller must do instead.
func (f *Files) Serve(w http.ResponseWriter, r *http.Request, vr *vars.Request) Result {
	uri := vr.URI
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		return Result{Status: http.StatusMethodNotAllowed}
	}
	if strings.HasSuffix(uri, "/") {
		return f.serveIndex(uri, vr)
	}
	path, root, ok := f.resolve(uri, vr)
	if !ok {
		return Result{Status: http.StatusNotFound}
	}
	fd, err := f.open(path, root)
	if err != nil {
		return failed(path, err)
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		return Result{Status: http.StatusInternalServerError}
	}
	if fi.IsDir() {
		loc := (&url.URL{Path: uri + "/"}).EscapedPath()
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		return Result{Status: http.StatusMovedPermanently, Location: loc}
	}
	if !fi.Mode().IsRegular() {
		return Result{Status: http.StatusNotFound}
	}
	if r.Method == http.MethodPost {
		return Result{Status: http.StatusMethodNotAllowed}
	}
	f.serveFile(w, r, uri, fd, fi)
	return Result{}
}

// serveIndex answers a URI ending in "/": the first index file that
// exists is redirected to internally; the last, when absolute, is
// redirected to without a test, as nginx does. A directory without an
// index file is 403, a missing one 404.
func (f *Files) serveIndex(uri string, vr *vars.Request) Result {
	dir, root, ok := f.resolve(uri, vr)
	if !ok {
		return Result{Status: http.StatusNotFound}
	}
	for _, ix := range f.index {
		name := ix.name
		if ix.t != nil {
			name = ix.t.Expand(vr)
		}
		if name == "" {
			continue
		}
		if name[0] == '/' {
			return Result{Redirect: name}
		}
		fi, err := f.stat(dir+name, root)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue
			}
			return failed(dir+name, err)
		}
		if fi.IsDir() {
			continue
		}
		return Result{Redirect: uri + name}
	}
	fi, err := f.stat(dir, root)
	switch {
	case err != nil:
		return failed(dir, err)
	case !fi.IsDir():
		return Result{Status: http.StatusNotFound}
	}
	return Result{Status: http.StatusForbidden, Log: `directory index of "` + dir + `" is forbidden`}
}

// openStatus maps an error opening a file to nginx's status.
func openStatus(err error) int {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENAMETOOLONG):
		return http.StatusNotFound
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.EMLINK):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// ContentType returns the type of uri by its extension (what follows the
// last "." of the last segment, without case), else default_type.
func (f *Files) ContentType(uri string) string {
	seg := uri[strings.LastIndexByte(uri, '/')+1:]
	if i := strings.LastIndexByte(seg, '.'); i >= 0 {
		if t, ok := f.types[strings.ToLower(seg[i+1:])]; ok {
			return t
		}
	}
	return f.defaultType
}

// ETag is nginx's entity tag of a file: its mtime in seconds and its
// size, both in hex.
func ETag(fi fs.FileInfo) string {
	return `"` + strconv.FormatInt(fi.ModTime().Unix(), 16) + "-" + strconv.FormatInt(fi.Size(), 16) + `"`
}

// serveFile sends the file with nginx's headers. Ranges (one, or several
// as multipart/byteranges), If-None-Match, If-Match, If-Unmodified-Since
// and If-Range are net/http's ServeContent; If-Modified-Since follows
// if_modified_since first.
func (f *Files) serveFile(w http.ResponseWriter, r *http.Request, uri string, fd *os.File, fi fs.FileInfo) {
	h := w.Header()
	h.Set("Content-Type", f.ContentType(uri))
	mtime := fi.ModTime().Truncate(time.Second)
	if f.etag {
		h.Set("Etag", ETag(fi))
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		keep := false
		if t, err := http.ParseTime(ims); err == nil {
			switch f.ims {
			case "exact":
				keep = t.Equal(mtime)
			case "before":
				keep = !mtime.After(t)
			}
		}
		if !keep {
			// net/http answers 304 for any date not before the file's;
			// nginx's default asks for the exact one.
			r.Header.Del("If-Modified-Since")
		}
	}
	// Bounded in time as a proxied body is by send_timeout: 60s, and a
	// second more per 64 KiB, so a client that stops reading cannot
	// hold the file and its goroutine for ever. (The kernel sends the
	// file in one call, so the bound is on the whole body, not between
	// two writes.)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(sendTimeout + time.Duration(fi.Size()>>16)*time.Second))
	http.ServeContent(&rangeError{ResponseWriter: w, mtime: mtime}, r, "", mtime, fd)
}

// sendTimeout is nginx's send_timeout default.
const sendTimeout = 60 * time.Second

// rangeError replaces the text net/http writes with a 416 (a Go error
// message) by limpet's error page, keeping its Content-Range.
// It also keeps Last-Modified on a 304, which net/http drops when the
// response has an ETag and nginx keeps.
type rangeError struct {
	http.ResponseWriter
	dropping bool
	mtime    time.Time
}

func (w *rangeError) WriteHeader(code int) {
	if code == http.StatusNotModified {
		w.Header().Set("Last-Modified", w.mtime.UTC().Format(http.TimeFormat))
	}
	if code != http.StatusRequestedRangeNotSatisfiable {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.dropping = true
	h := w.Header()
	h.Del("X-Content-Type-Options")
	errpage.Write(w.ResponseWriter, code)
}

// ReadFrom passes a file on to the writer's ReadFrom (sendfile).
func (w *rangeError) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && !w.dropping {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w}, src)
}

// writerOnly hides a ReadFrom, so io.Copy uses Write and a buffer.
type writerOnly struct{ io.Writer }

func (w *rangeError) Write(p []byte) (int, error) {
	if w.dropping {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}
