// Package errpage writes the small HTML error pages limpet answers with
// itself, in nginx's shape and wording, so that clients (and monitoring
// that matches nginx's pages) see what nginx would show, signed "limpet",
// and never a Go error text.
package errpage

import (
	"net/http"
	"strconv"
)

// titles are nginx's wordings where they differ from Go's status texts.
var titles = map[int]string{
	http.StatusUnauthorized:          "Authorization Required",
	http.StatusMethodNotAllowed:      "Not Allowed",
	http.StatusRequestTimeout:        "Request Time-out",
	http.StatusRequestEntityTooLarge: "Request Entity Too Large",
	http.StatusRequestURITooLong:     "Request-URI Too Large",
	http.StatusServiceUnavailable:    "Service Temporarily Unavailable",
	http.StatusGatewayTimeout:        "Gateway Time-out",
}

// HeaderTooLarge is nginx's pseudo-status 494: a request whose header
// field, or whole header, does not fit the client header buffers. It is
// sent as 400 with a page of its own ("Request Header Or Cookie Too
// Large"); Status maps it.
const HeaderTooLarge = 494

// nginx's other pseudo-statuses, of TLS, each sent as 400 with a page of
// its own: a client certificate that failed verification (495), none
// when ssl_verify_client on asks for one (496), and a plain HTTP request
// on a TLS socket (497).
const (
	CertError = 495
	NoCert    = 496
	PlainHTTP = 497
)

// pseudo are the pages' second lines, by pseudo-status.
var pseudo = map[int]string{
	HeaderTooLarge: "Request Header Or Cookie Too Large",
	CertError:      "The SSL certificate error",
	NoCert:         "No required SSL certificate was sent",
	PlainHTTP:      "The plain HTTP request was sent to HTTPS port",
}

// Status returns the status code sent for code: 400 for HeaderTooLarge,
// code itself otherwise.
func Status(code int) int {
	if _, ok := pseudo[code]; ok {
		return http.StatusBadRequest
	}
	return code
}

// Title returns the page title of status, "502 Bad Gateway".
func Title(status int) string {
	if text, ok := pseudo[status]; ok {
		return "400 " + text
	}
	text, ok := titles[status]
	if !ok {
		text = http.StatusText(status)
	}
	if text == "" {
		text = "Error"
	}
	return strconv.Itoa(status) + " " + text
}

// Body returns the HTML page of status (or of HeaderTooLarge), as nginx
// shapes its own.
func Body(status int) string {
	title := Title(status)
	heading := "<center><h1>" + title + "</h1></center>\r\n"
	if text, ok := pseudo[status]; ok {
		// nginx's 494 to 497 pages: the title says what, the heading
		// is 400's.
		heading = "<center><h1>400 Bad Request</h1></center>\r\n<center>" + text + "</center>\r\n"
	}
	return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n" + heading +
		"<hr><center>limpet</center>\r\n</body>\r\n</html>\r\n"
}

// Pager is a response writer that may answer an error status with a
// page of its own: the proxy's, for error_page. Write asks it first, so
// every error limpet makes (the proxy's, access control's) can have one.
type Pager interface {
	// ErrorPage answers status and reports true, or reports false when
	// the built-in page is to be sent.
	ErrorPage(status int) bool
}

// Write sends the error page of status: the writer's own, when it is a
// Pager that has one, else the built-in page.
func Write(w http.ResponseWriter, status int) {
	if p, ok := w.(Pager); ok && p.ErrorPage(status) {
		return
	}
	body := Body(status)
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(Status(status))
	_, _ = w.Write([]byte(body))
}
