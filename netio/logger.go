package netio

import (
	"fmt"
	"log/slog"
)

// gnetLogger routes gnet's messages to a slog.Logger.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) {
	g.l.Debug(fmt.Sprintf(format, args...), "component", "gnet")
}

func (g gnetLogger) Infof(format string, args ...any) {
	g.l.Info(fmt.Sprintf(format, args...), "component", "gnet")
}

func (g gnetLogger) Warnf(format string, args ...any) {
	g.l.Warn(fmt.Sprintf(format, args...), "component", "gnet")
}

func (g gnetLogger) Errorf(format string, args ...any) {
	g.l.Error(fmt.Sprintf(format, args...), "component", "gnet")
}

// Fatalf logs at error level; gnet calls it only on BSD wake-up pipe
// failures, and the process decides for itself whether to exit.
func (g gnetLogger) Fatalf(format string, args ...any) {
	g.l.Error(fmt.Sprintf(format, args...), "component", "gnet", "fatal", true)
}
