package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	teamsapp "github.com/appreg-bot/appreg-bot/teams"
)

const appID = "5F0C9A1E-4B8D-4C3E-9A7F-2D6B1E8C0A11"

func TestPackage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "appreg-bot.zip")
	if err := write(out, appID); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range z.File {
		r, _ := f.Open()
		files[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	if len(files) != 3 || files["manifest.json"] == nil || files["color.png"] == nil || files["outline.png"] == nil {
		t.Fatalf("zip holds %d files", len(files))
	}
	var m map[string]any
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	bot := m["bots"].([]any)[0].(map[string]any)
	if m["id"] != strings.ToLower(appID) || bot["botId"] != m["id"] || strings.Contains(string(files["manifest.json"]), "${{") {
		t.Fatalf("ids: %v, %v", m["id"], bot["botId"])
	}
	if err := Check(files["manifest.json"]); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"color.png": 192, "outline.png": 32} {
		img, err := png.Decode(bytes.NewReader(files[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Fatalf("%s is %v", name, b)
		}
		if name == "outline.png" {
			checkOutline(t, img)
		}
	}
}

// checkOutline: only white and transparent pixels, and some of each.
func checkOutline(t *testing.T, img image.Image) {
	var white, clear int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			switch {
			case a == 0:
				clear++
			case r == 0xffff && g == 0xffff && bl == 0xffff:
				white++
			default:
				t.Fatalf("outline pixel (%d,%d) is neither white nor transparent", x, y)
			}
		}
	}
	if white == 0 || clear == 0 {
		t.Fatalf("outline: %d white, %d transparent", white, clear)
	}
}

func TestPackageRefusesABadAppID(t *testing.T) {
	for _, id := range []string{"", "not-a-guid", "${{TEAMS_APP_ID}}"} {
		if err := Package(io.Discard, id); err == nil || !strings.HasPrefix(err.Error(), "TEAMS_APP_ID:") {
			t.Errorf("%q: %v", id, err)
		}
	}
}

func TestCheckFindsProblems(t *testing.T) {
	good := bytes.ReplaceAll(teamsapp.Manifest, []byte(teamsapp.AppIDPlaceholder), []byte("5f0c9a1e-4b8d-4c3e-9a7f-2d6b1e8c0a11"))
	tests := []struct {
		name, from, to, want string
	}{
		{"not JSON", `"manifestVersion"`, `manifestVersion`, "not valid JSON"},
		{"old schema", `"manifestVersion": "1.17"`, `"manifestVersion": "1.16"`, "manifestVersion"},
		{"files", `"supportsFiles": false`, `"supportsFiles": true`, "supportsFiles"},
		{"scopes", `"scopes": ["personal", "team", "groupChat"],
      "supportsFiles"`, `"scopes": ["personal"],
      "supportsFiles"`, "bot scopes"},
		{"long title", `"title": "appreg help"`, `"title": "appreg help with a title far too long for Teams"`, "title ≤32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tt.from, tt.to, 1)
			if bad == string(good) {
				t.Fatal("the test's replacement did not apply")
			}
			if err := Check([]byte(bad)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
