package errpage

import (
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		status int
		title  string
	}{
		{502, "502 Bad Gateway"},
		{504, "504 Gateway Time-out"},
		{401, "401 Authorization Required"},
		{413, "413 Request Entity Too Large"},
		{599, "599 Error"},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		Write(w, tt.status)
		want := "<html>\r\n<head><title>" + tt.title + "</title></head>\r\n<body>\r\n<center><h1>" + tt.title +
			"</h1></center>\r\n<hr><center>limpet</center>\r\n</body>\r\n</html>\r\n"
		if w.Code != tt.status || w.Body.String() != want || w.Header().Get("Content-Type") != "text/html" {
			t.Errorf("status %d: got %d %q", tt.status, w.Code, w.Body.String())
		}
	}
}
