"""HTTP layer: routers only; logic lives in the modules beside api/."""
