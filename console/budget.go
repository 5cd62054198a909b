package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// errBudget ends a search that used its time budget.
var errBudget = errors.New("console: search time budget used up")

// contextWithBudget ends with errBudget (as its cause) after budget, or
// when the request ends.
func contextWithBudget(r *http.Request, budget time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(r.Context(), budget, errBudget)
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
