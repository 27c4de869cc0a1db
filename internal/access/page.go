package access

import (
	"net/http"
	"strconv"
)

// pageTitles are nginx's wordings of the statuses access control sends;
// nginx says "Authorization Required" where Go says "Unauthorized".
var pageTitles = map[int]string{
	http.StatusUnauthorized: "401 Authorization Required",
	http.StatusForbidden:    "403 Forbidden",
}

// writePage sends nginx's small error page for status, in the same form
// as the proxy's error pages (internal/proxy/errors.go), so a refused
// client sees what nginx would show.
func writePage(w http.ResponseWriter, status int) {
	title := pageTitles[status]
	body := "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" +
		title + "</h1></center>\r\n<hr><center>limpet</center>\r\n</body>\r\n</html>\r\n"
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
