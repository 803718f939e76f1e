package safeurl

import (
	"net/url"
	"testing"
)

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://hooks.example.com/x", true},
		{"https://10.0.0.1/", true},
		{"http://127.0.0.1:8080/x", true},
		{"http://127.0.0.2/x", true},
		{"http://[::1]:3978/api/messages", true},
		{"http://localhost/x", true},
		{"http://LocalHost/x", true},
		{"http://hooks.example.com/x", false},
		{"http://10.0.0.1/", false},
		{"http://localhost.example.com/", false},
		{"ftp://127.0.0.1/", false},
		{"https:///x", false},
		{"/relative", false},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := Allowed(u); got != tc.want {
			t.Errorf("Allowed(%s) = %v, want %v", tc.url, got, tc.want)
		}
	}
	if Allowed(nil) {
		t.Error("Allowed(nil) = true")
	}
}
