package gen

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
)

// ResolveDocs sets each route's Doc to the doc comment of its handler
// function, parsed from the handler's source file, when the file can be
// read and the function has a doc comment; otherwise the route keeps the
// Doc given at registration (route.Doc). Closures have no doc comment.
func ResolveDocs(m *Model) {
	files := make(map[string]*ast.File)
	fset := token.NewFileSet()
	for i := range m.Services {
		for j := range m.Services[i].Routes {
			r := &m.Services[i].Routes[j]
			if r.File == "" || r.Func == "" {
				continue
			}
			f, seen := files[r.File]
			if !seen {
				f, _ = parser.ParseFile(fset, r.File, nil, parser.ParseComments)
				files[r.File] = f // nil when unreadable: the route keeps its Doc
			}
			if f == nil {
				continue
			}
			if doc := funcDoc(f, r.Func); doc != "" {
				r.Doc = doc
			}
		}
	}
}

// funcDoc returns the doc comment of the function or method named by a
// runtime function name ("path/pkg.fn", "path/pkg.(*T).m", "path/pkg.T.m"),
// as one line of text.
func funcDoc(f *ast.File, fullName string) string {
	name := fullName[strings.LastIndex(fullName, "/")+1:]
	_, name, _ = strings.Cut(name, ".") // drop the package
	recv, fn, isMethod := strings.Cut(name, ".")
	if !isMethod {
		fn, recv = recv, ""
	}
	recv = strings.Trim(recv, "(*)")
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != fn || fd.Doc == nil {
			continue
		}
		if (fd.Recv == nil) != (recv == "") {
			continue
		}
		if fd.Recv != nil && recvName(fd.Recv.List[0].Type) != recv {
			continue
		}
		// "guestLogin logs a device in." becomes "Logs a device in."
		words := strings.Fields(fd.Doc.Text())
		if len(words) > 1 && words[0] == fn {
			words = words[1:]
			words[0] = strings.ToUpper(words[0][:1]) + words[0][1:]
		}
		return strings.Join(words, " ")
	}
	return ""
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	}
	return ""
}
