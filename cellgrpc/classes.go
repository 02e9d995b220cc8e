package cellgrpc

import (
	"strings"

	"github.com/cellkit/cellkit/cell"
)

// Classes maps gRPC methods to operation classes, for the client's
// interceptors and the server's Guard alike, so both judge a method the same
// way. A key is a full method name ("/pkg.Service/Method") or a service
// ("/pkg.Service/"). A method in neither takes the naming rule: a method
// whose name starts with Get or List is a cell.Read, any other a cell.Write.
type Classes map[string]cell.Class

// Of returns the class of fullMethod.
func (cs Classes) Of(fullMethod string) cell.Class {
	i := strings.LastIndexByte(fullMethod, '/')
	if len(cs) > 0 {
		if c, ok := cs[fullMethod]; ok {
			return c
		}
		if i >= 0 {
			if c, ok := cs[fullMethod[:i+1]]; ok {
				return c
			}
		}
	}
	name := fullMethod[i+1:]
	if strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List") {
		return cell.Read
	}
	return cell.Write
}
