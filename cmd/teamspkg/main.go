// Command teamspkg writes the Microsoft Teams app package of appreg-bot: a
// zip of manifest.json (with the bot's Microsoft app id from TEAMS_APP_ID)
// and the two icons, to upload in Teams (Apps → Manage your apps → Upload
// an app) or in the Teams Developer Portal.
//
//	TEAMS_APP_ID=<app id> go run ./cmd/teamspkg -out appreg-bot.zip
package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	teamsapp "github.com/appreg-bot/appreg-bot/teams"
)

func main() {
	out := flag.String("out", "appreg-bot.zip", "the zip to write")
	flag.Parse()
	if err := write(*out, os.Getenv("TEAMS_APP_ID")); err != nil {
		fmt.Fprintln(os.Stderr, "teamspkg:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", *out)
}

func write(path, appID string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Package(f, appID); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Package writes the app package for the bot appID (a GUID, the Azure
// Bot's Microsoft app id) to w.
func Package(w io.Writer, appID string) error {
	if !guid.MatchString(appID) {
		return errors.New("TEAMS_APP_ID: want the bot's Microsoft app id (a GUID)")
	}
	manifest := bytes.ReplaceAll(teamsapp.Manifest, []byte(teamsapp.AppIDPlaceholder), []byte(strings.ToLower(appID)))
	if err := Check(manifest); err != nil {
		return err
	}
	z := zip.NewWriter(w)
	for _, file := range []struct {
		name string
		data []byte
	}{{"manifest.json", manifest}, {"color.png", teamsapp.ColorIcon}, {"outline.png", teamsapp.OutlineIcon}} {
		fw, err := z.Create(file.name)
		if err != nil {
			return err
		}
		if _, err := fw.Write(file.data); err != nil {
			return err
		}
	}
	return z.Close()
}

// Check verifies what Teams requires of the manifest: valid JSON, the
// schema version, the app and bot id, names and descriptions within their
// lengths, the icons, and the bot's scopes and commands.
func Check(manifest []byte) error {
	var m struct {
		ManifestVersion string `json:"manifestVersion"`
		Version         string `json:"version"`
		ID              string `json:"id"`
		Developer       struct {
			Name, WebsiteURL, PrivacyURL, TermsOfUseURL string
		} `json:"developer"`
		Name struct {
			Short string `json:"short"`
			Full  string `json:"full"`
		} `json:"name"`
		Description struct {
			Short string `json:"short"`
			Full  string `json:"full"`
		} `json:"description"`
		Icons struct {
			Color   string `json:"color"`
			Outline string `json:"outline"`
		} `json:"icons"`
		AccentColor string `json:"accentColor"`
		Bots        []struct {
			BotID         string   `json:"botId"`
			Scopes        []string `json:"scopes"`
			SupportsFiles bool     `json:"supportsFiles"`
			CommandLists  []struct {
				Scopes   []string `json:"scopes"`
				Commands []struct {
					Title       string `json:"title"`
					Description string `json:"description"`
				} `json:"commands"`
			} `json:"commandLists"`
		} `json:"bots"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return fmt.Errorf("manifest.json is not valid JSON: %w", err)
	}
	var problems []string
	check := func(ok bool, what string) {
		if !ok {
			problems = append(problems, what)
		}
	}
	check(m.ManifestVersion >= "1.17", "manifestVersion 1.17 or later")
	check(m.Version != "", "version")
	check(guid.MatchString(m.ID), "id (a GUID)")
	check(m.Developer.Name != "" && strings.HasPrefix(m.Developer.WebsiteURL, "https://") &&
		strings.HasPrefix(m.Developer.PrivacyURL, "https://") && strings.HasPrefix(m.Developer.TermsOfUseURL, "https://"), "developer name and https URLs")
	check(m.Name.Short != "" && len(m.Name.Short) <= 30 && len(m.Name.Full) <= 100, "name.short (≤30) and name.full (≤100)")
	check(m.Description.Short != "" && len(m.Description.Short) <= 80 && len(m.Description.Full) <= 4000, "description.short (≤80) and full (≤4000)")
	check(m.Icons.Color == "color.png" && m.Icons.Outline == "outline.png", "icons color.png and outline.png")
	check(regexp.MustCompile(`^#[0-9a-fA-F]{6}$`).MatchString(m.AccentColor), "accentColor")
	check(len(m.Bots) == 1, "one bot")
	for _, b := range m.Bots {
		check(b.BotID == m.ID, "bots[0].botId equal to id")
		check(strings.Join(b.Scopes, ",") == "personal,team,groupChat", "bot scopes personal, team, groupChat")
		check(!b.SupportsFiles, "supportsFiles false")
		for _, l := range b.CommandLists {
			check(len(l.Commands) <= 10, "at most 10 commands a list")
			for _, c := range l.Commands {
				check(c.Title != "" && len(c.Title) <= 32 && len(c.Description) <= 128, "command "+c.Title+": title ≤32, description ≤128")
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("manifest.json: want %s", strings.Join(problems, "; "))
	}
	return nil
}
