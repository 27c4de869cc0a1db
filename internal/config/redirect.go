package config

// This file reads how limpet's own redirects are made absolute, as
// ngx_http_header_filter does with a Location that starts with '/':
// absolute_redirect, server_name_in_redirect and port_in_redirect, set in
// http, server and location and inherited as the proxy settings are.

// Redirects are the effective settings of a level for the Location of
// the redirects limpet makes itself (return, rewrite ... redirect, the
// slash of a prefix location, error_page): a Location starting with '/'
// is made absolute with the request's scheme, a host and a port.
type Redirects struct {
	// Absolute is absolute_redirect (default on); off leaves the
	// Location relative.
	Absolute bool
	// ServerName is server_name_in_redirect (default off): the host is
	// the server's first server_name instead of the request's Host (the
	// server's address when it has none).
	ServerName bool
	// Port is port_in_redirect (default on): the port the connection was
	// accepted on follows the host, unless it is the scheme's own (80,
	// 443).
	Port bool
}

// redirectConf is one level's redirect settings, unset where the level
// says nothing.
type redirectConf struct {
	absolute, serverName, port setting[bool]
}

func (c *redirectConf) inherit(parent *redirectConf) {
	c.absolute.inherit(parent.absolute)
	c.serverName.inherit(parent.serverName)
	c.port.inherit(parent.port)
}

func (c *redirectConf) effective() Redirects {
	return Redirects{
		Absolute:   c.absolute.or(true),
		ServerName: c.serverName.or(false),
		Port:       c.port.or(true),
	}
}
