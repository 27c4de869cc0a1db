package config

import (
	"errors"
	"io/fs"
)

// BuiltinMimeTypes is the file `include mime.types;` reads when no
// mime.types sits beside the main configuration file: configurations
// written for /etc/nginx/ include it by that relative name, and limpet
// has no /etc/nginx. It is limpet's own table of the types a site's
// static files commonly have; nginx's conf/mime.types has more. An
// existing file, or any other path, is read as it is.
const BuiltinMimeTypes = `types {
    text/html                    html htm shtml;
    text/css                     css;
    text/xml                     xml;
    text/plain                   txt;
    text/csv                     csv;
    text/markdown                md;
    text/calendar                ics;
    text/vtt                     vtt;
    text/javascript              js mjs;
    application/json             json map;
    application/ld+json          jsonld;
    application/manifest+json    webmanifest;
    application/xml              xsd;
    application/atom+xml         atom;
    application/rss+xml          rss;
    application/xhtml+xml        xhtml;
    application/wasm             wasm;
    application/pdf              pdf;
    application/zip              zip;
    application/gzip             gz;
    application/x-tar            tar;
    application/x-bzip2          bz2;
    application/x-xz             xz;
    application/x-7z-compressed  7z;
    application/vnd.rar          rar;
    application/java-archive     jar war ear;
    application/octet-stream     bin exe dll deb dmg iso img msi msp msm;
    application/rtf              rtf;
    application/msword           doc;
    application/vnd.ms-excel     xls;
    application/vnd.ms-powerpoint ppt;
    application/vnd.openxmlformats-officedocument.wordprocessingml.document   docx;
    application/vnd.openxmlformats-officedocument.spreadsheetml.sheet         xlsx;
    application/vnd.openxmlformats-officedocument.presentationml.presentation pptx;
    application/vnd.oasis.opendocument.text         odt;
    application/vnd.oasis.opendocument.spreadsheet  ods;
    application/vnd.oasis.opendocument.presentation odp;
    application/epub+zip         epub;
    application/pgp-signature    asc sig;
    application/pkix-cert        cer crt;
    application/x-x509-ca-cert   der pem;
    image/gif                    gif;
    image/jpeg                   jpeg jpg;
    image/png                    png;
    image/webp                   webp;
    image/avif                   avif;
    image/svg+xml                svg svgz;
    image/x-icon                 ico;
    image/bmp                    bmp;
    image/tiff                   tif tiff;
    font/woff                    woff;
    font/woff2                   woff2;
    font/ttf                     ttf;
    font/otf                     otf;
    application/vnd.ms-fontobject eot;
    audio/mpeg                   mp3;
    audio/ogg                    ogg oga;
    audio/wav                    wav;
    audio/webm                   weba;
    audio/aac                    aac;
    audio/flac                   flac;
    audio/midi                   mid midi kar;
    audio/mp4                    m4a;
    video/mp4                    mp4 m4v;
    video/mpeg                   mpeg mpg;
    video/webm                   webm;
    video/ogg                    ogv;
    video/quicktime              mov;
    video/x-msvideo              avi;
    video/x-matroska             mkv;
    video/mp2t                   ts;
    application/vnd.apple.mpegurl m3u8;
    application/dash+xml         mpd;
}
`

// builtinMimeTypesName labels the built-in table's positions in errors.
const builtinMimeTypesName = "limpet:mime.types"

// builtinInclude returns the built-in mime.types for `include
// mime.types;` when the file is missing (err), or ok false.
func builtinInclude(d *Directive, err error) (name string, src []byte, ok bool) {
	if d.Args[0] != "mime.types" || !errors.Is(err, fs.ErrNotExist) {
		return "", nil, false
	}
	return builtinMimeTypesName, []byte(BuiltinMimeTypes), true
}
