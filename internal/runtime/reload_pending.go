package runtime

import (
	"errors"

	"github.com/limpet-lb/limpet/internal/config"
)

// Reload is a placeholder so that cmd/limpet compiles in the cli branch;
// the lead's branch has the real method and deletes this file at merge.
func (rt *Runtime) Reload(cfg *config.Config) error {
	return errors.New("reload is not built in this branch")
}
