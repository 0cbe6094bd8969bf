package searchquery

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kubesift/kubesift/internal/query"
)

// specFields maps the index's names for parts of a query to the spec fields users write.
var specFields = map[string]string{
	"labels": "labelSelector",
}

// invalidQueryMessage says what is wrong with a query and where, in terms of the object's spec:
// "spec.fields[1].path: ...". Errors that do not locate a field are returned as they are.
func invalidQueryMessage(err error) string {
	var qe *query.Error
	if !errors.As(err, &qe) || qe.Field == "" {
		return err.Error()
	}
	field := qe.Field
	// The filter's part is named after an anyOf group's position, if any.
	group := ""
	if strings.HasPrefix(field, "anyOf[") {
		if i := strings.Index(field, "]."); i >= 0 {
			group, field = field[:i+2], field[i+2:]
		}
	}
	head, rest := field, ""
	if i := strings.IndexAny(field, ".["); i >= 0 {
		head, rest = field[:i], field[i:]
	}
	if mapped, ok := specFields[head]; ok {
		head = mapped
	}
	head = group + head
	return fmt.Sprintf("spec.%s%s: %s", head, rest, qe.Msg)
}
