// Package teamsapp holds the Microsoft Teams app package of appreg-bot:
// the manifest (with "${{TEAMS_APP_ID}}" where the bot's Microsoft app id
// goes) and its two icons. cmd/teamspkg writes the zip to upload.
package teamsapp

import _ "embed"

// AppIDPlaceholder stands for the bot's Microsoft app id in Manifest.
const AppIDPlaceholder = "${{TEAMS_APP_ID}}"

var (
	// Manifest is manifest.json as committed, with AppIDPlaceholder.
	//go:embed manifest.json
	Manifest []byte
	// ColorIcon is color.png: 192×192, full colour.
	//go:embed color.png
	ColorIcon []byte
	// OutlineIcon is outline.png: 32×32, white on transparent.
	//go:embed outline.png
	OutlineIcon []byte
)
