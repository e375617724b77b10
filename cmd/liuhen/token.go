package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"
)

func init() {
	commands["token"] = command{"create, list or revoke bearer tokens (admin)", runToken}
}

const tokenUsage = `
usage: liuhen token create --role ROLE [--device ID] --name NAME [--server URL] [--token ADMIN]
       liuhen token list [--json] [--server URL] [--token ADMIN]
       liuhen token revoke ID [--server URL] [--token ADMIN]

Manage the server's bearer tokens through its admin API (/v1/admin/tokens)
with an admin token. Roles: device (bound to one device id: --device),
auditor, reporter, admin. create prints the new secret once (the server
keeps only its SHA-256); with --json, the whole answer.
`

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	co := addClientFlags(fs)
	role := fs.String("role", "", "create: the token's `role` (device, auditor, reporter, admin)")
	device := fs.String("device", "", "create: the device `id` a device token is bound to")
	name := fs.String("name", "", "create: a human-readable `name` (recorded as the actor of custody entries)")
	asJSON := fs.Bool("json", false, "print JSON")
	usageFunc(fs, stderr, tokenUsage)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fs.Usage()
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	verb, args := args[0], args[1:]
	var id string
	if verb == "revoke" && len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		id, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, -1); err != nil {
		return helpOK(err)
	}
	if verb == "revoke" && id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		if *role == "" || *name == "" {
			fs.Usage()
			return errUsage
		}
		var ans struct {
			ID, Name, Role string
			DeviceID       string `json:"device_id"`
			Token          string
		}
		body := map[string]string{"role": *role, "name": *name}
		if *device != "" {
			body["device_id"] = *device
		}
		var raw json.RawMessage
		if err := c.sendJSON(ctx, http.MethodPost, "/v1/admin/tokens", body, &raw); err != nil {
			return err
		}
		if *asJSON {
			_, err := fmt.Fprintf(stdout, "%s\n", raw)
			return err
		}
		if err := json.Unmarshal(raw, &ans); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "liuhen token: created %s token %s (%s); the secret, shown once:\n", ans.Role, ans.ID, ans.Name)
		fmt.Fprintln(stdout, ans.Token)
	case "list":
		var ans struct {
			Tokens []struct {
				ID, Name, Role string
				DeviceID       string `json:"device_id"`
				Created        time.Time
			}
		}
		var raw json.RawMessage
		if err := c.getJSON(ctx, "/v1/admin/tokens", &raw); err != nil {
			return err
		}
		if *asJSON {
			_, err := fmt.Fprintf(stdout, "%s\n", raw)
			return err
		}
		if err := json.Unmarshal(raw, &ans); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tDEVICE\tCREATED\tNAME")
		for _, t := range ans.Tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.DeviceID, t.Created.UTC().Format(time.RFC3339), t.Name)
		}
		return tw.Flush()
	case "revoke":
		if id == "" {
			fs.Usage()
			return errUsage
		}
		if err := c.sendJSON(ctx, http.MethodDelete, "/v1/admin/tokens/"+url.PathEscape(id), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
	default:
		fmt.Fprintf(stderr, "liuhen token: unknown action %q (create, list, revoke)\n", verb)
		return errUsage
	}
	return nil
}
