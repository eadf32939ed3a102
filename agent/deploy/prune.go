package deploy

import "context"

// prune keeps the newest e.Retain stopped containers of app (besides keep)
// for rollback and removes the rest with their images, unless another
// container still uses an image (the engine refuses, and that is fine).
func (e *Engine) prune(ctx context.Context, app, keep string) {
	cs, err := e.containers(ctx, app)
	if err != nil {
		e.log.Warn("cannot list containers to prune", "app", app, "err", err)
		return
	}
	kept := 0
	for _, c := range cs {
		if c.ID == keep || c.Running {
			continue
		}
		if kept < e.Retain {
			kept++
			continue
		}
		if err := e.rt.Remove(ctx, c.ID); err != nil {
			e.log.Warn("cannot remove old container", "app", app, "container", c.Name, "err", err)
			continue
		}
		if err := e.rt.RemoveImage(ctx, c.ImageID); err == nil {
			e.log.Info("removed unused image", "app", app, "image", c.Image)
		}
	}
}
