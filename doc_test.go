package mxrelay

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
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
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		pkg, doc := "", ""
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(path, e.Name()), nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				return err
			}
			pkg = f.Name.Name
			if f.Doc != nil {
				doc += f.Doc.Text()
			}
		}
		switch {
		case pkg == "":
		case doc == "":
			t.Errorf("%s: package %s has no package comment", path, pkg)
		case !strings.Contains(doc, "\n\t"):
			t.Errorf("%s: the package comment of %s has no example (an indented code block)", path, pkg)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
