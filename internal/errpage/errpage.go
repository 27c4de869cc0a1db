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
	http.StatusRequestTimeout:        "Request Time-out",
	http.StatusRequestEntityTooLarge: "Request Entity Too Large",
	http.StatusServiceUnavailable:    "Service Temporarily Unavailable",
	http.StatusGatewayTimeout:        "Gateway Time-out",
}

// Title returns the page title of status, "502 Bad Gateway".
func Title(status int) string {
	text, ok := titles[status]
	if !ok {
		text = http.StatusText(status)
	}
	if text == "" {
		text = "Error"
	}
	return strconv.Itoa(status) + " " + text
}

// Write sends the error page of status.
func Write(w http.ResponseWriter, status int) {
	title := Title(status)
	body := "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" +
		title + "</h1></center>\r\n<hr><center>limpet</center>\r\n</body>\r\n</html>\r\n"
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
