// composecheck loads a compose file with the Compose Specification's reference parser (the one
// `docker compose` uses) and prints the resolved project as JSON, so tests can check it without
// a Docker engine.
//
//	composecheck -f docker-compose.yml [-env-file .env] [-profile dev]...
//
// It exits 1 with the parser's message when the file is invalid: a schema violation, a
// required variable (${VAR:?message}) left unset, a dependency on a service no active profile
// enables, and so on.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// resolved is what the tests read: the project as compose would run it with these profiles.
type resolved struct {
	Name     string         `json:"name"`
	Profiles []string       `json:"profiles"`
	Services types.Services `json:"services"`
	Disabled []string       `json:"disabled_services"`
	Volumes  types.Volumes  `json:"volumes"`
	Networks types.Networks `json:"networks"`
}

func main() {
	var files, envFiles, profiles repeated
	flag.Var(&files, "f", "compose file (repeatable)")
	flag.Var(&envFiles, "env-file", "environment file (repeatable; default: .env beside the compose file)")
	flag.Var(&profiles, "profile", "profile to enable (repeatable)")
	workdir := flag.String("project-directory", "", "project directory (default: the first file's folder)")
	flag.Parse()
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "composecheck: give at least one -f compose file")
		os.Exit(2)
	}

	opts := []cli.ProjectOptionsFn{cli.WithOsEnv, cli.WithEnvFiles(envFiles...), cli.WithDotEnv, cli.WithProfiles(profiles)}
	if *workdir != "" {
		opts = append([]cli.ProjectOptionsFn{cli.WithWorkingDirectory(*workdir)}, opts...)
	}
	options, err := cli.NewProjectOptions(files, opts...)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}

	disabled := make([]string, 0, len(project.DisabledServices))
	for name := range project.DisabledServices {
		disabled = append(disabled, name)
	}
	sort.Strings(disabled)
	out := resolved{
		Name:     project.Name,
		Profiles: append([]string{}, profiles...),
		Services: project.Services,
		Disabled: disabled,
		Volumes:  project.Volumes,
		Networks: project.Networks,
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "composecheck: %v\n", err)
	os.Exit(1)
}
