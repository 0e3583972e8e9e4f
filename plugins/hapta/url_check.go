package hapta

import (
	"fmt"
	"net/url"
)

// checkOptionalURL accepts "" or an absolute http(s) URL: the settings'
// URLs and Authenticate's OAuth2 redirect URLs.
func checkOptionalURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute http:// or https:// URL", raw)
	}
	return ""
}
