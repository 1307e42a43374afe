// Command dockerfilecheck runs BuildKit's own Dockerfile front end on a Dockerfile, the
// code behind `docker build --check`, without a daemon: it parses every stage and
// instruction and applies BuildKit's lint rules. Base images are not pulled: their
// configuration is stubbed with a PATH only, so rules that need more of a base image
// than its existence cannot fire.
//
// Usage: dockerfilecheck PATH/TO/Dockerfile
// Prints one JSON object: {"args": {name: default}, "stages": [{"name", "base",
// "instructions": [...]}], "warnings": [{"rule", "detail", "line"}], "error": "..."};
// exits 1 on a parse error or any warning, 2 on a usage error.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	lintresults "github.com/moby/buildkit/frontend/subrequests/lint"
	digest "github.com/opencontainers/go-digest"
)

type lintResults = lintresults.LintResults

type stubImages struct{}

func (stubImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},` +
		`"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`
	return ref, "", []byte(config), nil
}

type stage struct {
	Name         string   `json:"name"`
	Base         string   `json:"base"`
	Instructions []string `json:"instructions"`
}

type warning struct {
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
	Line   int32  `json:"line"`
}

type report struct {
	Args     map[string]string `json:"args"` // global ARGs (before the first FROM) and defaults
	Stages   []stage           `json:"stages"`
	Warnings []warning         `json:"warnings"`
	Error    string            `json:"error,omitempty"`
}

func lint(source []byte) (*lintResults, error) {
	ctx := context.Background()
	context_ := llb.Scratch()
	definition, err := context_.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	sourceMap := llb.NewSourceMap(&context_, "Dockerfile", "Dockerfile", source)
	sourceMap.Definition = definition
	return dockerfile2llb.DockerfileLint(ctx, source, dockerfile2llb.ConvertOpt{
		MetaResolver: stubImages{},
		SourceMap:    sourceMap,
	})
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfilecheck PATH/TO/Dockerfile")
		os.Exit(2)
	}
	source, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := report{Args: map[string]string{}, Stages: []stage{}, Warnings: []warning{}}

	ast, err := parser.Parse(strings.NewReader(string(source)))
	if err == nil {
		var stages []instructions.Stage
		var metaArgs []instructions.ArgCommand
		stages, metaArgs, err = instructions.Parse(ast.AST, nil)
		for _, arg := range metaArgs {
			for _, kv := range arg.Args {
				out.Args[kv.Key] = kv.ValueString()
			}
		}
		for _, s := range stages {
			st := stage{Name: s.Name, Base: s.BaseName, Instructions: []string{}}
			for _, cmd := range s.Commands {
				st.Instructions = append(st.Instructions, fmt.Sprint(cmd))
			}
			out.Stages = append(out.Stages, st)
		}
	}
	if err != nil {
		out.Error = err.Error()
	} else {
		results, lintErr := lint(source)
		if lintErr != nil {
			out.Error = lintErr.Error()
		} else {
			if results.Error != nil {
				out.Error = results.Error.Message
			}
			for _, w := range results.Warnings {
				line := int32(0)
				if w.Location != nil && len(w.Location.Ranges) > 0 {
					line = w.Location.Ranges[0].Start.Line
				}
				out.Warnings = append(out.Warnings, warning{Rule: w.RuleName, Detail: w.Detail, Line: line})
			}
		}
	}
	encoded, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(encoded))
	if out.Error != "" || len(out.Warnings) > 0 {
		os.Exit(1)
	}
}
