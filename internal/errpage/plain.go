package errpage

import "context"

// plainHTTPKey marks the context of a request that arrived in plain HTTP
// on a socket that speaks TLS.
type plainHTTPKey struct{}

// MarkPlainHTTP returns ctx marked as that of a request sent in plain
// HTTP to an HTTPS port: the server read it, as nginx does, so that the
// handler answers it with the PlainHTTP page (497) and logs it with the
// request's virtual server's access_log.
func MarkPlainHTTP(ctx context.Context) context.Context {
	return context.WithValue(ctx, plainHTTPKey{}, true)
}

// IsPlainHTTP reports whether ctx was marked by MarkPlainHTTP.
func IsPlainHTTP(ctx context.Context) bool {
	v, _ := ctx.Value(plainHTTPKey{}).(bool)
	return v
}
