package mxrelay

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// Every library package shows its essential example in its package
// comment itself (an indented code block), since go doc does not print
// example_test.go; the examples there carry the // Output: checks.
func TestPackageDocsHaveExample(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "internal" || path == "examples") {
			return filepath.SkipDir
		}
		if strings.HasPrefix(path, "examples"+string(filepath.Separator)) {
			return filepath.SkipDir // commands: their doc is their usage
		}
		pkgs, err := parser.ParseDir(token.NewFileSet(), path, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		for _, p := range pkgs {
			var doc string
			for _, f := range p.Files {
				if f.Doc != nil {
					doc += f.Doc.Text()
				}
			}
			if doc == "" {
				t.Errorf("%s: package %s has no package comment", path, p.Name)
				continue
			}
			if !strings.Contains(doc, "\n\t") {
				t.Errorf("%s: the package comment of %s has no example (an indented code block)", path, p.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
