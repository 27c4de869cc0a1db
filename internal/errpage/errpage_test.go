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
		{405, "405 Not Allowed"},
		{414, "414 Request-URI Too Large"},
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

func TestHeaderTooLarge(t *testing.T) {
	w := httptest.NewRecorder()
	Write(w, HeaderTooLarge)
	want := "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n" +
		"<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n" +
		"<hr><center>limpet</center>\r\n</body>\r\n</html>\r\n"
	if w.Code != 400 || w.Body.String() != want {
		t.Errorf("got %d %q, want 400 %q", w.Code, w.Body.String(), want)
	}
}
